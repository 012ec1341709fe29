#pragma once
// The whole daemon: workers on their threads, the shared bucket table and metrics, reload and
// graceful shutdown. The command line and the signal loop are cli.cpp's; tests start a Server
// in-process.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sluice/app/config_watcher.hpp"
#include "sluice/config/config.hpp"
#include "sluice/core/clock.hpp"
#include "sluice/limit/bucket_table.hpp"
#include "sluice/limit/limiter.hpp"
#include "sluice/limit/snapshot.hpp"
#include "sluice/observe/event_log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/proxy/admin.hpp"
#include "sluice/proxy/services.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::app {

// A failure to start (port taken, log file unwritable), with a message for the operator.
// The files watch_config watches: the config, and the certificate files it names.
std::vector<std::string> watched_files(const config::Config& config);

struct StartError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Server {
 public:
  // Binds every listener; throws StartError.
  Server(std::shared_ptr<const config::Config> config, std::unique_ptr<observe::EventLog> log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();
  // Swaps in a new config for the next requests; bucket state carries over (README, "Reload,
  // shutdown, log rotation, state"). Process settings (listen, admin, workers, max_keys, log.file,
  // redis) keep their running values; returns those the new config would have changed. The TLS
  // contexts are built from the config's files unless given; files that do not load throw
  // StartError, and the running config stays.
  struct KeptSetting {
    std::string field;      // "listen", "redis", ...
    std::string running;    // the value that stays, as text (no password)
    std::string requested;  // the value the new config asked for
    bool operator==(const KeptSetting&) const = default;
  };
  std::vector<KeptSetting> reload(const std::shared_ptr<const config::Config>& config,
                                  std::shared_ptr<const proxy::TlsContexts> tls = nullptr);
  // SIGHUP: loads and validates `path`; a bad file keeps the running config. Logs and counts
  // the result either way; true on success.
  bool reload_from_file(const std::string& path);
  // Stops accepting and lets requests in flight finish within shutdown_grace; then closes the
  // rest. Blocks until every worker thread has ended.
  void shutdown();
  // Writes state_file, if the config has one (shutdown() does, once every request has ended).
  bool save_state();
  // Closes everything now (second signal).
  void abort();
  // Serves a connected stream socket accepted elsewhere, on the first worker; takes `fd`.
  void adopt(int fd);
  void join();

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  // The admin listener's port, 0 without one.
  [[nodiscard]] std::uint16_t admin_port() const noexcept { return admin_ ? admin_->port() : 0; }
  [[nodiscard]] std::shared_ptr<const config::Config> config() const;
  observe::Metrics& metrics() noexcept { return metrics_; }
  observe::EventLog& log() noexcept { return *log_; }
  limit::BucketTable& table() noexcept { return table_; }
  [[nodiscard]] bool draining() const noexcept { return services_.draining.load(); }

 private:
  void refresh_gauges(observe::Metrics& metrics);
  // Creates at 0 the counter series a config can produce.
  void declare_series(const config::Config& config);
  // What the admin /explain reads shared limits with (the first worker's SharedLimiter::peek).
  std::function<Task<proxy::AdminSources::SharedReads>(std::vector<redis::SharedLimiter::Peek>)>
  peek_on_first_worker();
  // upstream_tls.insecure: said at every start and reload, at warn.
  void warn_if_insecure(const config::Config& config);

  SteadyClock clock_;
  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<observe::EventLog> log_;
  // state_file's buckets, read before the limiter is made (it takes their hash key); put into
  // the table and released by the constructor.
  std::optional<limit::Snapshot> saved_state_;
  observe::Metrics metrics_;
  limit::BucketTable table_;
  limit::QuotaTable quotas_;
  limit::Limiter limiter_;
  proxy::Services services_;
  std::unique_ptr<redis::Health> redis_health_;  // with a redis: block
  std::vector<std::unique_ptr<proxy::Worker>> workers_;
  std::vector<TcpAcceptor> acceptors_;
  std::vector<std::thread> threads_;
  observe::StatsHistory stats_history_;
  std::unique_ptr<proxy::AdminServer> admin_;
  std::unique_ptr<ConfigWatcher> watcher_;  // from start() to join()
  std::mutex reload_mutex_;                 // SIGHUP and the watcher may reload at once
  std::uint16_t port_ = 0;
  std::atomic<bool> aborted_{false};
  mutable std::mutex config_mutex_;
};

// Binds a listening socket, exclusively (no SO_REUSEPORT: see the Server constructor); throws
// StartError naming the address.
TcpAcceptor bind_listener(proxy::asio::io_context& io, const config::Endpoint& endpoint,
                          std::uint16_t port);

}  // namespace sluice::app
