// The budget of throttled lines across all keys, on exact times: lines within it, the rest
// counted by route and decision and written as one summary once the second is over.
#include "sluice/observe/throttled_summary.hpp"

#include <gtest/gtest.h>

namespace sluice::observe {
namespace {

ThrottledEvent event(std::string key, std::string decision = "rejected",
                     std::string route = "api") {
  ThrottledEvent e;
  e.route = std::move(route);
  e.key = std::move(key);
  e.decision = std::move(decision);
  return e;
}

TEST(ThrottledSummary, LinesWithinTheBudgetAreWrittenTheRestCounted) {
  ThrottledSummary summary(2);
  EXPECT_TRUE(summary.admit({event("a"), 1}, 0));
  EXPECT_TRUE(summary.admit({event("b"), 1}, 10));
  EXPECT_FALSE(summary.admit({event("c"), 1}, 20));
  EXPECT_FALSE(summary.admit({event("c", "delayed"), 3}, 30));  // a line standing for three
  EXPECT_FALSE(summary.admit({event("d", "rejected", "login"), 1}, 999));
  EXPECT_EQ(summary.take(999), std::nullopt);  // the second is not over
  const auto s = summary.take(1000);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->total(), 5u);
  EXPECT_EQ(s->distinct_keys, 2u);
  EXPECT_TRUE(s->any_rejected());
  EXPECT_EQ((s->counts.at({"api", "delayed"})), 3u);
  EXPECT_EQ(ThrottledSummary::fields_of(*s)[2].value,
            R"({"api":{"delayed":3,"rejected":1},"login":{"rejected":1}})");
  EXPECT_EQ(summary.take(5000), std::nullopt);  // written once
}

TEST(ThrottledSummary, WhileASummaryIsPendingEveryLineJoinsIt) {
  // Lines written after held-back ones would put the log out of order with the summary.
  ThrottledSummary summary(1);
  EXPECT_TRUE(summary.admit({event("a"), 1}, 0));
  EXPECT_FALSE(summary.admit({event("b"), 1}, 1));
  EXPECT_FALSE(summary.admit({event("c"), 1}, 1500));
  ASSERT_EQ(summary.take(1500)->total(), 2u);
  EXPECT_TRUE(summary.admit({event("d"), 1}, 1501));  // a new second, a new budget
  EXPECT_FALSE(summary.admit({event("e"), 1}, 1502));
}

TEST(ThrottledSummary, QuietSecondsWriteNothing) {
  ThrottledSummary summary(1);
  for (std::int64_t t = 0; t < 10000; t += 1000) {
    EXPECT_TRUE(summary.admit({event("a"), 1}, t));
    EXPECT_EQ(summary.take(t + 999), std::nullopt);
  }
}

TEST(ThrottledSummary, DistinctKeysAreCountedUpToABound) {
  ThrottledSummary summary(1);
  summary.admit({event("first"), 1}, 0);
  for (std::size_t i = 0; i < ThrottledSummary::kMaxDistinctKeys + 10; ++i) {
    summary.admit({event("k" + std::to_string(i))}, 1);
  }
  const auto s = summary.take(1000);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->distinct_keys, ThrottledSummary::kMaxDistinctKeys);
  EXPECT_TRUE(s->keys_capped);
}

}  // namespace
}  // namespace sluice::observe
