// What a config generation derives once for every request: the RateLimit-Policy values.
#include <gtest/gtest.h>

#include "sluice/observe/metrics.hpp"
#include "sluice/proxy/runtime.hpp"
#include "support/config_checks.hpp"

namespace sluice::proxy {
namespace {

constexpr std::int64_t at_utc(std::int64_t unix_seconds) {
  return unix_seconds * kNanosPerSecond;
}

std::shared_ptr<const Runtime> runtime_of(const std::string& routes, observe::Metrics& metrics) {
  auto config = testing::ok(routes);
  EXPECT_TRUE(config);
  return Runtime::build(config, nullptr, metrics);
}

TEST(RouteRuntime, AMonthlyQuotasPolicyNamesTheLengthOfTheMonthInForce) {
  observe::Metrics metrics;
  const auto runtime = runtime_of(
      "routes:\n  - { name: api, key: header:X-Api-Key, max_rate: 10, time_period: 1s,\n"
      "      quota: { limit: 1000, per: month } }\n",
      metrics);
  const RouteRuntime& api = runtime->of(&runtime->config->routes[0]);
  const auto policy = [&](std::int64_t unix_seconds) {
    return api.policy_header_at(at_utc(unix_seconds));
  };
  EXPECT_EQ(policy(1771113600), "\"api\";q=10;w=1, \"api-quota\";q=1000;w=2419200");  // 2026-02-15
  EXPECT_EQ(policy(1834185600), "\"api\";q=10;w=1, \"api-quota\";q=1000;w=2505600");  // 2028-02-15
  EXPECT_EQ(policy(1776211200), "\"api\";q=10;w=1, \"api-quota\";q=1000;w=2592000");  // 2026-04-15
  EXPECT_EQ(policy(1768435200), "\"api\";q=10;w=1, \"api-quota\";q=1000;w=2678400");  // 2026-01-15
  // The last nanosecond of February and the first of March, each its own month's length.
  EXPECT_EQ(api.policy_header_at(at_utc(1772323200) - 1),
            "\"api\";q=10;w=1, \"api-quota\";q=1000;w=2419200");
  EXPECT_EQ(api.policy_header_at(at_utc(1772323200)),
            "\"api\";q=10;w=1, \"api-quota\";q=1000;w=2678400");
}

TEST(RouteRuntime, ADailyQuotasPolicyNeverChanges) {
  observe::Metrics metrics;
  const auto runtime = runtime_of(
      "routes:\n  - { name: api, key: header:X-Api-Key, max_rate: 10, time_period: 1s,\n"
      "      quota: { limit: 5, per: day } }\n",
      metrics);
  const RouteRuntime& api = runtime->of(&runtime->config->routes[0]);
  EXPECT_EQ(api.policy_header_at(at_utc(1771113600)),
            "\"api\";q=10;w=1, \"api-quota\";q=5;w=86400");
  EXPECT_EQ(&api.policy_header_at(at_utc(1771113600)), &api.policy_header);
}

}  // namespace
}  // namespace sluice::proxy
