#pragma once
// The live buckets of every route: a concurrent map from bucket identity to tat, bounded by
// `max_keys`, with no global lock and no background thread.
//
// Identities are 64-bit keyed hashes (hash.hpp) of (route or bucket name, limit, key kind, rate,
// key value), so a slot is 16 bytes whatever the key's length, and a changed rate after a reload
// simply addresses new buckets. The table is split into shards, each an open-addressing array
// (linear probing, backward-shift deletion) behind a tiny spinlock held for one probe and one
// update. Slots move on deletion, so a lock-free reader could follow a slot to another key and
// charge the wrong bucket (an ABA that no 64-bit CAS can rule out); the per-shard lock makes each
// operation exact while distinct keys on distinct shards never contend.
//
// Eviction is lazy and lossless where it can be: a bucket whose tat <= now is empty, identical to
// a fresh one, so every insertion sweeps a couple of slots and drops drained ones. Only when a
// shard is at its share of `max_keys` with no drained bucket in sight is a live bucket evicted:
// the one closest to empty among a sample, counted as `forced`.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "sluice/limit/gcra.hpp"

namespace sluice::limit {

// A bucket's identity: a nonzero 64-bit hash.
using BucketId = std::uint64_t;

constexpr BucketId make_bucket_id(std::uint64_t hash) noexcept {
  return hash == 0 ? 1 : hash;
}

struct EvictionCounts {
  std::uint64_t drained = 0;
  std::uint64_t forced = 0;
};

class BucketTable {
 public:
  explicit BucketTable(std::size_t max_keys);
  ~BucketTable();
  BucketTable(const BucketTable&) = delete;
  BucketTable& operator=(const BucketTable&) = delete;

  // The bucket's tat, or kFreshTat when it is not in the table.
  [[nodiscard]] Nanos load(BucketId id) const noexcept;
  // Sets the bucket to `desired` if it is `expected` (an absent bucket is kFreshTat).
  // NOLINTNEXTLINE(bugprone-easily-swappable-parameters): std::atomic's (expected, desired) order
  bool compare_exchange(BucketId id, Nanos expected, Nanos desired, Nanos now) noexcept;
  // Single-bucket reserve in one lock round trip (gcra.hpp's decide() for the semantics).
  Reservation reserve(BucketId id, Nanos now, Claim claim, Nanos max_wait) noexcept;

  // Every bucket with level > 0 at `now`, shard by shard (each shard locked while it is read).
  void for_each_live(Nanos now, const std::function<void(BucketId, Nanos tat)>& visit) const;
  // Puts back a bucket (the state file); an existing bucket keeps the fuller of the two.
  void restore(BucketId id, Nanos tat, Nanos now) noexcept;

  [[nodiscard]] std::size_t size() const noexcept;
  // Buckets with level > 0 at `now`; scans the table (for the metrics gauge, not the data path).
  [[nodiscard]] std::size_t active(Nanos now) const noexcept;
  [[nodiscard]] EvictionCounts evictions() const noexcept;
  [[nodiscard]] std::size_t max_keys() const noexcept { return max_keys_; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept;

  // A BucketCell (reservation.hpp) addressing one bucket of this table.
  struct Cell {
    BucketTable* table;
    BucketId id;
    Nanos now;
    [[nodiscard]] Nanos load() const noexcept { return table->load(id); }
    bool compare_exchange(Nanos expected, Nanos desired) const noexcept {
      return table->compare_exchange(id, expected, desired, now);
    }
  };

 private:
  struct Shard;
  struct Unmap {
    std::size_t bytes;  // of the mapping
    void operator()(void* p) const noexcept;
  };
  using SlotMemory = std::unique_ptr<void, Unmap>;
  static SlotMemory allocate_slots(std::size_t bytes);
  Shard& shard_of(BucketId id) const noexcept;

  std::size_t max_keys_;
  std::size_t shard_mask_;
  std::unique_ptr<Shard[]> shards_;
  SlotMemory slot_memory_;
};

}  // namespace sluice::limit
