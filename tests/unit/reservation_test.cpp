// Several limits on one route: all-or-nothing, charged as of the release time.
#include "sluice/limit/reservation.hpp"
#include "support/atomic_bucket.hpp"

#include <gtest/gtest.h>

#include <array>

#include "support/manual_clock.hpp"

namespace sluice::limit {
namespace {

using testing::seconds;

struct Limits {
  std::array<Bucket, 2> buckets;
  std::array<Claim, 2> claims;

  MultiReservation reserve(Nanos now, Nanos max_wait) {
    return reserve_all(std::span<Bucket>(buckets), std::span<const Claim>(claims), now, max_wait);
  }
};

void init_per_client_and_global(Limits& limits) {
  const Rate per_client{1, seconds(1)};
  const Rate global{10, seconds(1)};
  limits.claims = {Claim{per_client.cost(1), per_client.tau()},
                   Claim{global.cost(1), global.tau()}};
}

TEST(MultiLimit, RejectedByOneLimitIsChargedToNone) {
  Limits limits;
  init_per_client_and_global(limits);
  ASSERT_TRUE(limits.reserve(0, 0).admitted);
  const Nanos global_before = limits.buckets[1].tat();
  const MultiReservation r = limits.reserve(0, 0);
  EXPECT_FALSE(r.admitted);
  EXPECT_EQ(r.deciding, 0u);
  EXPECT_EQ(r.retry_after, seconds(1));
  EXPECT_EQ(limits.buckets[1].tat(), global_before);
}

TEST(MultiLimit, WaitsForTheLargestDelayAndIsChargedAsOfItsRelease) {
  Limits limits;
  init_per_client_and_global(limits);
  ASSERT_TRUE(limits.reserve(0, 0).admitted);
  const MultiReservation r = limits.reserve(0, seconds(5));
  ASSERT_TRUE(r.admitted);
  EXPECT_EQ(r.release, seconds(1));
  EXPECT_EQ(r.deciding, 0u);
  // The global bucket drained until the release: it holds one unit charged at t = 1 s,
  // not two units stacked from t = 0.
  EXPECT_EQ(limits.buckets[1].tat(), seconds(1) + seconds(0.1));
}

TEST(MultiLimit, RefundGivesBackEveryLimitWithNothingBehindIt) {
  Limits limits;
  init_per_client_and_global(limits);
  ASSERT_TRUE(limits.reserve(0, 0).admitted);
  const MultiReservation delayed = limits.reserve(0, seconds(5));
  ASSERT_TRUE(delayed.admitted);
  EXPECT_EQ(refund_all(std::span<Bucket>(limits.buckets), delayed, seconds(0.5)), 2u);
  EXPECT_EQ(limits.buckets[0].tat(), seconds(1));
  EXPECT_EQ(limits.buckets[1].tat(), seconds(0.5));
}

}  // namespace
}  // namespace sluice::limit
