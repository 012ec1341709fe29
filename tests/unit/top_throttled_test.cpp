// The heavy-hitters summary behind GET /throttled/top: against an exact count on skewed and
// uniform streams, windows by minute, and bounded memory under a million distinct keys.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "sluice/observe/top_throttled.hpp"

namespace sluice::observe {
namespace {

using Kind = TopThrottled::Kind;
constexpr std::int64_t kMinute = TopThrottled::kSliceMs;
constexpr std::int64_t kT0 = 1'800'000'000'000;  // a wall-clock instant, ms; a minute boundary
static_assert(kT0 % kMinute == 0);

std::string key_of(std::size_t i) {
  return "ip:10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
}

// A Zipf-like stream (rank r drawn with weight 1 / r^1.1) over `keys` keys.
std::vector<std::size_t> skewed_stream(std::size_t keys, std::size_t events, unsigned seed) {
  std::vector<double> weights(keys);
  for (std::size_t r = 0; r < keys; ++r) weights[r] = 1.0 / std::pow(r + 1.0, 1.1);
  std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
  std::mt19937 rng(seed);
  std::vector<std::size_t> out(events);
  for (auto& k : out) k = pick(rng);
  return out;
}

TEST(TopThrottled, SkewedStreamRanksTheTopTwentyWithinTheErrorBound) {
  TopThrottled top;
  std::map<std::size_t, std::uint64_t> exact;
  for (std::size_t k : skewed_stream(20000, 200000, 7)) {
    top.record("api", key_of(k), "", Kind::rejected, kT0 + 1000);
    ++exact[k];
  }
  std::vector<std::pair<std::uint64_t, std::size_t>> ranked;
  for (const auto& [k, n] : exact) ranked.emplace_back(n, k);
  std::sort(ranked.rbegin(), ranked.rend());

  const auto reported = top.top(kT0 + 2000, std::chrono::milliseconds(5 * kMinute), 20);
  ASSERT_EQ(reported.size(), 20u);
  // Space-Saving's bound: a reported count misses at most events / kSlots of the true one (the
  // events before the key last entered the summary), and is never above it.
  const std::uint64_t bound = 200000 / TopThrottled::kSlots;
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(reported[i].key, key_of(ranked[i].second)) << i;
    EXPECT_LE(reported[i].rejected, ranked[i].first) << i;
    EXPECT_GE(reported[i].rejected + bound, ranked[i].first) << i;
    EXPECT_EQ(reported[i].route, "api");
  }
  // The heaviest keys (over 1/kSlots of the stream) were never dropped: their counts are exact.
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(reported[i].rejected, ranked[i].first) << i;
}

TEST(TopThrottled, UniformStreamNeverOvercountsAndKeepsItsBound) {
  TopThrottled top;
  std::map<std::string, std::uint64_t> exact;
  std::mt19937 rng(11);
  std::uniform_int_distribution<std::size_t> pick(0, 4999);
  for (int i = 0; i < 100000; ++i) {
    const std::string key = key_of(pick(rng));
    top.record("api", key, "", i % 3 == 0 ? Kind::delayed : Kind::rejected, kT0 + 5);
    ++exact[key];
  }
  const auto reported = top.top(kT0 + 10, std::chrono::milliseconds(kMinute), 1000);
  EXPECT_EQ(reported.size(), TopThrottled::kSlots);
  for (const auto& e : reported) {
    EXPECT_LE(e.rejected + e.delayed, exact[e.key]) << e.key;
    EXPECT_GE(e.rejected + e.delayed, 1u);
  }
}

TEST(TopThrottled, RouteAndKeyTogetherAreTheIdentity) {
  TopThrottled top;
  top.record("search", "ip:1.2.3.4", "", Kind::rejected, kT0);
  top.record("search", "ip:1.2.3.4", "", Kind::delayed, kT0 + 1);
  top.record("login", "ip:1.2.3.4", "", Kind::rejected, kT0 + 2);
  top.record("search", "ip:1.2.3.4", "", Kind::dry_run, kT0 + 3);
  const auto reported = top.top(kT0 + 4, std::chrono::milliseconds(kMinute), 10);
  ASSERT_EQ(reported.size(), 2u);
  EXPECT_EQ(reported[0].route, "search");
  EXPECT_EQ(reported[0].rejected, 1u);
  EXPECT_EQ(reported[0].delayed, 1u);
  EXPECT_EQ(reported[0].dry_run, 1u);
  EXPECT_EQ(reported[0].last_ms, kT0 + 3);
  EXPECT_EQ(reported[1].route, "login");
}

TEST(TopThrottled, AKeyShowsTheTierItWasLastThrottledUnderAndDenialsApart) {
  TopThrottled top;
  top.record("api", "key:1", "", Kind::rejected, kT0);
  top.record("api", "key:1", "partner", Kind::rejected, kT0 + kMinute);
  top.record("api", "key:2", "3", Kind::denied, kT0 + kMinute);
  const auto reported = top.top(kT0 + kMinute + 1, std::chrono::milliseconds(5 * kMinute), 10);
  ASSERT_EQ(reported.size(), 2u);
  EXPECT_EQ(reported[0].key, "key:1");
  EXPECT_EQ(reported[0].override_label, "partner");
  EXPECT_EQ(reported[1].denied, 1u);
  EXPECT_EQ(reported[1].delayed, 0u);
  const std::string json = to_json(reported);
  EXPECT_NE(json.find("\"rejected\":2,\"delayed\":0,\"dry_run\":0,\"denied\":0,"
                      "\"override\":\"partner\""),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"denied\":1,\"override\":\"3\""), std::string::npos) << json;
}

TEST(TopThrottled, WindowsCountWholeMinutesAndMergeThem) {
  TopThrottled top;
  top.record("api", "old", "", Kind::rejected, kT0);  // minute 0
  for (int m = 1; m <= 10; ++m) top.record("api", "steady", "", Kind::rejected, kT0 + m * kMinute);
  const std::int64_t now = kT0 + 10 * kMinute + 30000;  // 30 s into minute 10
  // 5m reaches back to 5:30, inside minute 5: minutes 5 to 10.
  auto five = top.top(now, std::chrono::milliseconds(5 * kMinute), 10);
  ASSERT_EQ(five.size(), 1u);
  EXPECT_EQ(five[0].key, "steady");
  EXPECT_EQ(five[0].rejected, 6u);
  EXPECT_EQ(five[0].last_ms, kT0 + 10 * kMinute);
  auto all = top.top(now, std::chrono::milliseconds(TopThrottled::kMaxWindowMs), 10);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].rejected, 10u);
  EXPECT_EQ(all[1].key, "old");
}

TEST(TopThrottled, AMinuteMoreThanAnHourOldIsForgotten) {
  TopThrottled top;
  top.record("api", "then", "", Kind::rejected, kT0);
  // The same ring position, one lap later: the old minute is cleared, not merged.
  top.record("api", "now", "", Kind::rejected,
             kT0 + static_cast<std::int64_t>(TopThrottled::kMinutes) * kMinute);
  const auto reported = top.top(kT0 + static_cast<std::int64_t>(TopThrottled::kMinutes) * kMinute,
                                std::chrono::milliseconds(TopThrottled::kMaxWindowMs), 10);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].key, "now");
}

TEST(TopThrottled, AMillionDistinctKeysStayWithinTheBound) {
  TopThrottled top;
  for (std::size_t i = 0; i < 1000000; ++i) {
    // Spread over two hours: every minute's summary fills, then the ring wraps.
    top.record("api", key_of(i), "", Kind::rejected,
               kT0 + static_cast<std::int64_t>(i) * 120 * kMinute / 1000000);
  }
  EXPECT_LE(top.size(), TopThrottled::kSlots * TopThrottled::kMinutes);
  EXPECT_GE(top.size(), TopThrottled::kSlots * (TopThrottled::kMinutes - 1));
}

TEST(TopThrottled, JsonHasTheContractFields) {
  TopThrottled top;
  top.record("api", "header:X-Api-Key=sha256:0123", "", Kind::rejected, kT0 + 123);
  const std::string json = to_json(top.top(kT0 + 200, std::chrono::milliseconds(kMinute), 5));
  EXPECT_EQ(json,
            "[{\"route\":\"api\",\"key\":\"header:X-Api-Key=sha256:0123\",\"rejected\":1,"
            "\"delayed\":0,\"dry_run\":0,\"denied\":0,\"override\":null,\"last_ts\":\"2027-01-"
            "15T08:00:00.123Z\"}]");
}

}  // namespace
}  // namespace sluice::observe
