#pragma once
// A response head on its way to a client, whatever brought it (an HTTP/1.1 upstream, an HTTP/2
// one, sluice itself) and whatever carries it on: a status and its fields as views. The rules of
// a forwarding proxy are applied to it in one place (forward_rules); each protocol then writes it
// in its own form (wire.hpp's write_head for HTTP/1.x, the HTTP/2 connection's header list).

#include <boost/container/small_vector.hpp>
#include <string>
#include <string_view>

#include "sluice/proxy/beast.hpp"

namespace sluice::proxy {

struct Exchange;

struct HeadField {
  http::field name = http::field::unknown;  // Beast's enum; unknown for names it has no entry for
  std::string_view name_text;
  std::string_view value;
};

using HeadFields = boost::container::small_vector<HeadField, 24>;

// Drops the fields that stay on their hop (is_hop_by_hop) and those the Connection lines name;
// the framing fields stay whatever Connection says: the relay needs them.
void drop_hop_by_hop(HeadFields& fields);

class ResponseHead {
 public:
  ResponseHead() = default;
  // The fields of a Beast header (an answer sluice made), as views into it.
  explicit ResponseHead(const http::response_header<>& head);
  // Its views may point into the head itself (the Via value this hop makes).
  ResponseHead(const ResponseHead&) = delete;
  ResponseHead& operator=(const ResponseHead&) = delete;

  unsigned status = 0;
  std::string_view reason;  // HTTP/1.x only; empty: the status's usual text
  HeadFields fields;

  void add(http::field name, std::string_view name_text, std::string_view value) {
    fields.push_back({name, name_text, value});
  }
  void add(http::field name, std::string_view value);
  // Every field of that name (by Beast's enum: known names only).
  void remove(http::field name);
  [[nodiscard]] std::string_view first(http::field name) const noexcept;

  // What sluice does to every response it passes on (RFC 9110 §7.6): the hop-by-hop fields stay
  // on their hop (those Connection names too, framing aside), Via gains this hop (`version`: the
  // upstream's HTTP version), and RateLimit-Policy, RateLimit and X-Request-Id are sluice's.
  void forward_rules(unsigned version, const Exchange& ex);

 private:
  std::string via_;  // the Via value forward_rules makes, which `fields` views
};

}  // namespace sluice::proxy
