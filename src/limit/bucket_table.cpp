#include "sluice/limit/bucket_table.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

namespace sluice::limit {
namespace {

constexpr std::size_t kMaxShards = 256;
constexpr std::size_t kMinKeysPerShard = 16;
constexpr std::size_t kSweepPerInsert = 2;  // drained slots looked at per insertion
constexpr std::size_t kEvictionSample = 8;  // live slots compared for a forced eviction

class SpinLock {
 public:
  void lock() noexcept {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire); ++spins) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins > 64) std::this_thread::yield();
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

__extension__ using Uint128 = unsigned __int128;

struct Slot {
  BucketId id = 0;  // 0 = empty
  Nanos tat = kFreshTat;
};

}  // namespace

struct alignas(64) BucketTable::Shard {
  mutable SpinLock lock;
  std::size_t budget = 0;  // this shard's share of max_keys
  std::size_t capacity = 0;
  std::size_t count = 0;
  std::size_t cursor = 0;  // where the lazy sweep continues
  EvictionCounts evicted;
  Slot* slots = nullptr;  // into the table's one allocation

  // High hash bits pick the position (low bits picked the shard): Lemire's multiply-shift.
  [[nodiscard]] std::size_t home(BucketId id) const noexcept {
    return static_cast<std::size_t>((static_cast<Uint128>(id) * capacity) >> 64);
  }
  [[nodiscard]] std::size_t next(std::size_t i) const noexcept {
    return i + 1 == capacity ? 0 : i + 1;
  }

  // The slot holding `id`, or the empty slot that ends its probe sequence.
  [[nodiscard]] std::size_t probe(BucketId id) const noexcept {
    std::size_t i = home(id);
    while (slots[i].id != 0 && slots[i].id != id) i = next(i);
    return i;
  }

  // Backward-shift deletion keeps every probe sequence unbroken without tombstones.
  void erase(std::size_t hole) noexcept {
    for (std::size_t j = next(hole);; j = next(j)) {
      if (slots[j].id == 0) break;
      const std::size_t h = home(slots[j].id);
      const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
      if (stays) continue;
      slots[hole] = slots[j];
      hole = j;
    }
    slots[hole] = Slot{};
    --count;
  }

  void sweep_drained(Nanos now) noexcept {
    for (std::size_t n = 0; n < kSweepPerInsert && count > 0; ++n) {
      if (slots[cursor].id != 0 && slots[cursor].tat <= now) {
        erase(cursor);  // a later slot may have shifted into the cursor: look at it next time
        ++evicted.drained;
      } else {
        cursor = next(cursor);
      }
    }
  }

  // Makes room for one more key: a drained bucket if the sample has one, else the live one
  // closest to empty.
  void evict_one(Nanos now) noexcept {
    std::size_t victim = capacity;
    std::size_t seen = 0;
    for (std::size_t i = cursor, n = 0; n < capacity && seen < kEvictionSample; ++n, i = next(i)) {
      if (slots[i].id == 0) continue;
      ++seen;
      if (victim == capacity || slots[i].tat < slots[victim].tat) victim = i;
      if (slots[victim].tat <= now) break;
    }
    cursor = next(victim);
    if (slots[victim].tat <= now) {
      ++evicted.drained;
    } else {
      ++evicted.forced;
    }
    erase(victim);
  }

  void insert(Slot slot, Nanos now) noexcept {
    sweep_drained(now);
    if (count >= budget) evict_one(now);
    slots[probe(slot.id)] = slot;
    ++count;
  }

  // Stores `desired` for `id`; a drained value needs no slot.
  void store(std::size_t i, BucketId id, Nanos desired, Nanos now) noexcept {
    if (slots[i].id == id) {
      slots[i].tat = desired;
    } else if (desired > now) {
      insert(Slot{id, desired}, now);
    }
  }
};

// One mapping for all slots, on huge pages where the kernel offers them: a table of millions of
// keys is touched at random, and 4 KiB pages would cost a TLB miss per lookup. The kernel's zero
// pages are the empty slots, so memory is touched only as keys arrive: RSS at start went from
// 32 MB to 11 MB with the default max_keys (docs/BENCHMARKS.md).
void BucketTable::Unmap::operator()(void* p) const noexcept {
  ::munmap(p, bytes);
}

BucketTable::SlotMemory BucketTable::allocate_slots(std::size_t bytes) {
  constexpr std::size_t kHugePage = 2 << 20;
  bytes = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  ::madvise(p, bytes, MADV_HUGEPAGE);
  return SlotMemory(p, Unmap{bytes});
}

BucketTable::BucketTable(std::size_t max_keys) : max_keys_(std::max<std::size_t>(max_keys, 1)) {
  const std::size_t shards =
      std::clamp<std::size_t>(std::bit_floor(max_keys_ / kMinKeysPerShard), 1, kMaxShards);
  shard_mask_ = shards - 1;
  shards_ = std::make_unique<Shard[]>(shards);
  std::size_t total = 0;
  for (std::size_t s = 0; s < shards; ++s) {
    Shard& shard = shards_[s];
    shard.budget = max_keys_ / shards + (s < max_keys_ % shards ? 1 : 0);
    // Load factor at most 0.8: 20 bytes per key when full, short probe sequences.
    shard.capacity = shard.budget + shard.budget / 4 + 1;
    total += shard.capacity;
  }
  slot_memory_ = allocate_slots(total * sizeof(Slot));
  auto* next = static_cast<Slot*>(slot_memory_.get());
  for (std::size_t s = 0; s < shards; ++s) {
    shards_[s].slots = next;
    next += shards_[s].capacity;
  }
}

BucketTable::~BucketTable() = default;

BucketTable::Shard& BucketTable::shard_of(BucketId id) const noexcept {
  return shards_[id & shard_mask_];
}

Nanos BucketTable::load(BucketId id) const noexcept {
  const Shard& shard = shard_of(id);
  std::lock_guard guard(shard.lock);
  const Slot& slot = shard.slots[shard.probe(id)];
  return slot.id == id ? slot.tat : kFreshTat;
}

// NOLINTNEXTLINE(bugprone-easily-swappable-parameters): std::atomic's (expected, desired) order
bool BucketTable::compare_exchange(BucketId id, Nanos expected, Nanos desired, Nanos now) noexcept {
  Shard& shard = shard_of(id);
  std::lock_guard guard(shard.lock);
  const std::size_t i = shard.probe(id);
  const Nanos current = shard.slots[i].id == id ? shard.slots[i].tat : kFreshTat;
  if (current != expected) return false;
  shard.store(i, id, desired, now);
  return true;
}

Reservation BucketTable::reserve(BucketId id, Nanos now, Claim claim, Nanos max_wait) noexcept {
  Shard& shard = shard_of(id);
  std::lock_guard guard(shard.lock);
  const std::size_t i = shard.probe(id);
  const Nanos found = shard.slots[i].id == id ? shard.slots[i].tat : kFreshTat;
  const Reservation r = decide(found, now, claim, max_wait);
  if (r.admitted) shard.store(i, id, r.set, now);
  return r;
}

void BucketTable::for_each_live(Nanos now,
                                const std::function<void(BucketId, Nanos)>& visit) const {
  for (std::size_t s = 0; s <= shard_mask_; ++s) {
    const Shard& shard = shards_[s];
    std::lock_guard guard(shard.lock);
    for (std::size_t i = 0; i < shard.capacity; ++i) {
      if (shard.slots[i].id != 0 && shard.slots[i].tat > now) {
        visit(shard.slots[i].id, shard.slots[i].tat);
      }
    }
  }
}

void BucketTable::restore(BucketId id, Nanos tat, Nanos now) noexcept {
  Shard& shard = shard_of(id);
  std::lock_guard guard(shard.lock);
  const std::size_t i = shard.probe(id);
  if (shard.slots[i].id == id && shard.slots[i].tat >= tat) return;
  shard.store(i, id, tat, now);
}

std::size_t BucketTable::size() const noexcept {
  std::size_t total = 0;
  for (std::size_t s = 0; s <= shard_mask_; ++s) {
    std::lock_guard guard(shards_[s].lock);
    total += shards_[s].count;
  }
  return total;
}

std::size_t BucketTable::active(Nanos now) const noexcept {
  std::size_t total = 0;
  for (std::size_t s = 0; s <= shard_mask_; ++s) {
    const Shard& shard = shards_[s];
    std::lock_guard guard(shard.lock);
    for (std::size_t i = 0; i < shard.capacity; ++i) {
      if (shard.slots[i].id != 0 && shard.slots[i].tat > now) ++total;
    }
  }
  return total;
}

EvictionCounts BucketTable::evictions() const noexcept {
  EvictionCounts total;
  for (std::size_t s = 0; s <= shard_mask_; ++s) {
    std::lock_guard guard(shards_[s].lock);
    total.drained += shards_[s].evicted.drained;
    total.forced += shards_[s].evicted.forced;
  }
  return total;
}

std::size_t BucketTable::memory_bytes() const noexcept {
  return sizeof(*this) + (shard_mask_ + 1) * sizeof(Shard) + slot_memory_.get_deleter().bytes;
}

}  // namespace sluice::limit
