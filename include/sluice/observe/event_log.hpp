#pragma once
// Where events go: an asynchronous spdlog logger (the event loops only enqueue; a full queue
// drops the oldest lines rather than block) writing text or JSON lines to stderr or a file that
// SIGUSR1 reopens. This is the only place that sets up spdlog sinks.

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/config/config.hpp"
#include "sluice/observe/events.hpp"
#include "sluice/observe/throttle_ring.hpp"

namespace spdlog {
class logger;
}

namespace sluice::observe {

class EventLog {
 public:
  // Null with `error` set when the log file cannot be opened.
  static std::unique_ptr<EventLog> open(const config::LogConfig& config, std::string& error);
  ~EventLog();

  void throttled(const ThrottledEvent& e);
  void access(const AccessEvent& e);
  void message(Level level, std::string_view event, const std::vector<Field>& fields = {});

  // Level, format and access logging follow a reloaded config; the file does not (restart).
  void apply(const config::LogConfig& config);
  // Reopens the log file (logrotate); false if it could not be reopened.
  bool reopen();
  void flush();

  [[nodiscard]] bool access_enabled() const noexcept {
    return access_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] const ThrottleRing& ring() const noexcept { return ring_; }

 private:
  struct Sink;
  EventLog() = default;
  void write(Level level, std::string_view event, const std::vector<Field>& fields);
  [[nodiscard]] bool enabled(Level level) const noexcept;

  std::shared_ptr<Sink> sink_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<void> thread_pool_;
  std::atomic<int> level_{static_cast<int>(Level::info)};
  std::atomic<bool> json_{false};
  std::atomic<bool> access_{false};
  ThrottleRing ring_;
};

}  // namespace sluice::observe
