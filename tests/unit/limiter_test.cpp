// Route policies to decisions, on exact times.
#include "sluice/limit/limiter.hpp"

#include <gtest/gtest.h>

#include "support/fake_request.hpp"
#include "support/manual_clock.hpp"

namespace sluice::limit {
namespace {

using testing::seconds;

using Request = testing::FakeRequest;

// 2026-11-30 00:00:00 UTC, a Monday, on the wall clock; the steady clock starts at 0.
constexpr std::int64_t kMonday = 1'795'996'800LL * kNanosPerSecond;

Instant at(Nanos steady) {
  return {steady, kMonday + steady};
}

RoutePolicy route(Action action, bool dry_run = false, Nanos max_delay = seconds(10)) {
  const auto l = LimitPolicy::make("r", "route:r#0", KeySpec{{{KeyKind::client_ip, {}}}},
                                   Rate{2, seconds(2)}, 1);
  return RoutePolicy{"r", {l}, action, max_delay, dry_run};
}

class LimiterTest : public ::testing::Test {
 protected:
  BucketTable table{1000};
  QuotaTable quotas{1000};
  Limiter limiter{table, quotas, KeyedHash({1, 2})};
  Request request;
};

TEST_F(LimiterTest, RejectModeAllowsTheBurstThenRejectsWithRetryAfter) {
  const RoutePolicy p = route(Action::reject);
  EXPECT_EQ(limiter.decide(p, request, at(0)).outcome, Outcome::allowed);
  const Decided second = limiter.decide(p, request, at(0));
  EXPECT_EQ(second.outcome, Outcome::allowed);
  EXPECT_EQ(second.views[0].remaining, 0);
  EXPECT_EQ(second.views[0].until_empty, seconds(2));
  const Decided third = limiter.decide(p, request, at(seconds(0.25)));
  EXPECT_EQ(third.outcome, Outcome::rejected);
  EXPECT_EQ(third.retry_after, seconds(0.75));
  EXPECT_EQ(third.key, "ip:203.0.113.7");
}

TEST_F(LimiterTest, DelayModeReportsTheWait) {
  const RoutePolicy p = route(Action::delay);
  limiter.decide(p, request, at(0));
  limiter.decide(p, request, at(0));
  const Decided d = limiter.decide(p, request, at(0));
  EXPECT_EQ(d.outcome, Outcome::delayed);
  EXPECT_EQ(d.wait, seconds(1));
}

TEST_F(LimiterTest, CancelGivesTheLastSlotBack) {
  const RoutePolicy p = route(Action::delay);
  limiter.decide(p, request, at(0));
  limiter.decide(p, request, at(0));
  Decided d = limiter.decide(p, request, at(0));
  limiter.cancel(d, seconds(0.5));
  EXPECT_EQ(limiter.decide(p, request, at(seconds(0.5))).wait, seconds(0.5));
}

TEST_F(LimiterTest, DryRunDelayTakesTheSlotDryRunRejectDoesNot) {
  const RoutePolicy delay = route(Action::delay, true, seconds(1));
  limiter.decide(delay, request, at(0));
  limiter.decide(delay, request, at(0));
  EXPECT_EQ(limiter.decide(delay, request, at(0)).outcome,
            Outcome::dry_run_delayed);                             // charged: tat 3 s
  const Decided rejected = limiter.decide(delay, request, at(0));  // wait 2 s > 1 s
  EXPECT_EQ(rejected.outcome, Outcome::dry_run_rejected);
  EXPECT_EQ(rejected.retry_after, seconds(1));
  EXPECT_EQ(limiter.decide(delay, request, at(0)).retry_after,
            seconds(1));  // unchanged: not charged
}

TEST_F(LimiterTest, UnlimitedRouteDecidesNothing) {
  const RoutePolicy none{"free", {}, Action::reject, 0, false};
  EXPECT_EQ(limiter.decide(none, request, at(0)).outcome, Outcome::unlimited);
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace sluice::limit
