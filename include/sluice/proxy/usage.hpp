#pragma once
// A `respond: { usage: true }` route's answer (README, "Quotas"): the caller's own remaining
// budget on every limit and quota that a request with the same key meets on the other routes,
// read without charging anything. Local buckets and quotas are read here; a shared limit's are
// read from Redis by the caller (SharedLimiter::peek) and filled in before the answer is
// rendered.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/config/config.hpp"
#include "sluice/limit/limiter.hpp"
#include "sluice/limit/overrides.hpp"
#include "sluice/redis/shared_limiter.hpp"

namespace sluice::proxy {

class Usage {
 public:
  // Every limit keyed like `usage_route`'s key, overrides applied for this caller.
  Usage(const config::Config& config, const config::Route& usage_route,
        const limit::RequestFacts& request, const limit::Limiter& limiter, Instant now);

  // The shared buckets and quotas to read, in order; `fill` takes what was read.
  [[nodiscard]] const std::vector<redis::SharedLimiter::Peek>& shared_reads() const noexcept {
    return reads_;
  }
  void fill(const std::vector<std::optional<std::int64_t>>& read);

  // `{"limits":[{"route","policy","limit","period_s","remaining","reset_s"},…]}`; a value
  // nobody could read (a shared limit while Redis is out) is null.
  [[nodiscard]] std::string to_json() const;

 private:
  struct Item {
    std::string_view route;
    std::string policy;
    std::string limit;
    std::int64_t period_s = 0;
    std::optional<std::int64_t> remaining;
    std::optional<std::int64_t> reset_s;
    const limit::LimitPolicy* source = nullptr;
    bool quota = false;
  };
  Instant now_;
  std::vector<std::unique_ptr<limit::ResolvedPolicy>> resolved_;  // what the items point into
  std::vector<Item> items_;
  std::vector<redis::SharedLimiter::Peek> reads_;
  std::vector<std::size_t> read_items_;  // the item each read fills
};

}  // namespace sluice::proxy
