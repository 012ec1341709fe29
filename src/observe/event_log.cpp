#include "sluice/observe/event_log.hpp"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/details/thread_pool.h>
#include <spdlog/sinks/base_sink.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>

namespace sluice::observe {
namespace {

constexpr std::size_t kQueueLines = 8192;
constexpr auto kSummaryInterval = std::chrono::milliseconds(500);

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// Lines are rendered by EventLog; the sink writes them whole and flushes, on spdlog's thread.
struct EventLog::Sink final : spdlog::sinks::base_sink<std::mutex> {
  std::string path;  // "-" = stderr
  std::FILE* file = nullptr;
  // Flushes done on spdlog's thread: sync() waits for one it asked for.
  std::mutex flushed_mutex;
  std::condition_variable flushed_wake;
  std::uint64_t flushes = 0;

  ~Sink() override {
    if (file != nullptr && file != stderr) std::fclose(file);
  }

  bool open(std::string& error) {
    if (path == "-") {
      file = stderr;
      return true;
    }
    file = std::fopen(path.c_str(), "a");
    if (file == nullptr) error = path + ": cannot open log file: " + std::strerror(errno);
    return file != nullptr;
  }

  bool reopen() {
    std::lock_guard guard(mutex_);
    if (path == "-") return true;
    std::FILE* fresh = std::fopen(path.c_str(), "a");
    if (fresh == nullptr) return false;  // keep writing to the old file rather than nowhere
    std::fclose(file);
    file = fresh;
    return true;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::fwrite(msg.payload.data(), 1, msg.payload.size(), file);
    std::fputc('\n', file);
    std::fflush(file);
  }
  void flush_() override {
    std::fflush(file);
    {
      std::lock_guard guard(flushed_mutex);
      ++flushes;
    }
    flushed_wake.notify_all();
  }
};

std::unique_ptr<EventLog> EventLog::open(const config::LogConfig& config, std::string& error) {
  std::unique_ptr<EventLog> log(new EventLog());
  log->sink_ = std::make_shared<Sink>();
  log->sink_->path = config.file;
  if (!log->sink_->open(error)) return nullptr;
  auto pool = std::make_shared<spdlog::details::thread_pool>(kQueueLines, 1);
  log->logger_ = std::make_shared<spdlog::async_logger>(
      "sluice", log->sink_, pool, spdlog::async_overflow_policy::overrun_oldest);
  log->logger_->set_level(spdlog::level::trace);  // EventLog filters before rendering
  log->thread_pool_ = pool;
  log->apply(config);
  log->summariser_ = std::thread([raw = log.get()] { raw->summarise_floods(); });
  return log;
}

EventLog::~EventLog() {
  if (summariser_.joinable()) {
    {
      std::lock_guard guard(summary_mutex_);
      stopping_ = true;
    }
    summary_wake_.notify_all();
    summariser_.join();
  }
  if (logger_) logger_->flush();
  // Join spdlog's thread first (it drains the queue, whose messages hold references to the
  // logger), so the logger is freed here, after the join, and not on spdlog's thread.
  thread_pool_.reset();
  logger_.reset();
}

void EventLog::apply(const config::LogConfig& config) {
  level_.store(static_cast<int>(config.level), std::memory_order_relaxed);
  json_.store(config.format == config::LogFormat::json, std::memory_order_relaxed);
  access_.store(config.access, std::memory_order_relaxed);
  budget_.set_lines_per_second(config.throttled_lines_per_key);
  summary_.set_lines_per_second(config.throttled_lines_per_second);
}

void EventLog::summarise_floods() {
  std::unique_lock lock(summary_mutex_);
  for (bool last = false; !last;) {
    summary_wake_.wait_for(lock, kSummaryInterval, [this] { return stopping_; });
    last = stopping_;
    // On the way out every held-back count is written, whatever its window.
    const std::int64_t now = last ? std::numeric_limits<std::int64_t>::max() / 2 : steady_ms();
    summarise_upstream_errors(now);
    for (const LogBudget::Summary& s : budget_.drain(now)) {
      if (s.last.route.empty() && s.last.key.empty()) {
        message(Level::warn, "throttled_suppressed",
                {{"suppressed", std::to_string(s.suppressed), true},
                 {"reason", "too many throttled clients at once to summarise each"}});
      } else {
        write_throttled(s.last, s.suppressed, now);
      }
    }
    // On the way out the pending summary is written whatever its window, like the counts above.
    if (auto summary = summary_.take(last ? now + ThrottledSummary::kWindowMs : now)) {
      message(summary->any_rejected() ? Level::warn : Level::info, "throttled_summary",
              ThrottledSummary::fields_of(*summary));
    }
  }
}

bool EventLog::enabled(Level level) const noexcept {
  return static_cast<int>(level) >= level_.load(std::memory_order_relaxed);
}

void EventLog::write(Level level, std::string_view event, const std::vector<Field>& fields,
                     std::int64_t unix_ms) {
  const std::string ts = unix_ms != 0 ? utc_timestamp(unix_ms) : utc_timestamp();
  const std::string line = json_.load(std::memory_order_relaxed)
                               ? render_json(ts, level, event, fields)
                               : render_text(ts, level, event, fields);
  logger_->log(spdlog::level::info, "{}", line);
}

void EventLog::throttled(ThrottledEvent e) {
  const Level level = e.decision == "rejected" ? Level::warn : Level::info;
  const std::int64_t now_ms = e.decided_unix_ms != 0 ? e.decided_unix_ms : unix_now_ms();
  const std::string ts = utc_timestamp(now_ms);
  ring_.push(render_json(ts, level, "throttled", fields_of(e)));
  top_.record(e.route, e.key, e.override_label,
              e.decision.starts_with("dry_run") ? TopThrottled::Kind::dry_run
              : e.decision == "rejected"        ? TopThrottled::Kind::rejected
              : e.decision == "denied"          ? TopThrottled::Kind::denied
                                                : TopThrottled::Kind::delayed,
              now_ms);
  if (!enabled(level)) return;
  const std::int64_t steady_now = steady_ms();
  const LogBudget::Verdict verdict = budget_.admit(e, steady_now);
  if (verdict.write) write_throttled(e, verdict.suppressed, steady_now);
}

void EventLog::write_throttled(const ThrottledEvent& e, std::uint64_t suppressed,
                               std::int64_t now_ms) {
  if (!summary_.admit({e, suppressed + 1}, now_ms)) return;
  const Level level = e.decision == "rejected" ? Level::warn : Level::info;
  auto fields = fields_of(e);
  if (suppressed > 0) fields.push_back({"suppressed", std::to_string(suppressed), true});
  write(level, "throttled", fields, e.decided_unix_ms);
}

void EventLog::access(const AccessEvent& e) {
  if (access_enabled() && enabled(Level::info)) write(Level::info, "access", fields_of(e));
}

void EventLog::upstream_error(const UpstreamErrorEvent& e) {
  if (!enabled(Level::warn)) return;
  const std::int64_t now = steady_ms();
  std::uint64_t suppressed = 0;
  {
    std::lock_guard guard(upstream_errors_mutex_);
    UpstreamErrorBudget& b = upstream_errors_[{e.route, e.kind}];
    if (b.window_start_ms != 0 && now - b.window_start_ms < LogBudget::kWindowMs) {
      ++b.suppressed;
      b.last = e;
      return;
    }
    b.window_start_ms = now;
    suppressed = std::exchange(b.suppressed, 0);
  }
  write_upstream_error(e, suppressed);
}

void EventLog::write_upstream_error(const UpstreamErrorEvent& e, std::uint64_t suppressed) {
  auto fields = fields_of(e);
  if (suppressed > 0) fields.push_back({"suppressed", std::to_string(suppressed), true});
  write(Level::warn, "upstream_error", fields);
}

void EventLog::summarise_upstream_errors(std::int64_t now_ms) {
  std::vector<std::pair<UpstreamErrorEvent, std::uint64_t>> ended;
  {
    std::lock_guard guard(upstream_errors_mutex_);
    for (auto& [where, b] : upstream_errors_) {
      if (b.suppressed > 0 && now_ms - b.window_start_ms >= LogBudget::kWindowMs) {
        // The held-back lines' count is written with the last of them, which opens a window.
        b.window_start_ms = now_ms;
        ended.emplace_back(std::move(b.last), std::exchange(b.suppressed, 0) - 1);
      }
    }
  }
  for (const auto& [e, suppressed] : ended) write_upstream_error(e, suppressed);
}

void EventLog::message(Level level, std::string_view event, const std::vector<Field>& fields) {
  if (enabled(level)) write(level, event, fields);
}

void EventLog::refused_connection(std::string_view reason, std::string_view client) {
  if (!enabled(Level::warn)) return;
  const std::int64_t now = steady_ms();
  std::uint64_t suppressed = 0;
  {
    std::lock_guard guard(refusals_mutex_);
    auto it = refusals_.find(reason);
    if (it == refusals_.end()) it = refusals_.emplace(std::string(reason), std::pair{0, 0}).first;
    auto& [window_start, held] = it->second;
    if (window_start != 0 && now - window_start < LogBudget::kWindowMs) {
      ++held;
      return;
    }
    window_start = now;
    suppressed = std::exchange(held, 0);
  }
  std::vector<Field> fields{{"reason", std::string(reason)}, {"client", std::string(client)}};
  if (suppressed > 0) fields.push_back({"suppressed", std::to_string(suppressed), true});
  write(Level::warn, "connection_refused", fields);
}

bool EventLog::reopen() {
  return sink_->reopen();
}

void EventLog::flush() {
  logger_->flush();
}

bool EventLog::sync(std::chrono::milliseconds timeout) {
  std::unique_lock lock(sink_->flushed_mutex);
  const std::uint64_t before = sink_->flushes;
  lock.unlock();
  // The flush goes through the queue behind every line logged so far: once the sink has run
  // it, they are all written.
  logger_->flush();
  lock.lock();
  return sink_->flushed_wake.wait_for(lock, timeout, [&] { return sink_->flushes > before; });
}

}  // namespace sluice::observe
