#include "sluice/proxy/headers.hpp"

#include <boost/beast/http/rfc7230.hpp>
#include <vector>

namespace sluice::proxy {

void strip_hop_by_hop(http::fields& fields) {
  std::vector<std::string> named;
  for (auto range = fields.equal_range(http::field::connection); range.first != range.second;
       ++range.first) {
    for (const auto token : http::token_list(range.first->value())) {
      named.emplace_back(token.data(), token.size());
    }
  }
  for (const std::string& name : named) {
    // Framing fields cannot be dropped by a client's say-so: the relay needs them.
    if (beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding")) {
      continue;
    }
    fields.erase(name);
  }
  for (http::field f :
       {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
        http::field::te, http::field::trailer, http::field::upgrade,
        http::field::proxy_authorization, http::field::proxy_authenticate}) {
    fields.erase(f);
  }
}

void append_via(http::fields& fields, unsigned version) {
  const std::string hop = version == kHttp10 ? "1.0 sluice" : "1.1 sluice";
  const auto existing = fields[http::field::via];
  fields.set(http::field::via, existing.empty() ? hop : std::string(existing) + ", " + hop);
}

void add_forwarding(http::fields& fields, const Forwarded& client) {
  const auto xff = fields["X-Forwarded-For"];
  if (!client.peer.empty()) {  // empty for a connection not over IP (an adopted socketpair)
    fields.set("X-Forwarded-For", xff.empty() ? std::string(client.peer)
                                              : std::string(xff) + ", " + std::string(client.peer));
  }
  fields.set("X-Forwarded-Proto", client.tls ? "https" : "http");
  append_via(fields, client.version);
}

std::string upgrade_protocol(const http::fields& fields) {
  bool named = false;
  for (auto range = fields.equal_range(http::field::connection); range.first != range.second;
       ++range.first) {
    for (const auto token : http::token_list(range.first->value())) {
      named = named || beast::iequals(token, "upgrade");
    }
  }
  const auto upgrade = fields[http::field::upgrade];
  if (!named || upgrade.empty() || fields.count(http::field::upgrade) > 1) return {};
  for (const auto protocol : http::token_list(upgrade)) {
    if (beast::iequals(protocol, "h2c")) return {};
  }
  return std::string(upgrade);
}

std::pair<std::string_view, std::string_view> split_target(std::string_view target) noexcept {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

}  // namespace sluice::proxy
