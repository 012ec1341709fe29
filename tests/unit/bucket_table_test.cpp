#include "sluice/limit/bucket_table.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "sluice/limit/reservation.hpp"
#include "support/manual_clock.hpp"

namespace sluice::limit {
namespace {

using testing::seconds;

constexpr Claim kOneSecond{seconds(1), seconds(1)};  // 1 per second, weight 1

BucketId id_of(std::uint64_t n) {
  return make_bucket_id((n + 1) * 0x9E3779B97F4A7C15ULL);
}

TEST(BucketTable, AbsentBucketIsFresh) {
  BucketTable table(100);
  EXPECT_EQ(table.load(id_of(1)), kFreshTat);
  EXPECT_EQ(table.size(), 0u);
}

TEST(BucketTable, KeepsStateAndIsolatesKeys) {
  BucketTable table(100);
  EXPECT_TRUE(table.reserve(id_of(1), 0, kOneSecond, 0).admitted);
  EXPECT_FALSE(table.reserve(id_of(1), 0, kOneSecond, 0).admitted);
  EXPECT_TRUE(table.reserve(id_of(2), 0, kOneSecond, 0).admitted);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.active(0), 2u);
  EXPECT_EQ(table.active(seconds(1)), 0u);
}

TEST(BucketTable, DrainedBucketsAreDroppedLosslessly) {
  BucketTable table(64);
  for (std::uint64_t k = 0; k < 64; ++k) table.reserve(id_of(k), 0, kOneSecond, 0);
  // A live bucket that must survive the churn below.
  const Reservation live = table.reserve(id_of(1000), seconds(5), {seconds(100), seconds(100)}, 0);
  ASSERT_TRUE(live.admitted);
  for (std::uint64_t k = 2000; k < 2500; ++k) {
    table.reserve(id_of(k), seconds(5) + static_cast<Nanos>(k), {1, seconds(1)}, 0);
  }
  const EvictionCounts evicted = table.evictions();
  EXPECT_EQ(evicted.forced, 0u);
  EXPECT_GT(evicted.drained, 0u);
  EXPECT_LE(table.size(), 64u);
  EXPECT_EQ(table.load(id_of(1000)), live.set);
}

TEST(BucketTable, MaxKeysIsAHardBoundWithForcedEvictionsCounted) {
  BucketTable table(1000);
  const std::uint64_t inserted = 5000;
  for (std::uint64_t k = 0; k < inserted; ++k) {
    ASSERT_TRUE(
        table.reserve(id_of(k), static_cast<Nanos>(k), {seconds(60), seconds(60)}, 0).admitted);
    ASSERT_LE(table.size(), 1000u);
  }
  const EvictionCounts evicted = table.evictions();
  EXPECT_EQ(evicted.drained, 0u);
  EXPECT_EQ(evicted.forced + table.size(), inserted);
}

TEST(BucketTable, ForcedEvictionPrefersTheBucketClosestToEmpty) {
  BucketTable table(1);  // one shard, one key
  table.reserve(id_of(1), 0, {seconds(10), seconds(10)}, 0);
  table.reserve(id_of(2), 0, {seconds(20), seconds(20)}, 0);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.load(id_of(1)), kFreshTat);
  EXPECT_EQ(table.load(id_of(2)), seconds(20));
}

TEST(BucketTable, MemoryPerKeyDoesNotDependOnKeyCount) {
  BucketTable table(100000);
  EXPECT_LE(table.memory_bytes(), 100000u * 24);
}

TEST(BucketTable, ThreadsOnOneKeyAdmitExactlyTheCapacity) {
  BucketTable table(1000);
  const Claim unit{seconds(1) / 1000, seconds(1)};  // 1000 per second
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 600; ++i) admitted += table.reserve(id_of(7), 0, unit, 0).admitted;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 1000);
}

TEST(BucketTable, ThreadsOnDistinctKeysAdmitExactlyEachCapacity) {
  BucketTable table(10000);
  const Claim unit{seconds(1) / 10, seconds(1)};  // 10 per second
  std::vector<int> admitted(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        for (std::uint64_t k = 0; k < 100; ++k) {
          admitted[t] += table.reserve(id_of(1000 * (t + 1) + k), 0, unit, 0).admitted;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int n : admitted) EXPECT_EQ(n, 100 * 10);
}

TEST(BucketTable, ConcurrentMultiLimitReservationsRespectTheSharedLimit) {
  BucketTable table(10000);
  const Claim per_thread{seconds(1) / 100, seconds(1)};  // 100 per second per thread
  const Claim global{seconds(1) / 250, seconds(1)};      // 250 per second in all
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::array<BucketTable::Cell, 2> cells{BucketTable::Cell{&table, id_of(100 + t), 0},
                                             BucketTable::Cell{&table, id_of(1), 0}};
      const std::array<Claim, 2> claims{per_thread, global};
      for (int i = 0; i < 200; ++i) {
        admitted +=
            reserve_all(std::span<BucketTable::Cell>(cells), std::span<const Claim>(claims), 0, 0)
                .admitted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 250);
  EXPECT_EQ(table.load(id_of(1)), seconds(1));
}

}  // namespace
}  // namespace sluice::limit
