#include "sluice/limit/quota.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <mutex>
#include <unordered_map>

namespace sluice::limit {
namespace {

constexpr std::array<std::pair<QuotaPeriod, std::string_view>, 3> kPeriodNames{{
    {QuotaPeriod::day, "day"},
    {QuotaPeriod::week, "week"},
    {QuotaPeriod::month, "month"},
}};

constexpr std::size_t kShards = 64;
constexpr std::size_t kEvictionSample = 8;

std::int64_t unix_ns_of(std::chrono::sys_days day) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(day.time_since_epoch()).count();
}

}  // namespace

std::string_view to_string(QuotaPeriod period) noexcept {
  for (const auto& [value, name] : kPeriodNames) {
    if (value == period) return name;
  }
  return "unknown";
}

bool parse_quota_period(std::string_view text, QuotaPeriod& out) noexcept {
  for (const auto& [value, name] : kPeriodNames) {
    if (name == text) {
      out = value;
      return true;
    }
  }
  return false;
}

std::string Quota::describe() const {
  return std::to_string(limit) + '/' + std::string(to_string(per));
}

std::int64_t quota_cost(double weight) noexcept {
  return std::max<std::int64_t>(1, std::llround(weight * kQuotaScale));
}

QuotaWindow quota_window(QuotaPeriod period, std::int64_t unix_ns) noexcept {
  using namespace std::chrono;
  const sys_days today = floor<days>(sys_time<nanoseconds>(nanoseconds(unix_ns)));
  sys_days start = today;
  sys_days end = today + days(1);
  switch (period) {
    case QuotaPeriod::day:
      break;
    case QuotaPeriod::week:
      start = today - (weekday(today) - Monday);
      end = start + weeks(1);
      break;
    case QuotaPeriod::month: {
      const year_month_day ymd(today);
      const year_month first = ymd.year() / ymd.month();
      start = sys_days(first / 1);
      end = sys_days((first + months(1)) / 1);
      break;
    }
  }
  return {unix_ns_of(start), unix_ns_of(end), unix_ns};
}

struct QuotaTable::Shard {
  struct Counter {
    std::int64_t end = 0;  // the end of the period it counts
    std::int64_t used = 0;
  };
  mutable std::mutex mutex;
  std::unordered_map<BucketId, Counter> counters;
  std::uint64_t forced = 0;

  // Room for one more counter: ended periods go first, then the least used of a sample.
  void make_room(std::size_t limit, std::int64_t now) {
    if (counters.size() < limit) return;
    std::erase_if(counters, [&](const auto& entry) { return entry.second.end <= now; });
    if (counters.size() < limit) return;
    auto victim = counters.begin();
    auto it = victim;
    for (std::size_t n = 0; n < kEvictionSample && it != counters.end(); ++n, ++it) {
      if (it->second.used < victim->second.used) victim = it;
    }
    counters.erase(victim);
    ++forced;
  }
};

QuotaTable::QuotaTable(std::size_t max_keys)
    : per_shard_(std::max<std::size_t>(1, max_keys / kShards)),
      shards_(std::make_unique<Shard[]>(kShards)) {}

QuotaTable::~QuotaTable() = default;

QuotaTable::Shard& QuotaTable::shard_of(BucketId id) const noexcept {
  // The low bits pick the bucket table's shard; the high ones pick this table's.
  return shards_[(id >> 58) % kShards];
}

QuotaCharge QuotaTable::charge(BucketId id, QuotaWindow window, std::int64_t cost,
                               std::int64_t capacity) noexcept {
  Shard& shard = shard_of(id);
  const std::lock_guard lock(shard.mutex);
  auto found = shard.counters.find(id);
  if (found == shard.counters.end()) {
    if (cost > capacity) return {false, 0};
    shard.make_room(per_shard_, window.at);
    shard.counters.emplace(id, Shard::Counter{window.end, cost});
    return {true, cost};
  }
  Shard::Counter& counter = found->second;
  if (counter.end != window.end) counter = {window.end, 0};
  if (counter.used + cost > capacity) return {false, counter.used};
  counter.used += cost;
  return {true, counter.used};
}

void QuotaTable::refund(BucketId id, QuotaWindow window, std::int64_t cost) noexcept {
  Shard& shard = shard_of(id);
  const std::lock_guard lock(shard.mutex);
  auto found = shard.counters.find(id);
  if (found == shard.counters.end() || found->second.end != window.end) return;
  found->second.used = std::max<std::int64_t>(0, found->second.used - cost);
}

std::int64_t QuotaTable::used(BucketId id, QuotaWindow window) const noexcept {
  const Shard& shard = shard_of(id);
  const std::lock_guard lock(shard.mutex);
  auto found = shard.counters.find(id);
  return found == shard.counters.end() || found->second.end != window.end ? 0 : found->second.used;
}

void QuotaTable::for_each_live(
    std::int64_t unix_ns,
    const std::function<void(BucketId, std::int64_t, std::int64_t)>& visit) const {
  for (std::size_t s = 0; s < kShards; ++s) {
    const std::lock_guard lock(shards_[s].mutex);
    for (const auto& [id, counter] : shards_[s].counters) {
      if (counter.end > unix_ns && counter.used > 0) visit(id, counter.end, counter.used);
    }
  }
}

void QuotaTable::restore(BucketId id, std::int64_t end, std::int64_t used) noexcept {
  Shard& shard = shard_of(id);
  const std::lock_guard lock(shard.mutex);
  auto [it, inserted] = shard.counters.try_emplace(id, Shard::Counter{end, used});
  if (!inserted && it->second.end == end) it->second.used = std::max(it->second.used, used);
  if (!inserted && it->second.end < end) it->second = {end, used};
}

std::size_t QuotaTable::size() const noexcept {
  std::size_t n = 0;
  for (std::size_t s = 0; s < kShards; ++s) {
    const std::lock_guard lock(shards_[s].mutex);
    n += shards_[s].counters.size();
  }
  return n;
}

std::uint64_t QuotaTable::forced_evictions() const noexcept {
  std::uint64_t n = 0;
  for (std::size_t s = 0; s < kShards; ++s) {
    const std::lock_guard lock(shards_[s].mutex);
    n += shards_[s].forced;
  }
  return n;
}

}  // namespace sluice::limit
