// Calendar quotas on routes with shared limits: a shared limit's quota is one counter in Redis
// for every instance, a local limit's is counted in this process. Charged before the rate limits
// and given back when they refuse, so a request is counted by all or none.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <utility>

#include "redis/prepared.hpp"
#include "sluice/core/digest.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/redis/shared_limiter.hpp"

namespace sluice::redis {
namespace {

bool admits(limit::Outcome outcome) noexcept {
  return outcome == limit::Outcome::allowed || outcome == limit::Outcome::delayed ||
         outcome == limit::Outcome::dry_run_delayed;
}

}  // namespace

Task<limit::Decided> SharedLimiter::decide(const limit::RoutePolicy& route,
                                           const limit::RequestFacts& request,
                                           SharedTicket& ticket) {
  if (!route.any_quota()) {
    co_return co_await decide_rates(route, request, ticket);
  }
  limit::Decided by_quota;
  std::vector<SharedTicket::HeldQuota> held;
  bool unavailable = false;
  if (!co_await charge_quotas(route, request, by_quota, held, unavailable)) {
    ticket = SharedTicket{};
    ticket.unavailable = unavailable;
    ticket.path = unavailable ? SharedTicket::Path::fallback : SharedTicket::Path::redis;
    co_return by_quota;
  }
  limit::Decided d = co_await decide_rates(route, request, ticket);
  d.quotas = std::move(by_quota.quotas);
  if (admits(d.outcome)) {
    ticket.quotas = std::move(held);
  } else {
    local_.refund_quotas(d);
    for (const SharedTicket::HeldQuota& q : held) d.quota(q.limit).used -= q.cost;
    give_back_quotas(std::move(held));
  }
  co_return d;
}

Task<bool> SharedLimiter::charge_quotas(const limit::RoutePolicy& route,
                                        const limit::RequestFacts& request, limit::Decision& d,
                                        std::vector<SharedTicket::HeldQuota>& held,
                                        bool& unavailable) {
  const std::int64_t unix_ns = clock_.unix_ns();
  const std::size_t n = route.limits.size();
  std::array<std::string, limit::kMaxLimitsPerRoute> keys;
  for (std::size_t k = 0; k < n; ++k) keys[k] = render_key(route.limits[k].key, request);
  if (!local_.charge_quotas(route, std::span<const std::string>(keys.data(), n), unix_ns, d,
                            true)) {
    d.key = keys[d.deciding];
    co_return false;
  }
  const auto refuse = [&](std::size_t k, Nanos retry_after) {
    local_.refund_quotas(d);
    give_back_quotas(std::exchange(held, {}));
    d.deciding = k;
    d.key = keys[k];
    d.by_quota = true;
    limit::set_rejected(d, route, retry_after);
  };
  for (std::size_t k = 0; k < n; ++k) {
    const limit::LimitPolicy& limit = route.limits[k];
    if (!limit.quota || !limit.shared) continue;
    const limit::QuotaWindow window = limit::quota_window(limit.quota->per, unix_ns);
    d.quota(k).window = window;
    const std::int64_t cost = limit::quota_cost(limit.weight);
    std::string key = quota_key(limit, keys[k], window);
    // As for the rate limits, on_error decides while Redis cannot: `local` counts here.
    const auto without_redis = [&]() -> bool {  // false: refused
      if (config_.on_error == config::OnRedisError::allow) return true;
      if (config_.on_error == config::OnRedisError::reject) {
        unavailable = !route.dry_run;
        refuse(k, kNanosPerSecond);
        return false;
      }
      limit::QuotaState& q = d.quota(k);
      q.id = local_.quota_id_of(limit, keys[k]);
      const auto c = local_.quotas().charge(q.id, window, cost, limit.quota->capacity());
      q.used = c.used;
      if (!c.admitted) {
        refuse(k, window.end - unix_ns);
        return false;
      }
      q.cost = cost;
      return true;
    };
    const bool reachable = cluster_ ? cluster_->usable(key_slot(key)) : usable_;
    if (!reachable) {
      if (!without_redis()) co_return false;
      continue;
    }
    // Kept a minute past the period's end: an instance whose clock is behind still counts in it.
    std::vector<std::string> args{std::to_string(cost), std::to_string(limit.quota->capacity()),
                                  std::to_string(window.end / kNanosPerSecond + 60)};
    const Result r = co_await call_script(quota_charge_script(), std::vector<std::string>(1, key),
                                          std::move(args));
    const bool answered = r.ok() && r.reply.type == Reply::Type::array &&
                          r.reply.elements.size() == 2 &&
                          r.reply.elements[0].type == Reply::Type::integer &&
                          r.reply.elements[1].type == Reply::Type::integer;
    if (!answered) {
      if (!without_redis()) co_return false;
      continue;
    }
    d.quota(k).used = r.reply.elements[1].integer;
    if (r.reply.elements[0].integer == 0) {
      refuse(k, window.end - unix_ns);
      co_return false;
    }
    held.push_back({std::move(key), cost, k});
  }
  co_return true;
}

Task<Result> SharedLimiter::call_script(const Script& script, std::vector<std::string> keys,
                                        std::vector<std::string> args) {
  const auto alive = alive_;
  Result r;
  if (cluster_) {
    r = co_await cluster_->script(key_slot(keys.front()), script, keys, std::move(args));
    co_return r;
  }
  r = co_await connection_.call(script_command(script, false, keys, args));
  if (*alive && r.ok() && is_noscript(r.reply)) {
    r = co_await connection_.call(script_command(script, true, keys, args));
  }
  if (!*alive) co_return r;
  if (count_command(health_, r)) open_circuit(r.ok() ? "error reply: " + r.reply.text : r.problem);
  co_return r;
}

Task<std::vector<std::optional<std::int64_t>>> SharedLimiter::peek(std::vector<Peek> reads) {
  const auto alive = alive_;
  const std::int64_t unix_ns = clock_.unix_ns();
  std::vector<std::optional<std::int64_t>> found(reads.size());
  for (std::size_t i = 0; i < reads.size(); ++i) {
    const limit::LimitPolicy& limit = reads[i].limit;
    std::string key = reads[i].quota ? quota_key(limit, reads[i].key,
                                                 limit::quota_window(limit.quota->per, unix_ns))
                                     : bucket_key(limit, reads[i].key);
    const bool reachable = cluster_ ? cluster_->usable(key_slot(key)) : usable_;
    if (!reachable) continue;
    std::vector<std::string> args{reads[i].quota ? "quota" : "bucket"};
    const Result r =
        co_await call_script(peek_script(), std::vector<std::string>(1, key), std::move(args));
    if (!*alive) co_return found;
    if (r.ok() && r.reply.type == Reply::Type::integer) found[i] = r.reply.integer;
  }
  co_return found;
}

void SharedLimiter::give_back_quotas(std::vector<SharedTicket::HeldQuota> held) {
  if (held.empty()) return;
  asio::co_spawn(
      executor_,
      [this, alive = alive_, held = std::move(held)]() -> Task<void> {
        for (const SharedTicket::HeldQuota& q : held) {
          if (!*alive) co_return;
          std::vector<std::string> args{std::to_string(q.cost)};
          co_await call_script(quota_refund_script(), std::vector<std::string>(1, q.key),
                               std::move(args));
        }
      },
      asio::detached);
}

}  // namespace sluice::redis
