#pragma once
// One config generation as the proxy uses it: the immutable Config plus what is derived from it
// once (header values, metric series), shared by std::shared_ptr<const Runtime>. Requests hold
// the Runtime they started with, so a reload never changes a request midway.

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "sluice/config/config.hpp"
#include "sluice/limit/limiter.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/proxy/tls.hpp"

namespace sluice::proxy {

enum class UpstreamError { connect, timeout, reset, protocol, tls };
inline constexpr std::size_t kUpstreamErrorKinds = 5;
std::string_view to_string(UpstreamError e) noexcept;

struct RouteRuntime {
  const config::Route* route = nullptr;  // null: requests no route matched
  std::string name;                      // metric label
  std::string policy_header;             // RateLimit-Policy value; empty when unlimited
  // A monthly quota's window is its month's length: such a route keeps a value per length (28
  // to 31 days), so that no request builds its own.
  std::array<std::string, 4> policy_by_month_length;
  std::array<observe::Counter*, 7> decisions{};  // by limit::Outcome
  observe::Histogram* delay = nullptr;
  observe::Gauge* tunnels = nullptr;
  observe::Counter* redis_fallbacks = nullptr;                  // routes with shared limits
  std::array<observe::Counter*, 5> responses{};                 // 1xx..5xx
  std::array<observe::Counter*, kUpstreamErrorKinds> errors{};  // by UpstreamError

  void count(limit::Outcome outcome) const noexcept {
    decisions[static_cast<std::size_t>(outcome)]->fetch_add(1, std::memory_order_relaxed);
  }
  void count(UpstreamError e) const noexcept {
    errors[static_cast<std::size_t>(e)]->fetch_add(1, std::memory_order_relaxed);
  }
  void count_response(unsigned status) const noexcept;
  // RateLimit-Policy for a request at `unix_ns`.
  [[nodiscard]] const std::string& policy_header_at(std::int64_t unix_ns) const;
};

struct Runtime {
  std::shared_ptr<const config::Config> config;
  std::vector<RouteRuntime> routes;  // parallel to config->routes
  RouteRuntime unmatched;
  std::shared_ptr<const TlsContexts> tls;
  // Every query parameter any route keys on: masked in every logged path, whichever stage
  // refused the request and whichever route it matched.
  std::vector<std::string> key_parameters;

  static std::shared_ptr<const Runtime> build(std::shared_ptr<const config::Config> config,
                                              std::shared_ptr<const TlsContexts> tls,
                                              observe::Metrics& metrics);
  [[nodiscard]] const RouteRuntime& of(const config::Route* route) const noexcept;
};

// `"search";q=5;w=10` per limit, comma separated; a limit with a quota adds
// `"search-quota";q=100000;w=2592000`, w the length of the period holding `unix_ns`.
std::string ratelimit_policy_value(const limit::RoutePolicy& policy, std::int64_t unix_ns);
// `"search";r=0;t=10` per limit, from the decision's views of the buckets; a quota adds
// `"search-quota";r=99999;t=<seconds to its reset>`.
std::string ratelimit_value(const limit::RoutePolicy& policy, const limit::Decided& decision);

}  // namespace sluice::proxy
