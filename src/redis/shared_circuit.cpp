// The circuit of a worker's shared limiter: the first connection, opening on a failure, and the
// probe that closes it again (README, "Shared limits across instances", "When Redis fails").
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sluice/redis/shared_limiter.hpp"

namespace sluice::redis {
namespace {

constexpr Nanos kFirstBackoff = 100 * kNanosPerMilli;
constexpr Nanos kLastBackoff = 5 * kNanosPerSecond;

}  // namespace

void SharedLimiter::open_circuit(const std::string& reason) {
  if (!usable_) return;
  usable_ = false;
  connection_.fail(reason);
  health_.worker_down(reason, was_up_);
  was_up_ = false;
  asio::co_spawn(executor_, probe(), asio::detached);
}

Task<std::string> SharedLimiter::connect() {
  if (!sentinels_) {
    co_return co_await connection_.open();
  }
  const auto alive = alive_;
  const Sentinels::Located located = co_await sentinels_->locate();
  if (!*alive) co_return "stopped";
  if (!located.problem.empty()) co_return located.problem;
  config_.host = located.master.host;
  config_.port = located.master.port;
  std::string why = co_await connection_.open();
  if (!*alive || !why.empty()) co_return why;
  // A sentinel that has not yet seen a failover names the old master, which may be back as a
  // replica: writing there would be lost.
  std::vector<std::string> ask_role{"ROLE"};
  const Result role = co_await connection_.call(std::move(ask_role));
  if (!*alive) co_return "stopped";
  const auto& e = role.reply.elements;
  if (!role.ok() || role.reply.type != Reply::Type::array || e.empty() || e[0].text != "master") {
    why = config_.address() + " is not a master" +
          (role.ok() && !e.empty() ? " (role " + e[0].text + ")" : ": " + role.problem);
    connection_.fail(why);
    co_return why;
  }
  health_.master_found(located.master.to_string());
  co_return why;
}

void SharedLimiter::follow(const Sentinels::Address& master) {
  if (master.host == config_.host && master.port == config_.port) return;
  health_.master_found(master.to_string());
  if (usable_) {
    open_circuit("the master moved to " + master.to_string());
  }
  // The probe goes at once, not after its back-off: decisions reach the new master as soon as
  // it is promoted.
  probe_now_ = true;
  if (probe_wait_ != nullptr) probe_wait_->cancel();
}

Task<void> SharedLimiter::connect_first() {
  const auto alive = alive_;
  const std::string why = co_await connect();
  if (!*alive) co_return;
  if (!why.empty()) {
    open_circuit(why);
    co_return;
  }
  was_up_ = true;
  closed_at_ = clock_.now();
  health_.worker_up();
}

// Until Redis answers PING on a fresh connection, backing off from 100 ms to 5 s.
Task<void> SharedLimiter::probe() {
  const auto alive = alive_;
  // A circuit that opens again soon after it closed continues its back-off: a Redis that
  // answers PING but fails scripts (out of memory, a wrong-type key) is not retried ten times
  // a second, with two events each time.
  Nanos backoff = clock_.now() - closed_at_ < kLastBackoff && last_backoff_ > 0
                      ? std::min(last_backoff_ * 2, kLastBackoff)
                      : kFirstBackoff;
  SteadyTimer timer(executor_);
  for (;;) {
    if (!probe_now_) {
      timer.expires_after(std::chrono::nanoseconds(backoff));
      probe_wait_ = &timer;
      co_await timer.async_wait(use_tuple);  // cancelled: the master moved, probe now
      if (!*alive) co_return;
      probe_wait_ = nullptr;
    }
    probe_now_ = false;
    std::string why = co_await connect();
    if (!*alive) co_return;
    // Each probe is a call sent, and counted: an outage shows in redis_commands_total, not
    // only in redis_up.
    if (!why.empty()) health_.commands_error.fetch_add(1, std::memory_order_relaxed);
    if (why.empty()) {
      std::vector<std::string> ping;
      ping.emplace_back("PING");
      const Result r = co_await connection_.call(std::move(ping));
      if (!*alive) co_return;
      const bool pong = r.ok() && r.reply.is_status("PONG");
      (r.status == Result::Status::timeout ? health_.commands_timeout
       : pong                              ? health_.commands_ok
                                           : health_.commands_error)
          .fetch_add(1, std::memory_order_relaxed);
      if (pong) {
        usable_ = true;
        was_up_ = true;
        closed_at_ = clock_.now();
        last_backoff_ = backoff;
        health_.worker_up();
        co_return;
      }
      connection_.fail(r.ok() ? "unexpected answer to PING: " + r.reply.text : r.problem);
    }
    backoff = std::min(backoff * 2, kLastBackoff);
  }
}

}  // namespace sluice::redis
