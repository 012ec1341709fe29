// `quota:` (README, "Quotas"), one test per validation rule, inline YAML.
#include <gtest/gtest.h>

#include "sluice/limit/overrides.hpp"
#include "support/config_checks.hpp"

namespace sluice::config {
namespace {

using testing::error_of;
using testing::load_body;
using testing::ok;

std::string api_route(const std::string& quota) {
  return "routes:\n  - name: api\n    key: header:X-Api-Key\n    max_rate: 10\n"
         "    time_period: 1s\n    quota: " +
         quota + "\n";
}

TEST(ConfigQuota, AQuotaStandsOnTheRoutesLimitWithItsOwnPolicyName) {
  auto c = ok(api_route("{ limit: 100000, per: month }"));
  ASSERT_TRUE(c);
  const limit::LimitPolicy& l = c->routes[0].policy.limits[0];
  ASSERT_TRUE(l.quota);
  EXPECT_EQ(l.quota->limit, 100000);
  EXPECT_EQ(l.quota->per, limit::QuotaPeriod::month);
  EXPECT_EQ(l.quota_policy_name(), "api-quota");
  EXPECT_TRUE(c->routes[0].policy.any_quota());
}

TEST(ConfigQuota, ChangingTheLimitKeepsTheCounterChangingThePeriodDoesNot) {
  auto month = ok(api_route("{ limit: 100, per: month }"));
  auto more = ok(api_route("{ limit: 500, per: month }"));
  auto day = ok(api_route("{ limit: 100, per: day }"));
  ASSERT_TRUE(month && more && day);
  EXPECT_EQ(month->routes[0].policy.limits[0].quota_namespace(),
            more->routes[0].policy.limits[0].quota_namespace());
  EXPECT_NE(month->routes[0].policy.limits[0].quota_namespace(),
            day->routes[0].policy.limits[0].quota_namespace());
}

TEST(ConfigQuota, PerIsDayWeekOrMonth) {
  EXPECT_EQ(error_of(api_route("{ limit: 10, per: year }")),
            "sluice.yaml:9:30: routes[0].quota.per: must be day, week or month");
}

TEST(ConfigQuota, LimitAndPerAreRequired) {
  EXPECT_EQ(error_of(api_route("{ per: day }")),
            "sluice.yaml:9:12: routes[0].quota.limit: is required");
  EXPECT_EQ(error_of(api_route("{ limit: 10 }")),
            "sluice.yaml:9:12: routes[0].quota.per: is required");
}

TEST(ConfigQuota, TheLimitIsAPositiveInteger) {
  EXPECT_NE(error_of(api_route("{ limit: 0, per: day }")).find("routes[0].quota.limit"),
            std::string::npos);
  EXPECT_NE(error_of(api_route("{ limit: 1.5, per: day }")).find("routes[0].quota.limit"),
            std::string::npos);
}

TEST(ConfigQuota, OneRequestMustFitTheQuota) {
  EXPECT_EQ(error_of("routes:\n  - name: api\n    max_rate: 10\n    time_period: 1s\n"
                     "    weight: 5\n    quota: { limit: 4, per: day }\n"),
            "sluice.yaml:9:12: routes[0].quota: limit 4 is below the weight of one request");
}

TEST(ConfigQuota, UnknownKeysAreErrors) {
  EXPECT_EQ(error_of(api_route("{ limit: 10, per: day, reset: monday }")),
            "sluice.yaml:9:35: routes[0].quota.reset: unknown key");
}

TEST(ConfigQuota, AQuotaNeedsALimitToStandOn) {
  EXPECT_EQ(error_of("routes:\n  - name: api\n    quota: { limit: 10, per: day }\n"),
            "sluice.yaml:6:12: routes[0].quota: stands on a limit: the route needs "
            "max_rate/time_period or bucket");
}

TEST(ConfigQuota, WithLimitsAQuotaGoesOnTheItem) {
  EXPECT_EQ(error_of("routes:\n  - name: api\n    quota: { limit: 10, per: day }\n"
                     "    limits:\n      - { max_rate: 1, time_period: 1s }\n"),
            "sluice.yaml:6:12: routes[0].quota: with limits:, a quota goes on the item it counts");
  auto c =
      ok("routes:\n  - name: api\n    limits:\n"
         "      - { max_rate: 1, time_period: 1s }\n"
         "      - { key: global, max_rate: 9, time_period: 1s,"
         " quota: { limit: 10, per: week } }\n");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->routes[0].policy.limits[0].quota);
  ASSERT_TRUE(c->routes[0].policy.limits[1].quota);
  EXPECT_EQ(c->routes[0].policy.limits[1].quota_policy_name(), "api-2-quota");
}

TEST(ConfigQuota, AnOverrideInheritsTheQuotaOrSetsItsOwn) {
  auto c = ok(api_route("{ limit: 1000, per: month }") +
              "    overrides:\n"
              "      - { name: partner, keys: [p-1], quota: { limit: 10000000, per: month } }\n"
              "      - { keys: [pro-1], max_rate: 100 }\n");
  ASSERT_TRUE(c);
  const auto& list = c->routes[0].policy.limits[0].overrides->list;
  EXPECT_EQ(list[0].limit.quota->limit, 10000000);
  EXPECT_EQ(list[0].limit.quota_policy_name(), "api~partner-quota");
  EXPECT_EQ(list[1].limit.quota->limit, 1000);
  EXPECT_NE(list[1].limit.quota_namespace(), c->routes[0].policy.limits[0].quota_namespace())
      << "an override counts its keys apart";
}

TEST(ConfigQuota, ALocalQuotaWithoutStateFileIsAWarning) {
  const auto without = load_body(api_route("{ limit: 10, per: day }"));
  ASSERT_TRUE(without.config);
  ASSERT_EQ(without.warnings.size(), 1U);
  EXPECT_EQ(without.warnings[0],
            "routes[api]: a local quota without state_file starts again from zero at every "
            "restart: set state_file, or shared: true");
  const auto with =
      load_body("state_file: /tmp/sluice.state\n" + api_route("{ limit: 10, per: day }"));
  ASSERT_TRUE(with.config);
  EXPECT_TRUE(with.warnings.empty());
  const auto plain = load_body("routes:\n  - name: api\n    max_rate: 10\n    time_period: 1s\n");
  EXPECT_TRUE(plain.warnings.empty());
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

using testing::error_of;
using testing::ok;

TEST(ConfigUsage, AUsageRouteReportsOnItsKeyAndNeedsNoLimit) {
  auto c =
      ok("routes:\n  - name: my-usage\n    key: header:X-Api-Key\n"
         "    respond: { usage: true }\n");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->routes[0].respond);
  EXPECT_TRUE(c->routes[0].respond->usage);
  EXPECT_EQ(c->routes[0].respond->usage_key.to_string(), "header:X-Api-Key");
  EXPECT_EQ(c->routes[0].respond->content_type, "application/json");
  EXPECT_TRUE(c->routes[0].policy.limits.empty());
}

TEST(ConfigUsage, AUsageRouteNeedsAKey) {
  EXPECT_EQ(error_of("routes:\n  - name: my-usage\n    respond: { usage: true }\n"),
            "sluice.yaml:6:23: routes[0].respond.usage: a usage route needs key: the key whose "
            "usage it reports");
}

TEST(ConfigUsage, AUsageRoutesBodyIsTheUsage) {
  EXPECT_EQ(error_of("routes:\n  - name: my-usage\n    key: client_ip\n"
                     "    respond: { usage: true, body: hello }\n"),
            "sluice.yaml:7:23: routes[0].respond.usage: a usage route's body is the usage: drop "
            "body and content_type");
}

TEST(ConfigUsage, AKeyWithoutALimitStillNeedsOneElsewhere) {
  EXPECT_EQ(error_of("routes:\n  - name: api\n    key: client_ip\n"),
            "sluice.yaml:6:10: routes[0].key: needs max_rate/time_period or limits");
}

}  // namespace
}  // namespace sluice::config
