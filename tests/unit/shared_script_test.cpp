// The Lua of shared buckets, run by a real redis-server on a fixed clock: the GCRA of
// limit/gcra.hpp at exact boundaries (to the microsecond, TIME's resolution), and the
// never-over-admitted invariant under random interleavings of several instances' calls.
#include "sluice/redis/scripts.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "support/manual_clock.hpp"
#include "support/redis_server.hpp"

namespace sluice::redis {
namespace {

using limit::Claim;
using limit::Rate;
using testing::millis;
using testing::seconds;

constexpr std::int64_t kBaseSeconds = 1'800'000'000;  // the fixed clock's epoch second

class SharedScript : public ::testing::Test {
 protected:
  // decide at `at` nanoseconds after the fixed epoch (a whole number of microseconds).
  SharedVerdict decide(Nanos at, const std::vector<std::string>& keys,
                       const std::vector<Claim>& claims, Nanos max_wait, Nanos not_before = 0) {
    const auto args = decide_args(max_wait, not_before, true, claims);
    return batch(at, {{keys, args}}).at(0);
  }
  // One decide call for several requests: their verdicts, in order.
  std::vector<SharedVerdict> batch(Nanos at, const std::vector<DecideCall>& calls) {
    const Reply reply = raw(at, calls);
    std::string why;
    EXPECT_TRUE(is_decide_batch(reply, calls.size(), why)) << why;
    std::vector<SharedVerdict> verdicts;
    for (std::size_t i = 0; i < calls.size() && i < reply.elements.size(); ++i) {
      auto verdict = parse_verdict(reply.elements[i], calls[i].keys.size(), why);
      EXPECT_TRUE(verdict.has_value()) << why;
      verdicts.push_back(verdict.value_or(SharedVerdict{}));
    }
    verdicts.resize(calls.size());
    return verdicts;
  }
  long long refund(Nanos at, const std::vector<std::string>& keys, const SharedVerdict& v) {
    const Script script =
        refund_script_at(kBaseSeconds + at / kNanosPerSecond, (at % kNanosPerSecond) / 1000);
    const Result r = client_.call(script_command(script, true, keys, refund_args(v)));
    EXPECT_TRUE(r.ok() && r.reply.type == Reply::Type::integer) << r.problem << r.reply.text;
    return r.reply.integer;
  }
  Reply raw(Nanos at, const std::vector<DecideCall>& calls) {
    const Script script =
        decide_script_at(kBaseSeconds + at / kNanosPerSecond, (at % kNanosPerSecond) / 1000);
    const Result r = client_.call(decide_command(script, true, calls));
    EXPECT_TRUE(r.ok()) << r.problem;
    return r.reply;
  }
  std::string get(const std::string& key) { return server_.cli({"GET", key}); }

  testing::RedisServer server_;
  testing::RedisClient client_{server_};
};

const Rate kFivePerTenSeconds{5, seconds(10)};  // T = 2 s
const Claim kOne{kFivePerTenSeconds.cost(1), kFivePerTenSeconds.tau()};

TEST_F(SharedScript, AFreshBucketAdmitsTheBurstThenOneUnitPerT) {
  for (int i = 0; i < 5; ++i) {
    const SharedVerdict v = decide(0, {"b"}, {kOne}, 0);
    EXPECT_TRUE(v.admitted) << i;
    EXPECT_EQ(v.wait, 0);
    EXPECT_EQ(v.backlog[0], seconds(2) * (i + 1));
  }
  const SharedVerdict full = decide(0, {"b"}, {kOne}, 0);
  EXPECT_FALSE(full.admitted);
  EXPECT_EQ(full.retry_after, seconds(2));
  EXPECT_EQ(full.deciding, 1u);
  EXPECT_EQ(full.backlog[0], seconds(10));
}

TEST_F(SharedScript, AdmitsAtTheExactBoundaryAndNotAMicrosecondBefore) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(decide(0, {"b"}, {kOne}, 0).admitted);
  const SharedVerdict early = decide(seconds(2) - 1000, {"b"}, {kOne}, 0);
  EXPECT_FALSE(early.admitted);
  EXPECT_EQ(early.retry_after, 1000);
  EXPECT_TRUE(decide(seconds(2), {"b"}, {kOne}, 0).admitted);
  EXPECT_FALSE(decide(seconds(2), {"b"}, {kOne}, 0).admitted);
}

TEST_F(SharedScript, ReservationsQueueInArrivalOrderWithExactWaits) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(decide(0, {"b"}, {kOne}, seconds(5)).admitted);
  EXPECT_EQ(decide(millis(1), {"b"}, {kOne}, seconds(5)).wait, seconds(2) - millis(1));
  EXPECT_EQ(decide(millis(1), {"b"}, {kOne}, seconds(5)).wait, seconds(4) - millis(1));
  const SharedVerdict too_far = decide(millis(1), {"b"}, {kOne}, seconds(5));
  EXPECT_FALSE(too_far.admitted);
  EXPECT_EQ(too_far.retry_after, seconds(1) - millis(1));
}

TEST_F(SharedScript, ARejectionChargesNoBucket) {
  ASSERT_TRUE(decide(0, {"a"}, {Claim{seconds(10), seconds(10)}}, 0).admitted);  // a is full
  const std::string b_before = get("b");
  const SharedVerdict v = decide(0, {"b", "a"}, {kOne, kOne}, 0);
  EXPECT_FALSE(v.admitted);
  EXPECT_EQ(v.deciding, 2u);
  EXPECT_EQ(get("b"), b_before);
  EXPECT_EQ(get("b"), "");  // never written
}

TEST_F(SharedScript, SeveralBucketsWaitForTheLatestAndAreChargedAtThatSlot) {
  const Claim slow{seconds(4), seconds(4)};  // one unit per 4 s, burst 1
  ASSERT_TRUE(decide(0, {"slow"}, {slow}, 0).admitted);
  const SharedVerdict v = decide(0, {"fast", "slow"}, {kOne, slow}, seconds(10));
  ASSERT_TRUE(v.admitted);
  EXPECT_EQ(v.wait, seconds(4));
  EXPECT_EQ(v.deciding, 2u);
  // "fast" drained until the slot: one unit charged at t = 4 s.
  EXPECT_EQ(v.backlog[0], seconds(4) + seconds(2));
  EXPECT_EQ(get("fast"), std::to_string(kBaseSeconds + 6) + ":000000000");
}

TEST_F(SharedScript, NotBeforeIsTheCallersLocalLimitsSlot) {
  const SharedVerdict v = decide(0, {"b"}, {kOne}, seconds(5), seconds(3));
  ASSERT_TRUE(v.admitted);
  EXPECT_EQ(v.wait, seconds(3));
  EXPECT_EQ(v.deciding, 0u);
  EXPECT_EQ(v.backlog[0], seconds(5));
  const SharedVerdict late = decide(0, {"c"}, {kOne}, seconds(2), seconds(3));
  EXPECT_FALSE(late.admitted);
  EXPECT_EQ(late.retry_after, seconds(1));
  EXPECT_EQ(get("c"), "");
}

TEST_F(SharedScript, ARefundGivesBackOnlyTheLastReservation) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(decide(0, {"b"}, {kOne}, seconds(10)).admitted);
  const SharedVerdict first = decide(0, {"b"}, {kOne}, seconds(10));
  const SharedVerdict second = decide(0, {"b"}, {kOne}, seconds(10));
  ASSERT_EQ(second.wait, seconds(4));
  EXPECT_EQ(refund(millis(1), {"b"}, first), 0);  // second sits behind it: the slot stays used
  EXPECT_EQ(refund(millis(1), {"b"}, second), 1);
  EXPECT_EQ(get("b"), first.set[0]);
  // The freed slot is the next request's.
  EXPECT_EQ(decide(millis(1), {"b"}, {kOne}, seconds(10)).wait, seconds(4) - millis(1));
}

TEST_F(SharedScript, WhatARefundNeedsIsReturnedOnlyForAWaitOrWhenAsked) {
  const std::vector<std::string> keys{"b"};
  const auto call = [&](Nanos max_wait, bool refundable) {
    const auto args = decide_args(max_wait, 0, refundable, std::vector<Claim>{kOne});
    return batch(0, {{keys, args}}).at(0);
  };
  EXPECT_TRUE(call(0, false).found.empty());  // admitted at once: never given back
  EXPECT_EQ(call(0, true).found.size(), 1u);  // mixed limits may give it back
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(call(0, false).admitted);
  const SharedVerdict waiting = call(seconds(5), false);
  ASSERT_GT(waiting.wait, 0);
  EXPECT_EQ(waiting.set.size(), 1u);
}

TEST_F(SharedScript, ABatchDecidesItsRequestsInOrderAsSeparateCallsWould) {
  const std::vector<std::string> b{"b"};
  const auto now = decide_args(0, 0, false, std::vector<Claim>{kOne});
  const auto queued = decide_args(seconds(5), 0, false, std::vector<Claim>{kOne});
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(decide(0, b, {kOne}, 0).admitted);
  // The fifth unit, then a full bucket, then a place in the queue behind the fifth.
  const auto verdicts = batch(0, {{b, now}, {b, now}, {b, queued}, {b, queued}});
  EXPECT_TRUE(verdicts[0].admitted);
  EXPECT_EQ(verdicts[0].wait, 0);
  EXPECT_FALSE(verdicts[1].admitted);
  EXPECT_EQ(verdicts[1].retry_after, seconds(2));
  EXPECT_TRUE(verdicts[2].admitted);
  EXPECT_EQ(verdicts[2].wait, seconds(2));
  EXPECT_TRUE(verdicts[3].admitted);
  EXPECT_EQ(verdicts[3].wait, seconds(4));
  EXPECT_EQ(verdicts[3].backlog[0], seconds(14));
}

TEST_F(SharedScript, ARequestRejectedInABatchChargesNoneOfItsBucketsAndTheNextOneGoesOn) {
  const std::vector<std::string> a{"a"};
  const std::vector<std::string> ba{"b", "a"};
  const std::vector<std::string> b{"b"};
  const auto fill_a = decide_args(0, 0, false, std::vector<Claim>{Claim{seconds(10), seconds(10)}});
  const auto both = decide_args(0, 0, false, std::vector<Claim>{kOne, kOne});
  const auto one = decide_args(0, 0, false, std::vector<Claim>{kOne});
  const auto verdicts = batch(0, {{a, fill_a}, {ba, both}, {b, one}});
  EXPECT_TRUE(verdicts[0].admitted);
  EXPECT_FALSE(verdicts[1].admitted);
  EXPECT_EQ(verdicts[1].deciding, 2u);
  ASSERT_TRUE(verdicts[2].admitted);
  EXPECT_EQ(verdicts[2].backlog[0], seconds(2));  // one unit: the rejected request took none
}

TEST_F(SharedScript, AForeignValueFailsOnlyItsOwnRequestOfABatch) {
  server_.cli({"SET", "x", "hello"});
  const std::vector<std::string> b{"b"};
  const std::vector<std::string> bx{"b", "x"};
  const auto one = decide_args(0, 0, false, std::vector<Claim>{kOne});
  const auto two = decide_args(0, 0, false, std::vector<Claim>{kOne, kOne});
  const Reply reply = raw(0, {{b, one}, {bx, two}, {b, one}});
  std::string why;
  ASSERT_TRUE(is_decide_batch(reply, 3, why)) << why;
  ASSERT_TRUE(reply.elements[1].is_error());
  EXPECT_NE(reply.elements[1].text.find("does not hold a sluice bucket"), std::string::npos)
      << reply.elements[1].text;
  EXPECT_FALSE(parse_verdict(reply.elements[1], 2, why).has_value());
  // b was charged by the first and the third request only.
  const auto third = parse_verdict(reply.elements[2], 1, why);
  ASSERT_TRUE(third.has_value()) << why;
  EXPECT_EQ(third->backlog[0], seconds(4));
}

TEST_F(SharedScript, ARefundOfABucketThatDrainedMeanwhileLeavesItEmpty) {
  const SharedVerdict v = decide(0, {"b"}, {kOne}, 0);
  ASSERT_TRUE(v.admitted);
  EXPECT_EQ(refund(0, {"b"}, v), 1);
  EXPECT_EQ(get("b"), "");  // deleted: an empty bucket takes no memory
}

TEST_F(SharedScript, AKeyExpiresWhenItsBucketWouldBeEmpty) {
  ASSERT_TRUE(decide(0, {"b"}, {kOne}, 0).admitted);
  const long long ttl = std::stoll(server_.cli({"PTTL", "b"}));
  EXPECT_GT(ttl, 1000);
  EXPECT_LE(ttl, 2000);
}

TEST_F(SharedScript, AValueSluiceDidNotWriteIsAnError) {
  server_.cli({"SET", "b", "hello"});
  const std::vector<std::string> b{"b"};
  const auto one = decide_args(0, 0, false, std::vector<Claim>{kOne});
  const Reply foreign = raw(0, {{b, one}}).elements.at(0);
  ASSERT_TRUE(foreign.is_error());
  EXPECT_NE(foreign.text.find("does not hold a sluice bucket"), std::string::npos) << foreign.text;
  server_.cli({"DEL", "b"});
  server_.cli({"LPUSH", "b", "x"});
  const Reply wrong_type = raw(0, {{b, one}}).elements.at(0);
  ASSERT_TRUE(wrong_type.is_error());
  EXPECT_NE(wrong_type.text.find("WRONGTYPE"), std::string::npos) << wrong_type.text;
  std::string why;
  EXPECT_FALSE(parse_verdict(wrong_type, 1, why).has_value());
}

// The invariant of docs/DESIGN.md ("The bucket") across instances: whatever the interleaving of
// admits, reservations and cancellations, the admitted (release, amount) sequence replayed into a
// fresh bucket with has_capacity semantics is always admitted.
TEST_F(SharedScript, RandomInterleavingsNeverOverAdmit) {
  std::mt19937_64 rng(20261128);
  const Rate rate{3, seconds(1)};
  for (int round = 0; round < 6; ++round) {
    const std::string key = "p" + std::to_string(round);
    struct Admitted {
      Nanos release;
      double amount;
      SharedVerdict verdict;
      bool cancelled = false;
    };
    std::vector<Admitted> admitted;
    Nanos now = 0;
    for (int step = 0; step < 300; ++step) {
      now += static_cast<Nanos>(rng() % 400) * 1000;  // whole microseconds, as TIME gives
      now += (rng() % 4 == 0) ? millis(static_cast<std::int64_t>(rng() % 300)) : 0;
      const int op = static_cast<int>(rng() % 20);
      if (op < 1) {
        // Cancel a reservation still waiting for its slot, as its client hangs up.
        std::vector<Admitted*> waiting;
        for (auto& a : admitted) {
          if (!a.cancelled && a.release > now) waiting.push_back(&a);
        }
        if (waiting.empty()) continue;
        Admitted& a = *waiting[rng() % waiting.size()];
        refund(now, {key}, a.verdict);
        a.cancelled = true;  // refunded or not, it never went
        continue;
      }
      const double amount = 1 + static_cast<double>(rng() % 2);
      const Claim claim{rate.cost(amount), rate.tau()};
      const Nanos max_wait = op < 12 ? 0 : millis(static_cast<std::int64_t>(rng() % 2000));
      const SharedVerdict v = decide(now, {key}, {claim}, max_wait);
      if (v.admitted) admitted.push_back({now + v.wait, amount, v});
    }
    std::vector<std::pair<Nanos, double>> went;
    for (const auto& a : admitted) {
      if (!a.cancelled) went.emplace_back(a.release, a.amount);
    }
    std::sort(went.begin(), went.end());
    ASSERT_GE(went.size(), 10u) << admitted.size() << " admitted, " << went.size() << " went";
    Nanos tat = limit::kFreshTat;
    for (const auto& [release, amount] : went) {
      const Claim claim{rate.cost(amount), rate.tau()};
      ASSERT_TRUE(limit::has_capacity(tat, release, claim))
          << "round " << round << " at " << release;
      tat = limit::charged(tat, release, claim);
    }
  }
}

}  // namespace
}  // namespace sluice::redis
