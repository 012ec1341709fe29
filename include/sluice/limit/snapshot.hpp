#pragma once
// The local buckets across a restart (README, "Reload, shutdown, log rotation, state", state_file):
// without them every rolling deploy hands every client a fresh full burst.
//
// A bucket is saved as its backlog (time until empty) with the wall-clock instant of the save,
// since the steady clock's origin does not survive the process; at load, the wall-clock time
// spent stopped drains it. Identities are keyed hashes of (limit identity, key), so the snapshot
// carries the hash key: under it, a limit whose name, rate or key kind is unchanged addresses the
// same buckets again, and a changed one addresses fresh buckets, never charged by the old ones
// (which simply drain from the table).
//
// The encoding is binary and checked: magic, format version, exact length and a checksum, so a
// truncated, corrupt or foreign file is told apart from a valid one and ignored.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/hash.hpp"
#include "sluice/limit/bucket_table.hpp"
#include "sluice/limit/quota.hpp"

namespace sluice::limit {

struct Snapshot {
  // 2 adds the quota counters; a format-1 file (buckets only) is still read.
  static constexpr std::uint32_t kVersion = 2;

  struct Bucket {
    BucketId id = 0;
    Nanos backlog = 0;  // > 0
  };
  KeyedHash::Key hash_key{};
  std::int64_t saved_unix_ns = 0;
  std::vector<Bucket> buckets;
  // Calendar quotas: a counter with the end of its period, on the wall clock.
  struct QuotaCounter {
    BucketId id = 0;
    std::int64_t end_unix_ns = 0;
    std::int64_t used = 0;  // thousandths, > 0
  };
  std::vector<QuotaCounter> quotas;
};

using sluice::Instant;

// The live buckets of `table` at `now`, and the counters of `quotas` whose period is not over.
Snapshot capture(const BucketTable& table, const KeyedHash& hash, Instant now,
                 const QuotaTable* quotas = nullptr);
// Puts back into `quotas` the counters whose period has not ended; returns how many.
std::size_t restore_quotas(const Snapshot& snapshot, QuotaTable& quotas, Instant now);

std::string encode(const Snapshot& snapshot);

struct DecodedSnapshot {
  std::optional<Snapshot> snapshot;
  std::string error;  // why not, when there is none
};
DecodedSnapshot decode(std::string_view bytes);

struct RestoreCounts {
  std::size_t restored = 0;
  std::size_t drained = 0;  // emptied while sluice was stopped
  std::size_t clamped = 0;  // held more than any limit can (a forged or foreign file)
};
// Puts back into `table` the buckets that still hold something after the time stopped, each
// with at most `max_backlog` (the most any configured limit can hold: its time_period plus, for
// a delaying route, its max_delay). The checksum tells corruption, not forgery: a file written
// by someone else must not lock clients out for years.
RestoreCounts restore(const Snapshot& snapshot, BucketTable& table, Instant now, Nanos max_backlog);

}  // namespace sluice::limit
