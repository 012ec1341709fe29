#include "sluice/limit/quota.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <mutex>
#include <utility>
#include <vector>

namespace sluice::limit {
namespace {

constexpr std::array<std::pair<QuotaPeriod, std::string_view>, 3> kPeriodNames{{
    {QuotaPeriod::day, "day"},
    {QuotaPeriod::week, "week"},
    {QuotaPeriod::month, "month"},
}};

constexpr std::size_t kShards = 64;

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

// One shard: an open-addressing array (linear probing, backward-shift deletion) of 24-byte
// slots, id 0 marking a free one. It starts small and doubles up to twice its share of
// max_keys, so a sluice without quotas spends nothing on them. A node-based map cost two cache
// misses per lookup: 795 ns per decision against 283 without a quota (docs/BENCHMARKS.md).
struct QuotaTable::Shard {
  struct Slot {
    BucketId id = 0;
    std::int64_t end = 0;  // the end of the period it counts
    std::int64_t used = 0;
  };
  static constexpr std::size_t kInitialSlots = 16;
  static constexpr std::size_t kEvictionWindow = 16;

  std::size_t limit = 1;     // counters it may hold
  std::size_t capacity = 0;  // slots it may grow to
  mutable std::mutex mutex;
  std::vector<Slot> slots;
  std::size_t size = 0;
  std::uint64_t forced = 0;

  [[nodiscard]] std::size_t mask() const noexcept { return slots.size() - 1; }

  // The slot holding `id`, or nullptr.
  Slot* find(BucketId id) noexcept {
    if (slots.empty()) return nullptr;
    for (std::size_t i = id & mask();; i = (i + 1) & mask()) {
      if (slots[i].id == id) return &slots[i];
      if (slots[i].id == 0) return nullptr;
    }
  }

  void place(const Slot& slot) noexcept {
    std::size_t i = slot.id & mask();
    while (slots[i].id != 0) i = (i + 1) & mask();
    slots[i] = slot;
  }

  void grow() {
    const std::size_t bigger = std::max(kInitialSlots, 2 * slots.size());
    std::vector<Slot> old = std::exchange(slots, std::vector<Slot>(bigger));
    for (const Slot& slot : old) {
      if (slot.id != 0) place(slot);
    }
  }

  // Frees slot `i`, moving back the entries of its probe chain that would lose their way.
  void erase(std::size_t i) noexcept {
    for (std::size_t next = (i + 1) & mask(); slots[next].id != 0; next = (next + 1) & mask()) {
      const std::size_t home = slots[next].id & mask();
      // Moves back unless its home lies cyclically in (i, next].
      if (((next - home) & mask()) >= ((next - i) & mask())) {
        slots[i] = slots[next];
        i = next;
      }
    }
    slots[i] = Slot{};
    --size;
  }

  // Room for one more counter when the shard holds `limit`: a counter whose period ended by
  // `window.at`, near `id`'s home, goes first, else the least used there (counted as forced).
  void make_room(BucketId id, const QuotaWindow& window) {
    const std::int64_t now = window.at;
    if (size < limit) {
      if (2 * (size + 1) > slots.size() && slots.size() < capacity) grow();
      return;
    }
    std::size_t victim = slots.size();
    bool ended = false;
    for (std::size_t n = 0, i = id & mask();
         n < slots.size() && (n < kEvictionWindow || victim == slots.size());
         ++n, i = (i + 1) & mask()) {
      if (slots[i].id == 0) continue;
      if (slots[i].end <= now) {
        victim = i;
        ended = true;
        break;
      }
      if (victim == slots.size() || slots[i].used < slots[victim].used) victim = i;
    }
    if (!ended) ++forced;
    erase(victim);
  }
};

QuotaTable::QuotaTable(std::size_t max_keys) : shards_(std::make_unique<Shard[]>(kShards)) {
  const std::size_t per_shard = std::max<std::size_t>(1, max_keys / kShards);
  for (std::size_t s = 0; s < kShards; ++s) {
    shards_[s].limit = per_shard;
    shards_[s].capacity = std::max(Shard::kInitialSlots, std::bit_ceil(2 * per_shard));
  }
}

QuotaTable::~QuotaTable() = default;

QuotaTable::Shard& QuotaTable::shard_of(BucketId id) const noexcept {
  // The low bits pick the bucket table's shard; the high ones pick this table's.
  return shards_[(id >> 58) % kShards];
}

QuotaCharge QuotaTable::charge(BucketId id, QuotaWindow window, std::int64_t cost,
                               std::int64_t capacity) noexcept {
  Shard& shard = shard_of(id);
  const std::lock_guard lock(shard.mutex);
  if (Shard::Slot* found = shard.find(id)) {
    if (found->end != window.end) *found = {id, window.end, 0};
    if (found->used + cost > capacity) return {false, found->used};
    found->used += cost;
    return {true, found->used};
  }
  if (cost > capacity) return {false, 0};
  shard.make_room(id, window);
  shard.place({id, window.end, cost});
  ++shard.size;
  return {true, cost};
}

void QuotaTable::refund(BucketId id, QuotaWindow window, std::int64_t cost) noexcept {
  Shard& shard = shard_of(id);
  const std::lock_guard lock(shard.mutex);
  Shard::Slot* found = shard.find(id);
  if (found == nullptr || found->end != window.end) return;
  found->used = std::max<std::int64_t>(0, found->used - cost);
}

std::int64_t QuotaTable::used(BucketId id, QuotaWindow window) const noexcept {
  Shard& shard = shard_of(id);
  const std::lock_guard lock(shard.mutex);
  const Shard::Slot* found = shard.find(id);
  return found == nullptr || found->end != window.end ? 0 : found->used;
}

void QuotaTable::for_each_live(
    std::int64_t unix_ns,
    const std::function<void(BucketId, std::int64_t, std::int64_t)>& visit) const {
  for (std::size_t s = 0; s < kShards; ++s) {
    const std::lock_guard lock(shards_[s].mutex);
    for (const Shard::Slot& slot : shards_[s].slots) {
      if (slot.id != 0 && slot.end > unix_ns && slot.used > 0) visit(slot.id, slot.end, slot.used);
    }
  }
}

void QuotaTable::restore(BucketId id, std::int64_t end, std::int64_t used) noexcept {
  Shard& shard = shard_of(id);
  const std::lock_guard lock(shard.mutex);
  if (Shard::Slot* found = shard.find(id)) {
    if (found->end == end) found->used = std::max(found->used, used);
    if (found->end < end) *found = {id, end, used};
    return;
  }
  shard.make_room(id, QuotaWindow{.start = 0, .end = end, .at = end - 1});
  shard.place({id, end, used});
  ++shard.size;
}

std::size_t QuotaTable::size() const noexcept {
  std::size_t n = 0;
  for (std::size_t s = 0; s < kShards; ++s) {
    const std::lock_guard lock(shards_[s].mutex);
    n += shards_[s].size;
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
