#pragma once
// Which bucket a request draws on (README, "Configuration"): the key value rendered from the
// request.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/ip.hpp"
#include "sluice/core/uri.hpp"
#include "sluice/limit/policy.hpp"

namespace sluice::limit {

// The parts of a request a key may read, whatever the HTTP library.
class RequestFacts {
 public:
  virtual ~RequestFacts() = default;
  // The trimmed value of a header, or why there is none (missing, or sent more than once).
  [[nodiscard]] virtual uri::Lookup header(std::string_view name) const = 0;
  // A query parameter, name and value decoded (uri::find_query_param).
  [[nodiscard]] virtual uri::Lookup query(std::string_view param) const = 0;
  // The client as keys render it: after the trusted_proxies / X-Forwarded-For walk, an IPv6
  // address cut to its ipv6_prefix (client_key_text).
  [[nodiscard]] virtual std::string_view client_ip() const = 0;
  // The subject CN of the client certificate the TLS handshake verified; empty without one.
  [[nodiscard]] virtual std::string_view client_cert() const { return {}; }
};

// Key values longer than this are replaced by a hash in their rendering.
inline constexpr std::size_t kMaxKeyValueBytes = 256;

// How header and query values appear: as sent (bucket identities, log.show_keys), or as a
// digest "sha256:<12 hex digits>" so that logs and admin pages do not hold clients' secrets.
enum class KeyText { raw, digest };

// Renders `ip:<addr>`, `global`, `header:<Name>=<value>`, `query:<p>=<value>`, `cert:<CN>`,
// joined by `|`.
// A missing header or parameter falls back to the client address.
std::string render_key(const KeySpec& spec, const RequestFacts& request,
                       KeyText text = KeyText::raw);

// Why the request's key cannot be decided, naming the header or parameter: it appears more than
// once, or its query string is malformed. Empty when every key part is unambiguous.
std::string key_input_problem(const RoutePolicy& route, const RequestFacts& request);

// The query parameters the route's limits key on.
std::vector<std::string> key_parameters(const RoutePolicy& route);

// The target as logs show it: the values of `parameters` (compared decoded and ignoring case)
// become "***".
std::string masked_target(std::span<const std::string> parameters, std::string_view target);
std::string masked_target(const RoutePolicy& route, std::string_view target);

// The client IP as a key renders it: IPv4 as is, IPv6 cut to its first `ipv6_prefix` bits
// ("2001:db8:1:2::/64"; 128 keeps the whole address): one subscriber holds a whole /64.
std::string client_key_text(const IpAddress& ip, int ipv6_prefix);

// Whether `ip` is one of the trusted_proxies.
bool is_trusted(const IpAddress& ip, std::span<const Cidr> trusted_proxies);

// The client behind a chain of proxies: the peer, unless it is trusted; then X-Forwarded-For
// walked from the right, skipping trusted addresses, up to the first untrusted one. A malformed
// entry stops the walk at the last good address.
IpAddress client_address(const IpAddress& peer, std::string_view x_forwarded_for,
                         std::span<const Cidr> trusted_proxies);

}  // namespace sluice::limit
