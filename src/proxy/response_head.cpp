#include "sluice/proxy/response_head.hpp"

#include <algorithm>
#include <boost/beast/http/rfc7230.hpp>

#include "sluice/proxy/exchange.hpp"
#include "sluice/proxy/headers.hpp"

namespace sluice::proxy {

ResponseHead::ResponseHead(const http::response_header<>& head)
    : status(head.result_int()), reason(view(head.reason())) {
  for (const auto& field : head) add(field.name(), view(field.name_string()), view(field.value()));
}

void ResponseHead::add(http::field name, std::string_view value) {
  add(name, view(http::to_string(name)), value);
}

void ResponseHead::remove(http::field name) {
  fields.erase(std::remove_if(fields.begin(), fields.end(),
                              [name](const HeadField& f) { return f.name == name; }),
               fields.end());
}

std::string_view ResponseHead::first(http::field name) const noexcept {
  for (const HeadField& f : fields) {
    if (f.name == name) return f.value;
  }
  return {};
}

void drop_hop_by_hop(HeadFields& fields) {
  // The names the Connection lines list, as views into those lines (which stay where they are:
  // the fields are views into a parser or a Beast header).
  boost::container::small_vector<std::string_view, 8> named;
  for (const HeadField& f : fields) {
    if (f.name != http::field::connection) continue;
    for (const auto token : http::token_list(f.value)) named.push_back(view(token));
  }
  const auto is_named = [&named](const HeadField& f) {
    if (named.empty() || f.name == http::field::content_length ||
        f.name == http::field::transfer_encoding) {
      return false;
    }
    return std::any_of(named.begin(), named.end(),
                       [&f](std::string_view token) { return beast::iequals(token, f.name_text); });
  };
  fields.erase(std::remove_if(fields.begin(), fields.end(),
                              [&is_named](const HeadField& f) {
                                return is_hop_by_hop(f.name) || is_named(f);
                              }),
               fields.end());
}

void ResponseHead::forward_rules(unsigned version, const Exchange& ex) {
  drop_hop_by_hop(fields);
  // One Via line for all the upstream's, this hop last.
  via_.clear();
  const bool own_ratelimit = !ex.ratelimit.empty();
  const auto replaced = [own_ratelimit](const HeadField& f) {
    return beast::iequals(f.name_text, "X-Request-Id") ||
           (own_ratelimit && (beast::iequals(f.name_text, "RateLimit-Policy") ||
                              beast::iequals(f.name_text, "RateLimit")));
  };
  auto kept = fields.begin();
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    if (it->name == http::field::via) {
      if (!via_.empty()) via_ += ", ";
      via_ += it->value;
      continue;
    }
    if (replaced(*it)) continue;
    *kept++ = *it;
  }
  fields.erase(kept, fields.end());
  if (!via_.empty()) via_ += ", ";
  via_ += via_hop(version);
  add(http::field::via, via_);
  if (own_ratelimit) {
    add(http::field::unknown, "RateLimit-Policy", ex.ratelimit_policy());
    add(http::field::unknown, "RateLimit", ex.ratelimit);
  }
  add(http::field::unknown, "X-Request-Id", ex.request_id);
}

}  // namespace sluice::proxy
