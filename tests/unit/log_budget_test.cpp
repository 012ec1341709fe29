// The throttled-line budget on exact times: floods summarised, counts that add up.
#include "sluice/observe/log_budget.hpp"

#include <gtest/gtest.h>

namespace sluice::observe {
namespace {

ThrottledEvent event(std::string key, std::string decision = "rejected") {
  ThrottledEvent e;
  e.route = "api";
  e.key = std::move(key);
  e.decision = std::move(decision);
  return e;
}

bool admit(LogBudget& budget, const std::string& key, std::int64_t now_ms,
           std::uint64_t* suppressed = nullptr) {
  ThrottledEvent e = event(key);
  const auto verdict = budget.admit(e, now_ms);
  if (suppressed != nullptr) *suppressed = verdict.suppressed;
  return verdict.write;
}

TEST(LogBudget, OneLinePerBucketPerSecondAndTheNextCarriesTheCount) {
  LogBudget budget(1);
  EXPECT_TRUE(admit(budget, "a", 0));
  EXPECT_FALSE(admit(budget, "a", 1));
  EXPECT_FALSE(admit(budget, "a", 999));
  EXPECT_TRUE(admit(budget, "b", 500));  // another bucket has its own budget
  std::uint64_t suppressed = 0;
  EXPECT_TRUE(admit(budget, "a", 1000, &suppressed));
  EXPECT_EQ(suppressed, 2u);
  EXPECT_FALSE(admit(budget, "a", 1001));
}

TEST(LogBudget, DecisionsOfOneKeyAreSeparateBuckets) {
  LogBudget budget(1);
  ThrottledEvent rejected = event("a", "rejected");
  ThrottledEvent delayed = event("a", "delayed");
  EXPECT_TRUE(budget.admit(rejected, 0).write);
  EXPECT_TRUE(budget.admit(delayed, 0).write);
}

TEST(LogBudget, AFloodThatEndsHasItsLastCountDrainedOnce) {
  LogBudget budget(2);
  for (int i = 0; i < 10; ++i) admit(budget, "a", i);  // 2 written, 8 held back
  EXPECT_TRUE(budget.drain(999).empty());              // the second is not over yet
  const auto summaries = budget.drain(1000);
  ASSERT_EQ(summaries.size(), 1u);
  EXPECT_EQ(summaries[0].suppressed, 7u);  // the summary is the 8th's own line
  EXPECT_EQ(summaries[0].last.key, "a");
  EXPECT_TRUE(budget.drain(5000).empty());
}

TEST(LogBudget, WrittenLinesPlusSuppressedCountsEqualTheEvents) {
  LogBudget budget(1);
  std::uint64_t written = 0;     // events whose own line was written
  std::uint64_t summaries = 0;   // lines written by drain()
  std::uint64_t suppressed = 0;  // every count any line carried
  const int events = 5000;
  for (int i = 0; i < events; ++i) {
    std::uint64_t carried = 0;
    if (admit(budget, i % 3 == 0 ? "a" : "b", i, &carried)) ++written;
    suppressed += carried;
    if (i % 700 == 0) {
      for (const auto& s : budget.drain(i)) {
        ++summaries;
        suppressed += s.suppressed;
      }
    }
  }
  for (const auto& s : budget.drain(1 << 30)) {
    ++summaries;
    suppressed += s.suppressed;
  }
  EXPECT_EQ(written + summaries + suppressed, static_cast<std::uint64_t>(events));
  // Two buckets over five seconds: a handful of lines, not thousands.
  EXPECT_LE(written + summaries, 2u * (events / 1000 + 1) + 8u);
}

TEST(LogBudget, ZeroMeansEveryLine) {
  LogBudget budget(0);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(admit(budget, "a", 0));
}

TEST(LogBudget, QuietBucketsAreForgotten) {
  LogBudget budget(1);
  EXPECT_TRUE(admit(budget, "a", 0));
  EXPECT_TRUE(budget.drain(2000).empty());  // forgotten: nothing was held back
  std::uint64_t suppressed = 7;
  EXPECT_TRUE(admit(budget, "a", 2001, &suppressed));
  EXPECT_EQ(suppressed, 0u);
}

}  // namespace
}  // namespace sluice::observe
