#pragma once
// Where events go: an asynchronous spdlog logger (the event loops only enqueue; a full queue
// drops the oldest lines rather than block) writing text or JSON lines to stderr or a file that
// SIGUSR1 reopens. This is the only place that sets up spdlog sinks.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sluice/config/config.hpp"
#include "sluice/observe/events.hpp"
#include "sluice/observe/log_budget.hpp"
#include "sluice/observe/throttle_ring.hpp"
#include "sluice/observe/throttled_summary.hpp"
#include "sluice/observe/top_throttled.hpp"

namespace spdlog {
class logger;
}

namespace sluice::observe {

class EventLog {
 public:
  // Null with `error` set when the log file cannot be opened.
  static std::unique_ptr<EventLog> open(const config::LogConfig& config, std::string& error);
  ~EventLog();

  // Recorded in the ring always; written within the log budget (log.throttled_lines_per_key).
  void throttled(ThrottledEvent e);
  void access(const AccessEvent& e);
  // At warn, at most one line per (route, kind) per second: the next line, or the summariser
  // once the outage ends, says how many were held back (`suppressed`).
  void upstream_error(const UpstreamErrorEvent& e);
  void message(Level level, std::string_view event, const std::vector<Field>& fields = {});
  // A new connection turned away (`reason`: max_connections, per_client): at most one line per
  // reason a second, the next one saying how many were held back (metrics count each).
  void refused_connection(std::string_view reason, std::string_view client);

  // Level, format and access logging follow a reloaded config; the file does not (restart).
  void apply(const config::LogConfig& config);
  // Reopens the log file (logrotate); false if it could not be reopened.
  bool reopen();
  void flush();
  // Returns once every line logged before the call is in the file (false after `timeout`): for
  // tests that check a line is absent, and for a clean stop.
  bool sync(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  [[nodiscard]] bool access_enabled() const noexcept {
    return access_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] const ThrottleRing& ring() const noexcept { return ring_; }
  [[nodiscard]] const TopThrottled& top() const noexcept { return top_; }

 private:
  struct Sink;
  EventLog() = default;
  // `unix_ms`: the time the line is stamped with; 0: now.
  void write(Level level, std::string_view event, const std::vector<Field>& fields,
             std::int64_t unix_ms = 0);
  [[nodiscard]] bool enabled(Level level) const noexcept;
  // Within the budget across all keys; beyond it, counted for the next throttled_summary line.
  void write_throttled(const ThrottledEvent& e, std::uint64_t suppressed, std::int64_t now_ms);
  // Writes the final counts of floods that ended, every half second, on its own thread.
  void summarise_floods();

  struct UpstreamErrorBudget {
    std::int64_t window_start_ms = 0;
    std::uint64_t suppressed = 0;
    UpstreamErrorEvent last;
  };
  void write_upstream_error(const UpstreamErrorEvent& e, std::uint64_t suppressed);
  void summarise_upstream_errors(std::int64_t now_ms);

  std::shared_ptr<Sink> sink_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<void> thread_pool_;
  std::atomic<int> level_{static_cast<int>(Level::info)};
  std::atomic<bool> json_{false};
  std::atomic<bool> access_{false};
  ThrottleRing ring_;
  TopThrottled top_;
  LogBudget budget_{1};
  ThrottledSummary summary_{200};
  std::mutex refusals_mutex_;
  std::map<std::string, std::pair<std::int64_t, std::uint64_t>, std::less<>>
      refusals_;  // reason → (window start, held back)
  std::mutex upstream_errors_mutex_;
  // Keyed by route and kind: bounded by the config, whatever the clients do.
  std::map<std::pair<std::string, std::string>, UpstreamErrorBudget> upstream_errors_;
  std::mutex summary_mutex_;
  std::condition_variable summary_wake_;
  bool stopping_ = false;
  std::thread summariser_;
};

}  // namespace sluice::observe
