#pragma once
// Which bucket a request draws on (DESIGN §3): the key value rendered from the request.

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sluice/core/ip.hpp"
#include "sluice/limit/policy.hpp"

namespace sluice::limit {

// The parts of a request a key may read, whatever the HTTP library.
class RequestFacts {
 public:
  virtual ~RequestFacts() = default;
  [[nodiscard]] virtual std::optional<std::string_view> header(std::string_view name) const = 0;
  [[nodiscard]] virtual std::optional<std::string_view> query(std::string_view param) const = 0;
  // The client address after the trusted_proxies / X-Forwarded-For walk.
  [[nodiscard]] virtual std::string_view client_ip() const = 0;
};

// Key values longer than this are replaced by a hash in their rendering.
inline constexpr std::size_t kMaxKeyValueBytes = 256;

// Renders `ip:<addr>`, `global`, `header:<Name>=<value>`, `query:<p>=<value>`, joined by `|`.
// A missing header or parameter falls back to the client address.
std::string render_key(const KeySpec& spec, const RequestFacts& request);

// The client behind a chain of proxies: the peer, unless it is trusted; then X-Forwarded-For
// walked from the right, skipping trusted addresses, up to the first untrusted one. A malformed
// entry stops the walk at the last good address.
IpAddress client_address(const IpAddress& peer, std::string_view x_forwarded_for,
                         std::span<const Cidr> trusted_proxies);

// The first value of `param` in a query string ("a=1&b=2"), not percent-decoded.
std::optional<std::string_view> query_param(std::string_view query, std::string_view param);

}  // namespace sluice::limit
