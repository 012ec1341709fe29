// The leaky bucket at exact nanosecond boundaries, driven by a manual clock.
#include "support/atomic_bucket.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "sluice/limit/bucket_table.hpp"
#include "support/manual_clock.hpp"

namespace sluice::limit {
namespace {

using testing::ManualClock;
using testing::seconds;

Claim claim(const Rate& rate, double amount) {
  return {rate.cost(amount), rate.tau()};
}

std::vector<Nanos> waits_of_burst(const Rate& rate, int n, double amount = 1) {
  Bucket bucket;
  std::vector<Nanos> waits;
  for (int i = 0; i < n; ++i) waits.push_back(bucket.reserve(0, claim(rate, amount)).wait(0));
  return waits;
}

TEST(Bucket, SeedDemoFivePerTenSecondsDelaysTheRestTwoSecondsApart) {
  const Rate rate{5, seconds(10)};
  std::vector<Nanos> expected(5, 0);
  for (int i = 1; i <= 10; ++i) expected.push_back(seconds(2 * i));
  EXPECT_EQ(waits_of_burst(rate, 15), expected);
}

TEST(Bucket, AiolimiterAcquireCompletionCounts) {
  const auto waits = waits_of_burst(Rate{5, seconds(10)}, 10);
  auto done_by = [&](double t) {
    return std::count_if(waits.begin(), waits.end(), [&](Nanos w) { return w <= seconds(t); });
  };
  EXPECT_EQ(done_by(0), 5);
  EXPECT_EQ(done_by(3), 6);
  EXPECT_EQ(done_by(7), 8);
  EXPECT_EQ(done_by(11), 10);
}

TEST(Bucket, OnePerOneAndAHalfSecondsHasNoBurst) {
  EXPECT_EQ(waits_of_burst(Rate{1, seconds(1.5)}, 5),
            (std::vector<Nanos>{0, seconds(1.5), seconds(3), seconds(4.5), seconds(6)}));
}

TEST(Bucket, HasCapacityOnFreshAndFullBuckets) {
  const Rate rate{1, seconds(1)};
  Bucket bucket;
  EXPECT_TRUE(bucket.has_capacity(0, claim(rate, 1)));
  EXPECT_FALSE(bucket.has_capacity(0, claim(rate, 42)));
  EXPECT_TRUE(bucket.admit(0, claim(rate, 1)).admitted);
  EXPECT_FALSE(bucket.has_capacity(0, claim(rate, 1)));
}

TEST(Bucket, HeavyRequestWaitsExactlyForItsRoom) {
  const Rate rate{3, seconds(3)};
  Bucket bucket;
  EXPECT_EQ(bucket.reserve(0, claim(rate, 1)).wait(0), 0);
  EXPECT_EQ(bucket.reserve(0, claim(rate, 3)).wait(0), seconds(1));
}

TEST(Bucket, LightRequestQueuesBehindHeavyOneInsteadOfBarging) {
  // aiolimiter would let the second w1 through at once (one unit is free) and keep the w3
  // waiting for as long as light requests keep coming; sluice reserves in arrival order.
  const Rate rate{3, seconds(3)};
  Bucket bucket;
  EXPECT_EQ(bucket.reserve(0, claim(rate, 1)).wait(0), 0);
  EXPECT_EQ(bucket.reserve(0, claim(rate, 3)).wait(0), seconds(1));
  EXPECT_EQ(bucket.reserve(0, claim(rate, 1)).wait(0), seconds(2));
}

TEST(Bucket, CancelledLastReservationIsRefundedToTheNextComer) {
  const Rate rate{3, seconds(3)};
  Bucket bucket;
  bucket.reserve(0, claim(rate, 1));
  const Reservation heavy = bucket.reserve(0, claim(rate, 3));
  ASSERT_EQ(heavy.wait(0), seconds(1));
  EXPECT_TRUE(bucket.refund(heavy, seconds(0.5)));
  EXPECT_EQ(bucket.reserve(seconds(0.5), claim(rate, 3)).release, seconds(1));
}

TEST(Bucket, CancelledReservationWithOthersBehindItKeepsItsSlot) {
  const Rate rate{3, seconds(3)};
  Bucket bucket;
  bucket.reserve(0, claim(rate, 1));
  const Reservation first = bucket.reserve(0, claim(rate, 3));
  const Reservation second = bucket.reserve(0, claim(rate, 3));
  EXPECT_EQ(second.release, seconds(4));
  EXPECT_FALSE(bucket.refund(first, seconds(0.5)));
  EXPECT_EQ(bucket.tat(), second.set);
  EXPECT_EQ(bucket.reserve(seconds(0.5), claim(rate, 1)).release, seconds(5));
}

TEST(Bucket, RefundOfADrainedReservationLeavesAnEmptyBucket) {
  const Rate rate{1, seconds(1)};
  Bucket bucket;
  const Reservation r = bucket.reserve(0, claim(rate, 1));
  EXPECT_TRUE(bucket.refund(r, seconds(0.25)));
  EXPECT_EQ(bucket.tat(), seconds(0.25));
  EXPECT_TRUE(bucket.has_capacity(seconds(0.25), claim(rate, 1)));
}

TEST(Bucket, UnitDrainsAtExactNanosecond) {
  const Rate rate{2, seconds(1)};  // one unit per 500 ms
  Bucket bucket;
  ASSERT_TRUE(bucket.admit(0, claim(rate, 1)).admitted);
  ASSERT_TRUE(bucket.admit(0, claim(rate, 1)).admitted);
  const Reservation early = bucket.admit(seconds(0.5) - 1, claim(rate, 1));
  EXPECT_FALSE(early.admitted);
  EXPECT_EQ(early.retry_after, 1);
  EXPECT_TRUE(bucket.admit(seconds(0.5), claim(rate, 1)).admitted);
  EXPECT_FALSE(bucket.admit(seconds(0.5), claim(rate, 1)).admitted);
}

TEST(Bucket, RejectionChargesNothing) {
  const Rate rate{1, seconds(1)};
  Bucket bucket;
  const Nanos before = bucket.admit(0, claim(rate, 1)).set;
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(bucket.admit(seconds(0.5), claim(rate, 1)).admitted);
  EXPECT_EQ(bucket.tat(), before);
}

TEST(Bucket, ClockBehindStoredTimeDoesNoHarm) {
  const Rate rate{1, seconds(1)};
  Bucket bucket;
  ASSERT_TRUE(bucket.admit(seconds(10), claim(rate, 1)).admitted);
  // A caller whose `now` was read a little earlier than the last update's.
  const Reservation stale = bucket.admit(seconds(9), claim(rate, 1));
  EXPECT_FALSE(stale.admitted);
  EXPECT_EQ(stale.retry_after, seconds(2));
  EXPECT_EQ(bucket.tat(), seconds(11));
}

TEST(Bucket, FractionalRateAndWeight) {
  const Rate rate{0.5, seconds(10)};  // half a unit per 10 s: 20 s per unit
  Bucket bucket;
  EXPECT_FALSE(bucket.has_capacity(0, claim(rate, 1)));
  EXPECT_TRUE(bucket.admit(0, claim(rate, 0.5)).admitted);
  EXPECT_EQ(bucket.admit(0, claim(rate, 0.25)).retry_after, seconds(5));
}

TEST(Bucket, MaxWaitTurnsALongDelayIntoARejection) {
  const Rate rate{1, seconds(1)};
  Bucket bucket;
  const Nanos max_wait = seconds(2);
  EXPECT_EQ(bucket.reserve(0, claim(rate, 1), max_wait).wait(0), 0);
  EXPECT_EQ(bucket.reserve(0, claim(rate, 1), max_wait).wait(0), seconds(1));
  EXPECT_EQ(bucket.reserve(0, claim(rate, 1), max_wait).wait(0), seconds(2));
  const Reservation too_long = bucket.reserve(0, claim(rate, 1), max_wait);
  EXPECT_FALSE(too_long.admitted);
  EXPECT_EQ(too_long.retry_after, seconds(1));  // then its wait would be exactly max_wait
}

TEST(Bucket, RetryAfterRoundsUpToWholeSeconds) {
  EXPECT_EQ(ceil_seconds(0), 0);
  EXPECT_EQ(ceil_seconds(1), 1);
  EXPECT_EQ(ceil_seconds(seconds(1)), 1);
  EXPECT_EQ(ceil_seconds(seconds(1) + 1), 2);
  EXPECT_EQ(ceil_seconds(seconds(2.5)), 3);
}

TEST(Bucket, ViewReportsRemainingUnitsAndTimeUntilEmpty) {
  const Rate rate{5, seconds(10)};
  Bucket bucket;
  for (int i = 0; i < 2; ++i) bucket.admit(0, claim(rate, 1));
  const BucketView at_start = view(bucket.tat(), 0, rate);
  EXPECT_DOUBLE_EQ(at_start.level, 2);
  EXPECT_EQ(at_start.remaining, 3);
  EXPECT_EQ(at_start.until_empty, seconds(4));
  const BucketView later = view(bucket.tat(), seconds(1), rate);
  EXPECT_EQ(later.remaining, 3);  // 1.5 units left: 3.5 free, floored
  EXPECT_EQ(later.until_empty, seconds(3));
  EXPECT_EQ(view(bucket.tat(), seconds(5), rate).remaining, 5);
}

// Replays the admitted (time, amount) sequence into a fresh bucket with has_capacity semantics:
// if any is refused, the bucket admitted more than its rate.
struct Admitted {
  Nanos at;
  double amount;
  int order;
};

void expect_never_over_admits(const Rate& rate, std::vector<Admitted> admitted) {
  std::sort(admitted.begin(), admitted.end(), [](const Admitted& a, const Admitted& b) {
    return a.at != b.at ? a.at < b.at : a.order < b.order;
  });
  Bucket replay;
  for (const Admitted& a : admitted) {
    ASSERT_TRUE(replay.admit(a.at, claim(rate, a.amount)).admitted)
        << "over-admitted " << a.amount << " at " << a.at;
  }
}

// On the table sluice itself uses, both bounds: never more than the limit (the replay), and
// never less than it allows (a request that has room is never refused).
TEST(BucketProperty, RandomTrafficNeverExceedsTheLimitAndIsNeverRefusedRoom) {
  std::mt19937_64 rng(20261127);
  BucketTable table(1024);
  std::size_t refused_with_room = 0;
  std::size_t admitted_total = 0;
  for (int round = 0; round < 200; ++round) {
    const Rate rate{std::uniform_real_distribution<double>(0.5, 20)(rng),
                    std::uniform_int_distribution<Nanos>(seconds(0.1), seconds(60))(rng)};
    const Nanos max_wait = std::uniform_int_distribution<Nanos>(0, 2 * rate.period)(rng);
    const BucketId id = make_bucket_id(static_cast<std::uint64_t>(round) + 1);
    std::vector<Admitted> admitted;
    struct Pending {
      Reservation r;
      Admitted a;
    };
    std::vector<Pending> pending;
    Nanos now = std::uniform_int_distribution<Nanos>(0, seconds(5))(rng);
    for (int i = 0; i < 300; ++i) {
      now += std::uniform_int_distribution<Nanos>(0, rate.period / 4)(rng);
      // Requests whose release time has come are forwarded.
      std::erase_if(pending, [&](const Pending& p) {
        if (p.r.release > now) return false;
        admitted.push_back(p.a);
        return true;
      });
      const double amount = std::uniform_real_distribution<double>(0.01, rate.max_rate)(rng);
      const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
      if (kind < 3) {
        const bool room = has_capacity(table.load(id), now, claim(rate, amount));
        const Reservation r = table.reserve(id, now, claim(rate, amount), 0);
        if (room && !r.admitted) ++refused_with_room;
        if (r.admitted) admitted.push_back({now, amount, i});
      } else if (kind < 8) {
        const Reservation r = table.reserve(id, now, claim(rate, amount), max_wait);
        if (r.admitted) pending.push_back({r, {r.release, amount, i}});
      } else if (!pending.empty()) {
        // A client disconnects while delayed: refunded only if nothing was charged behind it.
        const auto victim = pending.begin() +
                            std::uniform_int_distribution<std::size_t>(0, pending.size() - 1)(rng);
        table.compare_exchange(id, victim->r.set, refunded(victim->r, now), now);
        pending.erase(victim);
      }
    }
    for (const Pending& p : pending) admitted.push_back(p.a);
    expect_never_over_admits(rate, admitted);
    admitted_total += admitted.size();
  }
  EXPECT_EQ(refused_with_room, 0u);
  EXPECT_GT(admitted_total, 200u * 300 / 4);  // bursts and drains: a good share gets through
}

}  // namespace
}  // namespace sluice::limit
