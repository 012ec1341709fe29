#pragma once
// The one object an exchange asks to decide on its limits and to give a decision back: whether a
// limit lives in this process or in Redis is its business, not the exchange's.

#include <memory>
#include <string_view>

#include "sluice/core/clock.hpp"
#include "sluice/limit/limiter.hpp"
#include "sluice/proxy/beast.hpp"
#include "sluice/redis/shared_limiter.hpp"

namespace sluice::proxy {

class Usage;

// What a request holds of its decision besides the decision itself: where it was taken, and
// what giving it back needs.
struct LimitTicket {
  // Decided by the shared limiter: how (Redis, its cache, a fallback), for the refund. Allocated
  // only then: inline, it took 192 bytes of every held request.
  std::unique_ptr<redis::SharedTicket> shared;
  std::string_view store;      // where, for the log (redis::store_name); empty: this process
  bool past_deadline = false;  // rejected: its turn came after the caller's own deadline

  // Redis was unusable and redis.on_error decided.
  [[nodiscard]] bool fell_back() const noexcept {
    return shared && shared->path == redis::SharedTicket::Path::fallback;
  }
  // redis.on_error: reject, with Redis unusable: the answer is a 503, not a 429.
  [[nodiscard]] bool store_unavailable() const noexcept { return shared && shared->unavailable; }
};

class Limits {
 public:
  // `shared`: null when the process has no redis: block (every limit is then local).
  Limits(limit::Limiter& local, const Clock& clock, redis::SharedLimiter* shared) noexcept
      : local_(local), clock_(clock), shared_(shared) {}

  // The decision on `request` under `policy`. A delay longer than `max_wait` (a gRPC call's
  // deadline) is a rejection instead, and what it was charged is given back at once.
  Task<limit::Decided> decide(const limit::RoutePolicy& policy, const limit::RequestFacts& request,
                              Nanos max_wait, LimitTicket& ticket);
  // Whether deciding on `policy` waits for the shared store. When it does not, decide_now()
  // gives the same decision without a coroutine: awaiting decide() for every request cost ~500
  // instructions more.
  [[nodiscard]] bool waits_for_store(const limit::RoutePolicy& policy) const noexcept {
    return shared_ != nullptr && policy.any_shared();
  }
  limit::Decided decide_now(const limit::RoutePolicy& policy, const limit::RequestFacts& request,
                            Nanos max_wait, LimitTicket& ticket);
  // A delayed request that will not be forwarded after all (its client left): its slots and
  // quota units back.
  void cancel(limit::Decision& decision, LimitTicket& ticket);
  // Fills in the shared buckets and quotas a usage answer reads (the local ones it read itself).
  Task<void> read(Usage& usage);

  [[nodiscard]] const limit::Limiter& local() const noexcept { return local_; }

 private:
  // A delay past `max_wait` becomes a rejection, and its charge is given back.
  void keep_deadline(limit::Decided& decision, Nanos max_wait, LimitTicket& ticket);

  limit::Limiter& local_;
  const Clock& clock_;
  redis::SharedLimiter* shared_;
};

}  // namespace sluice::proxy
