#include "sluice/redis/health.hpp"

namespace sluice::redis {

using observe::Family;

Health::Health(std::size_t workers, observe::EventLog& log, observe::Metrics& metrics)
    : commands_ok(metrics.counter(Family::redis_commands_total, {{"result", "ok"}})),
      commands_error(metrics.counter(Family::redis_commands_total, {{"result", "error"}})),
      commands_timeout(metrics.counter(Family::redis_commands_total, {{"result", "timeout"}})),
      latency(metrics.histogram(Family::redis_latency_seconds, {})),
      batch_size(metrics.histogram(Family::redis_batch_size, {})),
      cache_hits(metrics.counter(Family::redis_cache_hits_total, {})),
      failovers(metrics.counter(Family::redis_failovers_total, {})),
      log_(log),
      up_gauge_(metrics.gauge(Family::redis_up, {})),
      workers_not_up_(workers) {}

void Health::worker_up() {
  std::lock_guard guard(mutex_);
  if (workers_not_up_ > 0) --workers_not_up_;
  if (workers_not_up_ == 0 && reported_ != State::up) {
    reported_ = State::up;
    up_gauge_.store(1);
    log_.message(observe::Level::info, "redis_up", {});
  }
}

void Health::worker_down(const std::string& reason, bool was_up) {
  std::lock_guard guard(mutex_);
  if (was_up) ++workers_not_up_;
  if (reported_ != State::down) {
    reported_ = State::down;
    up_gauge_.store(0);
    log_.message(observe::Level::warn, "redis_down", {{"reason", reason}});
  }
}

void Health::master_found(const std::string& address) {
  std::lock_guard guard(mutex_);
  if (address == master_) return;
  if (!master_.empty()) {
    failovers.fetch_add(1, std::memory_order_relaxed);
    log_.message(observe::Level::warn, "redis_failover", {{"from", master_}, {"to", address}});
  }
  master_ = address;
}

void Health::master_replaced(const std::string& from, const std::string& to) {
  std::lock_guard guard(mutex_);
  if (!replaced_.emplace(from, to).second) return;
  failovers.fetch_add(1, std::memory_order_relaxed);
  log_.message(observe::Level::warn, "redis_failover", {{"from", from}, {"to", to}});
}

bool count_command(Health& health, const Result& r) noexcept {
  const bool failed = !r.ok() || r.reply.is_error();
  (r.status == Result::Status::timeout ? health.commands_timeout
   : failed                            ? health.commands_error
                                       : health.commands_ok)
      .fetch_add(1, std::memory_order_relaxed);
  return failed;
}

}  // namespace sluice::redis
