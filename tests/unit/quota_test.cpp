// Calendar quotas: the UTC periods at their exact edges, the counters, and a quota decided with
// the rate limits, all or nothing.
#include "sluice/limit/quota.hpp"

#include <gtest/gtest.h>

#include "sluice/limit/limiter.hpp"
#include "sluice/limit/snapshot.hpp"
#include "support/fake_request.hpp"
#include "support/manual_clock.hpp"

namespace sluice::limit {
namespace {

using testing::seconds;

constexpr std::int64_t kSecond = kNanosPerSecond;
constexpr std::int64_t kDay = 86'400 * kSecond;
// 2026-11-30 00:00:00 UTC, a Monday.
constexpr std::int64_t kMonday = 1'795'996'800LL * kSecond;
constexpr std::int64_t kDecember1 = kMonday + kDay;
constexpr std::int64_t kJanuary1 = 1'798'761'600LL * kSecond;  // 2027-01-01

TEST(QuotaWindow, ADayRunsFromMidnightToMidnightUtc) {
  const QuotaWindow w = quota_window(QuotaPeriod::day, kMonday + 13 * 3600 * kSecond);
  EXPECT_EQ(w.start, kMonday);
  EXPECT_EQ(w.end, kMonday + kDay);
  // The last nanosecond belongs to the day; the next one starts the next.
  EXPECT_EQ(quota_window(QuotaPeriod::day, kMonday + kDay - 1).end, kMonday + kDay);
  EXPECT_EQ(quota_window(QuotaPeriod::day, kMonday + kDay).start, kMonday + kDay);
}

TEST(QuotaWindow, AWeekStartsOnMonday) {
  const std::int64_t sunday_night = kMonday + 7 * kDay - 1;
  EXPECT_EQ(quota_window(QuotaPeriod::week, sunday_night).start, kMonday);
  EXPECT_EQ(quota_window(QuotaPeriod::week, sunday_night).end, kMonday + 7 * kDay);
  EXPECT_EQ(quota_window(QuotaPeriod::week, kMonday + 3 * kDay).start, kMonday);
  EXPECT_EQ(quota_window(QuotaPeriod::week, kMonday - 1).start, kMonday - 7 * kDay);
}

TEST(QuotaWindow, AMonthRunsToTheFirstOfTheNextAcrossTheYear) {
  const QuotaWindow november = quota_window(QuotaPeriod::month, kMonday);
  EXPECT_EQ(november.end, kDecember1);
  EXPECT_EQ(november.length(), 30 * kDay);
  const QuotaWindow december = quota_window(QuotaPeriod::month, kDecember1);
  EXPECT_EQ(december.start, kDecember1);
  EXPECT_EQ(december.end, kJanuary1);
  // February of a leap year: 29 days.
  constexpr std::int64_t kFebruary1_2028 = 1'832'976'000LL * kSecond;
  EXPECT_EQ(quota_window(QuotaPeriod::month, kFebruary1_2028 + kDay).length(), 29 * kDay);
}

TEST(QuotaWindow, PeriodsReadAndPrint) {
  QuotaPeriod p = QuotaPeriod::day;
  EXPECT_TRUE(parse_quota_period("month", p));
  EXPECT_EQ(p, QuotaPeriod::month);
  EXPECT_FALSE(parse_quota_period("year", p));
  EXPECT_EQ((Quota{100000, QuotaPeriod::month}.describe()), "100000/month");
}

TEST(QuotaTable, ChargesUpToTheCapacityAndRefundsExactly) {
  QuotaTable table(1000);
  const QuotaWindow w = quota_window(QuotaPeriod::day, kMonday);
  EXPECT_TRUE(table.charge(7, w, 1000, 2000).admitted);
  EXPECT_EQ(table.charge(7, w, 1000, 2000).used, 2000);
  const QuotaCharge over = table.charge(7, w, 1000, 2000);
  EXPECT_FALSE(over.admitted);
  EXPECT_EQ(over.used, 2000);
  table.refund(7, w, 1000);
  EXPECT_EQ(table.used(7, w), 1000);
}

TEST(QuotaTable, ANewPeriodStartsFromZero) {
  QuotaTable table(1000);
  const QuotaWindow monday = quota_window(QuotaPeriod::day, kMonday);
  const QuotaWindow tuesday = quota_window(QuotaPeriod::day, kMonday + kDay);
  ASSERT_TRUE(table.charge(7, monday, 2000, 2000).admitted);
  EXPECT_FALSE(table.charge(7, monday, 1, 2000).admitted);
  EXPECT_EQ(table.used(7, tuesday), 0);
  EXPECT_TRUE(table.charge(7, tuesday, 2000, 2000).admitted);
  table.refund(7, monday, 2000);  // a refund of the ended period touches nothing
  EXPECT_EQ(table.used(7, tuesday), 2000);
}

TEST(QuotaTable, StaysWithinMaxKeysDroppingEndedPeriodsFirst) {
  QuotaTable table(64);  // one counter per shard
  const QuotaWindow monday = quota_window(QuotaPeriod::day, kMonday);
  const QuotaWindow tuesday = quota_window(QuotaPeriod::day, kMonday + kDay);
  for (BucketId id = 1; id <= 1000; ++id) table.charge(id << 58 | id, monday, 1, 10);
  EXPECT_LE(table.size(), 64U);
  const std::uint64_t forced = table.forced_evictions();
  for (BucketId id = 1; id <= 64; ++id) table.charge(id << 58 | id, tuesday, 1, 10);
  EXPECT_EQ(table.forced_evictions(), forced) << "ended periods are dropped, not live counters";
}

TEST(QuotaTable, EveryCounterKeptStaysReachableThroughEvictions) {
  QuotaTable table(64 * 4);  // four counters per shard: most of these are evicted
  const QuotaWindow w = quota_window(QuotaPeriod::day, kMonday);
  // Ids that crowd few shards and collide in their home slots: long probe chains to repair.
  for (BucketId id = 1; id <= 5000; ++id) table.charge((id % 3) << 58 | id * 16, w, id, 1 << 30);
  std::size_t reachable = 0;
  for (BucketId id = 1; id <= 5000; ++id) {
    const std::int64_t used = table.used((id % 3) << 58 | id * 16, w);
    EXPECT_TRUE(used == 0 || used == static_cast<std::int64_t>(id)) << id;
    reachable += used != 0;
  }
  EXPECT_EQ(reachable, table.size());
  EXPECT_LE(table.size(), 3U * 4U);
}

TEST(QuotaCost, CountsWeightsInThousandths) {
  EXPECT_EQ(quota_cost(1), 1000);
  EXPECT_EQ(quota_cost(0.25), 250);
  EXPECT_EQ(quota_cost(0.0001), 1);  // a request always counts
  EXPECT_EQ(quota_remaining(Quota{3, QuotaPeriod::day}, 1250), 1);
}

class QuotaLimiterTest : public ::testing::Test {
 protected:
  // 100/s and a quota of 3 a day: the quota decides unless the rate is exhausted first.
  static RoutePolicy route(Action action = Action::reject, double max_rate = 100) {
    auto l = LimitPolicy::make("api", "route:api#0", KeySpec{{{KeyKind::client_ip, {}}}},
                               Rate{max_rate, seconds(1)}, 1);
    l.set_quota(Quota{3, QuotaPeriod::day});
    return RoutePolicy{"api", {l}, action, seconds(1), false};
  }
  Decided decide(const RoutePolicy& p, std::int64_t unix_ns) {
    return limiter.decide(p, request, {unix_ns - kMonday, unix_ns});
  }

  BucketTable table{1000};
  QuotaTable quotas{1000};
  Limiter limiter{table, quotas, KeyedHash({1, 2})};
  testing::FakeRequest request;
};

TEST_F(QuotaLimiterTest, OverTheQuotaIsRejectedUntilTheResetAtMidnightUtc) {
  const RoutePolicy p = route();
  const std::int64_t evening = kMonday + 23 * 3600 * kSecond;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(decide(p, evening + i * kSecond).outcome, Outcome::allowed);
  const Decided over = decide(p, evening + 10 * kSecond);
  EXPECT_EQ(over.outcome, Outcome::rejected);
  EXPECT_TRUE(over.by_quota);
  EXPECT_EQ(over.retry_after, 3600 * kSecond - 10 * kSecond);
  EXPECT_EQ(over.quota(0).used, 3000);
  EXPECT_EQ(decide(p, kMonday + kDay - 1).outcome, Outcome::rejected);
  const Decided next_day = decide(p, kMonday + kDay);
  EXPECT_EQ(next_day.outcome, Outcome::allowed);
  EXPECT_EQ(next_day.quota(0).used, 1000);
}

TEST_F(QuotaLimiterTest, ADelayingRouteRejectsOverTheQuotaNeverDelays) {
  const RoutePolicy p = route(Action::delay);
  for (int i = 0; i < 3; ++i) decide(p, kMonday + i * kSecond);
  EXPECT_EQ(decide(p, kMonday + 5 * kSecond).outcome, Outcome::rejected);
}

TEST_F(QuotaLimiterTest, ARequestTheRateRefusesTakesNothingFromTheQuota) {
  const RoutePolicy p = route(Action::reject, 1);  // 1/s: the second request of a second fails
  EXPECT_EQ(decide(p, kMonday).outcome, Outcome::allowed);
  const Decided refused = decide(p, kMonday);
  EXPECT_EQ(refused.outcome, Outcome::rejected);
  EXPECT_FALSE(refused.by_quota);
  EXPECT_EQ(refused.quota(0).used, 1000);
  EXPECT_EQ(decide(p, kMonday + kSecond).outcome, Outcome::allowed);
  EXPECT_EQ(decide(p, kMonday + 2 * kSecond).outcome, Outcome::allowed);
  EXPECT_TRUE(decide(p, kMonday + 3 * kSecond).by_quota) << "3 admitted, 3 counted";
}

TEST_F(QuotaLimiterTest, ARequestTheQuotaRefusesTakesNothingFromTheRate) {
  const RoutePolicy p = route(Action::reject, 4);
  for (int i = 0; i < 3; ++i) decide(p, kMonday);
  EXPECT_TRUE(decide(p, kMonday).by_quota);
  EXPECT_EQ(table.load(limiter.id_of(p.limits[0], "ip:203.0.113.7")), seconds(0.75))
      << "three charges of 250 ms, not four";
}

TEST_F(QuotaLimiterTest, CancellingADelayedRequestGivesItsQuotaBack) {
  const RoutePolicy p = route(Action::delay, 1);
  decide(p, kMonday);
  Decided delayed = decide(p, kMonday);
  ASSERT_EQ(delayed.outcome, Outcome::delayed);
  limiter.cancel(delayed, 0);
  EXPECT_EQ(quotas.used(delayed.quota(0).id, delayed.quota(0).window), 1000);
}

TEST_F(QuotaLimiterTest, EachOfSeveralQuotasCountsAllOrNothing) {
  auto first = LimitPolicy::make("api-1", "route:api#0", KeySpec{{{KeyKind::client_ip, {}}}},
                                 Rate{100, seconds(1)}, 1);
  first.set_quota(Quota{5, QuotaPeriod::day});
  auto second = LimitPolicy::make("api-2", "route:api#1", KeySpec{{{KeyKind::global, {}}}},
                                  Rate{100, seconds(1)}, 1);
  second.set_quota(Quota{2, QuotaPeriod::month});
  const RoutePolicy p{"api", {first, second}, Action::reject, 0, false};
  decide(p, kMonday);
  decide(p, kMonday);
  const Decided over = decide(p, kMonday);
  EXPECT_TRUE(over.by_quota);
  EXPECT_EQ(over.deciding, 1U);
  EXPECT_EQ(over.retry_after, kDecember1 - kMonday);
  EXPECT_EQ(quotas.used(over.quota(0).id, over.quota(0).window), 2000)
      << "the first quota's charge was given back";
}

TEST(QuotaSnapshot, CountersSurviveEncodingAndEndedPeriodsAreNotRestored) {
  BucketTable table(100);
  QuotaTable quotas(100);
  const QuotaWindow today = quota_window(QuotaPeriod::day, kMonday);
  quotas.charge(11, today, 5000, 10'000);
  const Snapshot saved = capture(table, KeyedHash({1, 2}), {0, kMonday}, &quotas);
  const DecodedSnapshot decoded = decode(encode(saved));
  ASSERT_TRUE(decoded.snapshot) << decoded.error;
  ASSERT_EQ(decoded.snapshot->quotas.size(), 1U);

  QuotaTable later(100);
  EXPECT_EQ(restore_quotas(*decoded.snapshot, later, {0, kMonday + 3600 * kSecond}), 1U);
  EXPECT_EQ(later.used(11, today), 5000);
  QuotaTable tomorrow(100);
  EXPECT_EQ(restore_quotas(*decoded.snapshot, tomorrow, {0, kMonday + kDay}), 0U);
}

}  // namespace
}  // namespace sluice::limit
