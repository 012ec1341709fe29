#include "sluice/proxy/headers.hpp"

#include <algorithm>
#include <boost/beast/http/rfc7230.hpp>
#include <vector>

#include "sluice/core/ascii.hpp"

namespace sluice::proxy {

bool is_hop_by_hop(http::field name) noexcept {
  switch (name) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::upgrade:
    case http::field::proxy_authorization:
    case http::field::proxy_authenticate:
      return true;
    default:
      return false;
  }
}

std::string combined_field(const ClientHead& fields, std::string_view name) {
  if (fields.count(name) == 1) return std::string(view(fields[name]));
  std::string out;
  for (const auto field : fields) {
    if (!beast::iequals(field.name_string(), name)) continue;
    if (!out.empty()) out += ", ";
    out += field.value();
  }
  return out;
}

std::string_view via_hop(unsigned version) noexcept {
  return version == kHttp10 ? "1.0 sluice" : version == kHttp2 ? "2 sluice" : "1.1 sluice";
}

namespace {

// One item of an Upgrade list without the spaces and quotes around it: `"WebSocket/13"`.
std::string_view unquoted(std::string_view item) {
  constexpr std::string_view kAround = " \t\"";
  const auto first = item.find_first_not_of(kAround);
  if (first == std::string_view::npos) return {};
  return item.substr(first, item.find_last_not_of(kAround) - first + 1);
}

// The protocol an item names, lower-cased and without its version: "websocket".
std::string protocol_name(std::string_view item) {
  return ascii_lower(item.substr(0, item.find('/')));
}

}  // namespace

std::string upgrade_protocol(const ClientHead& fields, std::span<const std::string> allowed) {
  bool named = false;
  for (const auto field : fields) {
    if (field.name() != http::field::connection) continue;
    for (const auto token : http::token_list(field.value())) {
      named = named || beast::iequals(token, "upgrade");
    }
  }
  if (!named) return {};
  std::string forwarded;
  for (const auto field : fields) {
    if (field.name() != http::field::upgrade) continue;
    std::string_view list = field.value();
    while (!list.empty()) {
      const auto comma = std::min(list.find(','), list.size());
      const std::string_view item = unquoted(list.substr(0, comma));
      list.remove_prefix(std::min(comma + 1, list.size()));
      if (item.empty()) continue;
      const std::string name = protocol_name(item);
      // h2c (also spelled "HTTP/2.0") would turn the connection into one sluice does not
      // read: a known way to smuggle requests past a proxy's rules.
      if (name == "h2c" || name == "h2" || name == "http") return {};
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) continue;
      if (!forwarded.empty()) forwarded += ", ";
      forwarded += item;
    }
  }
  return forwarded;
}

std::pair<std::string_view, std::string_view> split_target(std::string_view target) noexcept {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

}  // namespace sluice::proxy
