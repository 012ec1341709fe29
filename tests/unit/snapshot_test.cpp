// The state file's encoding and the draining of the time stopped (README, "Reload, shutdown, log
// rotation, state", state_file).
#include <gtest/gtest.h>

#include <limits>

#include "sluice/limit/snapshot.hpp"

namespace sluice::limit {
namespace {

constexpr Nanos kSecond = kNanosPerSecond;
constexpr std::int64_t kSavedAt = 1'800'000'000 * kSecond;  // wall clock, ns since the epoch
constexpr Nanos kRoomy = 3600 * kSecond;                    // a max_backlog that clamps nothing

Snapshot sample() {
  return {.hash_key = {0x0123456789abcdefULL, 0xfedcba9876543210ULL},
          .saved_unix_ns = kSavedAt,
          .buckets = {{11, 3 * kSecond}, {22, 1}, {33, 60 * kSecond}},
          .quotas = {{44, kSavedAt + 3600 * kSecond, 5000}}};
}

TEST(Snapshot, RoundTripKeepsEverything) {
  const Snapshot s = sample();
  const DecodedSnapshot d = decode(encode(s));
  ASSERT_TRUE(d.snapshot) << d.error;
  EXPECT_EQ(d.snapshot->hash_key, s.hash_key);
  EXPECT_EQ(d.snapshot->saved_unix_ns, s.saved_unix_ns);
  ASSERT_EQ(d.snapshot->buckets.size(), 3u);
  EXPECT_EQ(d.snapshot->buckets[2].id, 33u);
  EXPECT_EQ(d.snapshot->buckets[2].backlog, 60 * kSecond);
}

TEST(Snapshot, EmptySnapshotRoundTrips) {
  const DecodedSnapshot d = decode(encode(Snapshot{}));
  ASSERT_TRUE(d.snapshot) << d.error;
  EXPECT_TRUE(d.snapshot->buckets.empty());
}

TEST(Snapshot, EveryTruncationIsRefused) {
  const std::string bytes = encode(sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode(std::string_view(bytes).substr(0, n)).snapshot) << n;
  }
}

TEST(Snapshot, EveryFlippedByteIsRefused) {
  const std::string bytes = encode(sample());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string corrupt = bytes;
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0x10);
    EXPECT_FALSE(decode(corrupt).snapshot) << i;
  }
}

TEST(Snapshot, ForeignVersionIsRefusedNamingIt) {
  std::string bytes = encode(sample());
  bytes[8] = 9;  // the version follows the 8-byte magic
  const DecodedSnapshot d = decode(bytes);
  EXPECT_FALSE(d.snapshot);
  EXPECT_NE(d.error.find("format 9"), std::string::npos) << d.error;
}

TEST(Snapshot, OtherFilesAreRefused) {
  EXPECT_EQ(decode("version: 1\nlisten: 127.0.0.1:8080\n").error, "not a sluice state file");
  EXPECT_FALSE(decode("").snapshot);
}

TEST(Snapshot, CaptureTakesLiveBucketsOnlyAsBacklogs) {
  BucketTable table(64);
  const Nanos now = 100 * kSecond;
  table.restore(1, now + 5 * kSecond, now);
  table.restore(2, now - kSecond, now);  // drained: not even stored
  table.restore(3, now + 1, now);
  const Snapshot s = capture(table, KeyedHash({1, 2}), {now, kSavedAt});
  EXPECT_EQ(s.hash_key, (KeyedHash::Key{1, 2}));
  ASSERT_EQ(s.buckets.size(), 2u);
  Nanos total = 0;
  for (const auto& b : s.buckets) total += b.backlog;
  EXPECT_EQ(total, 5 * kSecond + 1);
}

TEST(Snapshot, TimeStoppedDrainsExactly) {
  BucketTable table(64);
  const Nanos now = 7 * kSecond;  // the new process's steady clock
  // Stopped for exactly 3 s: bucket 11 (3 s of backlog) is empty, 33 keeps 57 s.
  const RestoreCounts counts = restore(sample(), table, {now, kSavedAt + 3 * kSecond}, kRoomy);
  EXPECT_EQ(counts.restored, 1u);
  EXPECT_EQ(counts.drained, 2u);
  EXPECT_EQ(table.load(11), kFreshTat);
  EXPECT_EQ(table.load(22), kFreshTat);
  EXPECT_EQ(table.load(33), now + 57 * kSecond);
}

TEST(Snapshot, OneNanosecondShortOfDrainedIsKept) {
  BucketTable table(64);
  const RestoreCounts counts = restore(sample(), table, {0, kSavedAt + 3 * kSecond - 1}, kRoomy);
  EXPECT_EQ(counts.restored, 2u);
  EXPECT_EQ(table.load(11), 1);
}

TEST(Snapshot, AClockSetBackCountsAsNoTimeStopped) {
  BucketTable table(64);
  restore(sample(), table, {0, kSavedAt - 3600 * kSecond}, kRoomy);
  EXPECT_EQ(table.load(33), 60 * kSecond);
}

TEST(Snapshot, RestoreNeverEmptiesAFullerBucket) {
  BucketTable table(64);
  table.restore(33, 90 * kSecond, 0);
  restore(sample(), table, {0, kSavedAt}, kRoomy);
  EXPECT_EQ(table.load(33), 90 * kSecond);
}

// A file forged with a recomputed checksum (the checksum tells rot, not forgery): a 30-year
// backlog is cut to what the largest limit can hold, and INT64_MAX neither wraps nor empties.
TEST(Snapshot, ForgedBacklogsAreClampedToTheLargestLimit) {
  BucketTable table(64);
  const Nanos now = 5 * kSecond;
  const Snapshot forged{.hash_key = {1, 2},
                        .saved_unix_ns = kSavedAt,
                        .buckets = {{11, 30LL * 365 * 86400 * kSecond},
                                    {22, std::numeric_limits<std::int64_t>::max()},
                                    {33, 10 * kSecond}},
                        .quotas = {}};
  const DecodedSnapshot decoded = decode(encode(forged));
  ASSERT_TRUE(decoded.snapshot) << decoded.error;
  const RestoreCounts counts = restore(*decoded.snapshot, table, {now, kSavedAt}, 60 * kSecond);
  EXPECT_EQ(counts.restored, 3u);
  EXPECT_EQ(counts.clamped, 2u);
  EXPECT_EQ(table.load(11), now + 60 * kSecond);
  EXPECT_EQ(table.load(22), now + 60 * kSecond);
  EXPECT_EQ(table.load(33), now + 10 * kSecond);
}

}  // namespace
}  // namespace sluice::limit
