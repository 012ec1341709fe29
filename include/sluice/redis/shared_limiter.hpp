#pragma once
// A worker's decisions on routes with shared limits (README, "Shared limits across instances"):
// local limits checked here, shared ones by one Redis script call, all-or-nothing across both; an
// over-limit cache that answers floods without Redis; and a circuit that hands decisions to
// redis.on_error, at once, while Redis is unusable. Used from its worker's thread only.

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>
#include "sluice/core/event_loop.hpp"

#include "sluice/config/config.hpp"
#include "sluice/core/clock.hpp"
#include "sluice/limit/limiter.hpp"
#include "sluice/redis/cluster.hpp"
#include "sluice/redis/connection.hpp"
#include "sluice/redis/decide_batcher.hpp"
#include "sluice/redis/health.hpp"
#include "sluice/redis/over_limit_cache.hpp"
#include "sluice/redis/scripts.hpp"
#include "sluice/redis/sentinels.hpp"

namespace sluice::redis {

// How a shared decision was taken, and what giving its slots back needs.
struct SharedTicket {
  enum class Path { redis, cache, local_only, fallback };
  Path path = Path::redis;
  bool unavailable = false;  // on_error: reject: answer 503 with Retry-After: 1
  std::array<bool, limit::kMaxLimitsPerRoute> local{};  // limits decided in this process
  std::vector<std::string> redis_keys;                  // the shared limits', in route order
  std::vector<Slot> slots;  // in a cluster, each key's slot (computed once per request)
  SharedVerdict verdict;    // admitted by Redis: for the refund
  // The shared quota units the request holds, for a refund.
  struct HeldQuota {
    std::string key;
    std::int64_t cost = 0;
    std::size_t limit = 0;  // the route's limit whose quota it is
  };
  std::vector<HeldQuota> quotas;
};

// Where a shared decision was taken, as the `store` field of its throttled event says:
// "redis", "redis-cache" (the over-limit cache), "local" (a local limit refused it first), or,
// while Redis was unusable, "local-fallback" / "on-error-allow" / "on-error-reject".
constexpr std::string_view store_name(SharedTicket::Path path,
                                      config::OnRedisError on_error) noexcept {
  // By Path (redis, cache, local_only), and for a fallback by on_error (local, allow, reject).
  constexpr std::string_view kPaths[] = {"redis", "redis-cache", "local"};
  constexpr std::string_view kFallbacks[] = {"local-fallback", "on-error-allow", "on-error-reject"};
  return path == SharedTicket::Path::fallback ? kFallbacks[static_cast<std::size_t>(on_error)]
                                              : kPaths[static_cast<std::size_t>(path)];
}

class SharedLimiter {
 public:
  // `tls`: the client context for Redis (redis.tls, rediss://); null for clear text.
  SharedLimiter(Executor executor, config::RedisConfig config,
                std::shared_ptr<asio::ssl::context> tls, limit::Limiter& local, Health& health,
                const Clock& clock);
  ~SharedLimiter();

  // Connects for the first time; requests meanwhile wait for it (within the timeout).
  void start();
  // The route's quotas first (shared ones in Redis, local ones here), then its rate limits; what
  // the quotas took is given back when a rate limit refuses.
  Task<limit::Decided> decide(const limit::RoutePolicy& route, const limit::RequestFacts& request,
                              SharedTicket& ticket);
  // A delayed request whose client left: its slots back, where nothing sits behind them, and its
  // quota units.
  void cancel(limit::Decision& decision, SharedTicket& ticket);

  // What a usage route reads, charging nothing: each of `limit`'s shared bucket for `key` (its
  // backlog, ns) or its quota counter this period (thousandths); nullopt when Redis cannot say.
  struct Peek {
    limit::LimitPolicy limit;  // a copy: an override's limit lives only as long as its request
    std::string key;           // rendered
    bool quota = false;
  };
  Task<std::vector<std::optional<std::int64_t>>> peek(std::vector<Peek> reads);

  [[nodiscard]] bool usable() const noexcept { return usable_; }
  // The process's on_error (a reload keeps the redis: block the process started with).
  [[nodiscard]] config::OnRedisError on_error() const noexcept { return config_.on_error; }

 private:
  struct Prepared;
  // The Redis key of `limit`'s bucket for the rendered `key`; of its quota counter in `window`.
  [[nodiscard]] std::string bucket_key(const limit::LimitPolicy& limit,
                                       const std::string& key) const;
  [[nodiscard]] std::string quota_key(const limit::LimitPolicy& limit, const std::string& key,
                                      const limit::QuotaWindow& window) const;
  Task<limit::Decided> decide_rates(const limit::RoutePolicy& route,
                                    const limit::RequestFacts& request, SharedTicket& ticket);
  // Charges every quota of the route; false (with the rejection set in `d`) when one has no room,
  // having given back what the others took.
  Task<bool> charge_quotas(const limit::RoutePolicy& route, const limit::RequestFacts& request,
                           limit::Decision& d, std::vector<SharedTicket::HeldQuota>& held,
                           bool& unavailable);
  void give_back_quotas(std::vector<SharedTicket::HeldQuota> held);
  // A script call (on the keys' master in a cluster; the keys share a slot), NOSCRIPT handled,
  // counted in the health counters; a failure opens the circuit.
  Task<Result> call_script(const Script& script, std::vector<std::string> keys,
                           std::vector<std::string> args);
  void prepare(const limit::RoutePolicy& route, const limit::RequestFacts& request, Nanos now,
               Prepared& p, SharedTicket& ticket);
  // The shared buckets' verdict, or why Redis gave none.
  struct Answer {
    std::optional<SharedVerdict> verdict;
    std::string problem;
  };
  Task<Answer> run_decide(const Prepared& p, const SharedTicket& ticket, Nanos not_before);
  // In a cluster, for buckets in several slots: slot by slot, each booked no earlier than the
  // request's release, what was taken given back when a later slot refuses.
  Task<Answer> run_decide_across_slots(const Prepared& p, const SharedTicket& ticket,
                                       Nanos not_before);
  // Gives back what `verdict` charged to `keys` (where nothing was charged behind it); `slots`:
  // theirs, in a cluster.
  Task<void> give_back(std::vector<std::string> keys, std::vector<Slot> slots,
                       SharedVerdict verdict);
  // In a cluster, whether the masters of every shared bucket are reachable (else on_error
  // decides the request); true without a cluster.
  [[nodiscard]] bool cluster_usable(const SharedTicket& ticket) const;
  [[nodiscard]] bool charge_local(const Prepared& p, const SharedTicket& ticket, Nanos release,
                                  Nanos now, limit::Decision& d);
  limit::Decided fall_back(const limit::RoutePolicy& route, const limit::RequestFacts& request,
                           Nanos now, SharedTicket& ticket);
  // Calls in flight per Redis key, and the requests waiting for their answers.
  struct Flight {
    int calls = 0;
    std::vector<std::weak_ptr<SteadyTimer>> waiters;
  };
  // The key of a bucket that was full when last seen and has a call in flight, if any.
  [[nodiscard]] const std::string* in_flight(const Prepared& p, const SharedTicket& ticket) const;
  Task<void> wait_for_flight(const std::string& key);
  // Counts the call in flight for the buckets the cache knows; returns which ones (a bit per key).
  std::uint32_t take_off(const SharedTicket& ticket);
  void land(const SharedTicket& ticket, std::uint32_t tracked);
  void refund_shared(const SharedTicket& ticket);
  Task<void> refund(std::vector<std::string> keys, std::vector<std::string> args);
  void open_circuit(const std::string& reason);
  // Connects to Redis: with Sentinel, to the master the sentinels name, checked to be one.
  // Empty on success, else why not.
  Task<std::string> connect();
  // Sentinel announced a new master: the connection moves to it at once.
  void follow(const Sentinels::Address& master);
  Task<void> connect_first();
  Task<void> probe();

  Executor executor_;
  config::RedisConfig config_;  // with Sentinel, host and port are the master last found
  std::shared_ptr<asio::ssl::context> tls_;
  limit::Limiter& local_;
  Health& health_;
  const Clock& clock_;
  Connection connection_;
  DecideBatcher batcher_;
  std::unique_ptr<Sentinels> sentinels_;  // with redis.sentinel
  std::unique_ptr<Cluster> cluster_;      // with redis.cluster; then the circuit is per master
  SteadyTimer* probe_wait_ = nullptr;     // while the probe backs off
  bool probe_now_ = false;                // the master moved: no back-off
  bool usable_ = true;  // the circuit is closed (or the first connection is being made)
  bool was_up_ = false;
  Nanos closed_at_ = 0;     // when the circuit last closed
  Nanos last_backoff_ = 0;  // the probe interval that closed it
  OverLimitCache known_;
  std::unordered_map<std::string, Flight> flights_;
  std::shared_ptr<bool> alive_;  // spawned coroutines check it before touching this object
};

}  // namespace sluice::redis
