#pragma once
// Calendar quotas (README, "Quotas"): a counter per key that starts again at 00:00 UTC (day),
// Monday 00:00 UTC (week) or the 1st 00:00 UTC (month). Unlike a bucket it does not drain: a
// client that spends its month's quota on the 2nd waits for the 1st of the next month.
//
// A counter is kept with the end of the period it counts, so a counter from an earlier period
// reads as zero and is replaced on its next use, with no timer. Usage is counted in thousandths
// of a unit, so a fractional `weight` is counted exactly (a request always counts at least one).
// A refund is exact, unlike a bucket's: counts commute, so a quota can be charged first and
// given back when the rate limit then refuses the request.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "sluice/core/clock.hpp"
#include "sluice/limit/bucket_table.hpp"

namespace sluice::limit {

enum class QuotaPeriod { day, week, month };

std::string_view to_string(QuotaPeriod period) noexcept;
// "day", "week", "month"; false for anything else.
bool parse_quota_period(std::string_view text, QuotaPeriod& out) noexcept;

inline constexpr std::int64_t kQuotaScale = 1000;  // thousandths of a unit

struct Quota {
  std::int64_t limit = 0;  // units per period, > 0
  QuotaPeriod per = QuotaPeriod::month;

  // "100000/month": how logs name the quota.
  [[nodiscard]] std::string describe() const;
  [[nodiscard]] constexpr std::int64_t capacity() const noexcept { return limit * kQuotaScale; }
};

// What one request of `weight` units takes from a quota, in thousandths (at least one).
std::int64_t quota_cost(double weight) noexcept;

// The period that holds `unix_ns`: [start, end) in ns since the Unix epoch, UTC.
struct QuotaWindow {
  std::int64_t start = 0;
  std::int64_t end = 0;
  std::int64_t at = 0;  // the instant it was found for
  [[nodiscard]] std::int64_t length() const noexcept { return end - start; }
};
QuotaWindow quota_window(QuotaPeriod period, std::int64_t unix_ns) noexcept;

// Whole units left of a quota with `used` thousandths spent.
constexpr std::int64_t quota_remaining(const Quota& quota, std::int64_t used) noexcept {
  return used >= quota.capacity() ? 0 : (quota.capacity() - used) / kQuotaScale;
}

struct QuotaCharge {
  bool admitted = false;
  std::int64_t used = 0;  // thousandths, after the charge (admitted) or as found (refused)
};

// Every quota counter of the process: a concurrent map from counter identity to (period end,
// usage), in shards behind a mutex each, each a flat open-addressing array. Bounded by `max_keys`
// like the bucket table: a full shard first drops counters of ended periods, then, if it must, the
// least used of a sample (a client loses a little of its count rather than the process its memory).
class QuotaTable {
 public:
  explicit QuotaTable(std::size_t max_keys);
  ~QuotaTable();
  QuotaTable(const QuotaTable&) = delete;
  QuotaTable& operator=(const QuotaTable&) = delete;

  // Adds `cost` to the counter of `window` if it stays within `capacity`.
  QuotaCharge charge(BucketId id, QuotaWindow window, std::int64_t cost,
                     std::int64_t capacity) noexcept;
  // Takes `cost` back from the counter of `window` (nothing once that period has ended).
  void refund(BucketId id, QuotaWindow window, std::int64_t cost) noexcept;
  // The usage of `window` so far (0 for a counter of another period, or none).
  [[nodiscard]] std::int64_t used(BucketId id, QuotaWindow window) const noexcept;

  // Every counter whose period ends after `unix_ns` (for the state file).
  void for_each_live(
      std::int64_t unix_ns,
      const std::function<void(BucketId, std::int64_t end, std::int64_t used)>& visit) const;
  // Puts back a counter (the state file); an existing one keeps the larger usage.
  void restore(BucketId id, std::int64_t end, std::int64_t used) noexcept;

  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] std::uint64_t forced_evictions() const noexcept;

 private:
  struct Shard;
  Shard& shard_of(BucketId id) const noexcept;

  std::unique_ptr<Shard[]> shards_;
};

}  // namespace sluice::limit
