// The limits an exchange asks: a delay past the caller's deadline, and a cancel, on exact times.
#include "sluice/proxy/limits.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <limits>

#include "support/fake_request.hpp"
#include "support/manual_clock.hpp"

namespace sluice::proxy {
namespace {

using testing::seconds;

constexpr Nanos kNoDeadline = std::numeric_limits<Nanos>::max();

// One request a second, held up to 10 s.
limit::RoutePolicy one_per_second() {
  const auto l =
      limit::LimitPolicy::make("r", "route:r#0", limit::KeySpec{{{limit::KeyKind::client_ip, {}}}},
                               limit::Rate{1, seconds(1)}, 1);
  return limit::RoutePolicy{"r", {l}, limit::Action::delay, seconds(10), false};
}

class LimitsTest : public ::testing::Test {
 protected:
  struct Decided {
    limit::Decision decision;
    LimitTicket ticket;
  };
  Decided decide(Nanos max_wait = kNoDeadline) {
    Decided out;
    asio::io_context io;
    auto done =
        asio::co_spawn(io, limits.decide(policy, request, max_wait, out.ticket), asio::use_future);
    io.run();
    out.decision = done.get().held();
    return out;
  }

  testing::ManualClock clock;
  limit::BucketTable table{1000};
  limit::QuotaTable quotas{1000};
  limit::Limiter local{table, quotas, KeyedHash({1, 2})};
  Limits limits{local, clock, nullptr};
  limit::RoutePolicy policy = one_per_second();
  testing::FakeRequest request;
};

TEST_F(LimitsTest, ADelayWithinTheCallersDeadlineIsHeld) {
  decide();
  const Decided second = decide(seconds(1));
  EXPECT_EQ(second.decision.outcome, limit::Outcome::delayed);
  EXPECT_EQ(second.decision.wait, seconds(1));
  EXPECT_FALSE(second.ticket.past_deadline);
  EXPECT_EQ(second.ticket.shared, nullptr);
}

TEST_F(LimitsTest, ADelayPastTheCallersDeadlineIsRejectedAndChargedNothing) {
  decide();
  const Decided late = decide(seconds(1) - 1);
  EXPECT_EQ(late.decision.outcome, limit::Outcome::rejected);
  EXPECT_EQ(late.decision.retry_after, seconds(1));
  EXPECT_TRUE(late.ticket.past_deadline);
  // Its slot was given back: the next request waits one period, not two.
  EXPECT_EQ(decide().decision.wait, seconds(1));
}

TEST_F(LimitsTest, CancelGivesADelayedRequestsSlotBack) {
  decide();
  Decided held = decide();
  ASSERT_EQ(held.decision.wait, seconds(1));
  clock.advance(seconds(0.5));
  limits.cancel(held.decision, held.ticket);
  EXPECT_EQ(decide().decision.wait, seconds(0.5));
}

}  // namespace
}  // namespace sluice::proxy
