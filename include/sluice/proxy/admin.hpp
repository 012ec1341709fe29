#pragma once
// The admin listener (README, "Admin endpoints" and "Watching it"): the dashboard at /, /healthz,
// /readyz, /metrics, /stats, /throttled, /throttled/top, /config, /explain. It runs on a thread of
// its own so a slow scrape never delays proxied requests.

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "sluice/config/config.hpp"
#include "sluice/core/clock.hpp"
#include "sluice/limit/limiter.hpp"
#include "sluice/observe/event_log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/observe/stats.hpp"
#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/local_response.hpp"
#include "sluice/redis/shared_limiter.hpp"

namespace sluice::proxy {

struct AdminSources {
  std::function<std::shared_ptr<const config::Config>()> config;
  observe::Metrics& metrics;
  observe::EventLog& log;
  const std::atomic<bool>& draining;
  observe::StatsHistory& history;  // sampled by the admin server's thread
  // The local buckets and their clock, for /explain (read, never charged); null: none.
  const limit::Limiter* limiter = nullptr;
  const Clock* clock = nullptr;
  // Reads shared buckets and quotas from Redis on a worker's thread, for /explain; null without
  // shared limits.
  using SharedReads = std::vector<std::optional<std::int64_t>>;
  std::function<Task<SharedReads>(std::vector<redis::SharedLimiter::Peek>)> peek_shared;
};

// /explain on shared limits takes two passes: the first lists what to read from Redis, the
// second answers with what was read, in the same order.
struct SharedPass {
  std::vector<redis::SharedLimiter::Peek>* wanted = nullptr;  // first pass: filled
  const AdminSources::SharedReads* read = nullptr;            // second pass
};

// Whether the admin listener answers a request with this Host header: IP literals, localhost
// and the config's admin_hosts. Any other name is what a DNS-rebinding page in an operator's
// browser would send to read /config or /throttled through a name it controls.
bool admin_host_allowed(std::string_view host_header, const config::Config& config);

// The answer to one admin request.
LocalResponse admin_response(std::string_view method, std::string_view target,
                             std::string_view host_header, const AdminSources& sources,
                             SharedPass shared = {});

class AdminServer {
 public:
  // `acceptor` is bound and listening on `io`.
  AdminServer(std::unique_ptr<asio::io_context> io, TcpAcceptor acceptor, AdminSources sources);
  ~AdminServer();

  void start();
  void stop();
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

 private:
  Task<void> accept_loop();
  Task<void> serve(TcpSocket socket);
  Task<void> sample_stats();

  std::unique_ptr<asio::io_context> io_;
  TcpAcceptor acceptor_;
  AdminSources sources_;
  std::uint16_t port_;
  std::thread thread_;
};

}  // namespace sluice::proxy
