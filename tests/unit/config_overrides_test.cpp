// `overrides:` (README, "Tiers and overrides"), one test per validation rule, inline YAML.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "sluice/config/to_json.hpp"
#include "sluice/core/digest.hpp"
#include "sluice/limit/overrides.hpp"
#include "support/config_checks.hpp"
#include "support/fake_request.hpp"

namespace sluice::config {
namespace {

using testing::error_of;
using testing::ok;

std::string api_route(const std::string& overrides) {
  return "routes:\n  - name: api\n    key: header:X-Api-Key\n    max_rate: 10\n"
         "    time_period: 1s\n    overrides:\n" +
         overrides;
}

TEST(ConfigOverrides, EachOverrideGetsItsOwnLimitPolicyNameAndBuckets) {
  auto c =
      ok(api_route("      - { name: partner, keys: [partner-42], max_rate: 500 }\n"
                   "      - { keys: [\"pro-*\"], time_period: 2s, weight: 2 }\n"));
  ASSERT_TRUE(c);
  const limit::LimitPolicy& base = c->routes[0].policy.limits[0];
  ASSERT_TRUE(base.overrides);
  const auto& list = base.overrides->list;
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].label, "partner");
  EXPECT_EQ(list[0].limit.policy_name, "api~partner");
  EXPECT_EQ(list[0].limit.rate.max_rate, 500);
  EXPECT_EQ(list[0].limit.rate.period, kNanosPerSecond);  // inherited
  EXPECT_EQ(list[1].label, "2");
  EXPECT_EQ(list[1].limit.policy_name, "api~2");
  EXPECT_EQ(list[1].limit.rate.max_rate, 10);
  EXPECT_EQ(list[1].limit.weight, 2);
  EXPECT_NE(list[0].limit.bucket_namespace(), base.bucket_namespace());
  EXPECT_NE(list[0].limit.bucket_namespace(), list[1].limit.bucket_namespace());
  EXPECT_EQ(base.overrides->matcher.match("partner-42"), 0u);
  EXPECT_EQ(base.overrides->matcher.match("pro-7"), 1u);
}

TEST(ConfigOverrides, TheConfigDumpShowsOverridesButNotTheirKeys) {
  auto c =
      ok(api_route("      - { name: partner, keys: [partner-42], max_rate: 500 }\n"
                   "      - { keys: [revoked-1, revoked-2], deny: true }\n"));
  ASSERT_TRUE(c);
  const std::string json = to_json(*c);
  EXPECT_NE(json.find("\"overrides\":[{\"name\":\"partner\",\"effect\":\"limit\",\"policy\":"
                      "\"api~partner\",\"max_rate\":500,\"time_period\":1,\"weight\":1},{\"name\":"
                      "\"2\",\"effect\":\"deny\"}],\"override_entries\":3"),
            std::string::npos)
      << json;
  EXPECT_EQ(json.find("partner-42"), std::string::npos);
}

TEST(ConfigOverrides, KeyValuesMayBeDigestsPrefixesOrForClientIpCidrs) {
  auto c = ok(api_route("      - { keys: [\"sha256:" + sha256_hex("abc") + "\"], deny: true }\n"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->routes[0].policy.limits[0].overrides->matcher.match("abc"), 0u);
  c =
      ok("routes:\n  - { name: ip, max_rate: 1, time_period: 1s, overrides: [{ keys: "
         "[10.0.0.0/8, \"2001:db8::/32\", 192.0.2.1], unlimited: true }] }\n");
  ASSERT_TRUE(c);
  const auto& m = c->routes[0].policy.limits[0].overrides->matcher;
  EXPECT_EQ(m.match("10.1.1.1"), 0u);
  EXPECT_EQ(m.match("192.0.2.1"), 0u);
  EXPECT_EQ(m.match("2001:db8:0:1::/64"), 0u);
}

TEST(ConfigOverrides, OverridesMayStandOnAnItemOfLimits) {
  auto c =
      ok("routes:\n  - name: api\n    limits:\n      - { key: global, max_rate: 100, "
         "time_period: 1s }\n      - { key: header:X-Api-Key, max_rate: 10, time_period: "
         "1s, overrides: [{ name: gold, keys: [g1], max_rate: 50 }] }\n");
  ASSERT_TRUE(c);
  const auto& limits = c->routes[0].policy.limits;
  EXPECT_FALSE(limits[0].overrides);
  ASSERT_TRUE(limits[1].overrides);
  EXPECT_EQ(limits[1].overrides->list[0].limit.policy_name, "api-2~gold");
}

TEST(ConfigOverrides, AKeysFileGivesOneValuePerLineWithComments) {
  const std::string path = ::testing::TempDir() + "sluice-keys-" + std::to_string(::getpid());
  std::ofstream(path) << "# pro customers\npro-1\n  pro-2   # the second\n\nsha256:"
                      << sha256_hex("pro-3") << "\n";
  auto c = ok(api_route("      - { keys_file: " + path + ", max_rate: 100 }\n"));
  ASSERT_TRUE(c);
  const auto& m = c->routes[0].policy.limits[0].overrides->matcher;
  EXPECT_EQ(m.entries(), 3u);
  EXPECT_EQ(m.match("pro-1"), 0u);
  EXPECT_EQ(m.match("pro-2"), 0u);
  EXPECT_EQ(m.match("pro-3"), 0u);
  EXPECT_EQ(m.match("# pro customers"), limit::OverrideMatcher::kNone);
  std::ofstream(path) << "pro-1\nsha256:xyz\n";
  EXPECT_EQ(error_of(api_route("      - { keys_file: " + path + ", max_rate: 100 }\n")),
            "sluice.yaml:10:22: routes[0].overrides[0].keys_file: " + path +
                ":2: a sha256: value is the 64 hex digits of the key's SHA-256");
  EXPECT_EQ(error_of(api_route("      - { keys_file: /dev/zero, max_rate: 100 }\n")),
            "sluice.yaml:10:22: routes[0].overrides[0].keys_file: /dev/zero is not a regular "
            "file");
  std::remove(path.c_str());
  EXPECT_EQ(error_of(api_route("      - { keys_file: " + path + ", max_rate: 100 }\n")),
            "sluice.yaml:10:22: routes[0].overrides[0].keys_file: cannot read " + path +
                ": No such file or directory");
}

TEST(ConfigOverrides, AnOverrideNeedsKeys) {
  EXPECT_EQ(error_of(api_route("      - { max_rate: 100 }\n")),
            "sluice.yaml:10:9: routes[0].overrides[0]: needs keys or keys_file");
}

TEST(ConfigOverrides, AnOverrideMustSetSomething) {
  EXPECT_EQ(error_of(api_route("      - { keys: [a] }\n")),
            "sluice.yaml:10:9: routes[0].overrides[0]: sets nothing: give max_rate, time_period, "
            "weight, action, max_delay, dry_run or quota, or unlimited or deny");
}

TEST(ConfigOverrides, DenyAndUnlimitedStandAlone) {
  EXPECT_EQ(error_of(api_route("      - { keys: [a], deny: true, max_rate: 5 }\n")),
            "sluice.yaml:10:9: routes[0].overrides[0]: deny leaves nothing to set: drop "
            "max_rate, time_period, weight, action, max_delay, dry_run and quota");
  EXPECT_EQ(error_of(api_route("      - { keys: [a], deny: true, unlimited: true }\n")),
            "sluice.yaml:10:9: routes[0].overrides[0]: unlimited and deny contradict each other");
}

TEST(ConfigOverrides, BadKeyValuesAreErrors) {
  EXPECT_EQ(error_of(api_route("      - { keys: [\"*\"], deny: true }\n")),
            "sluice.yaml:10:18: routes[0].overrides[0].keys[0]: \"*\" alone would match every "
            "key: drop the override's keys");
  EXPECT_EQ(error_of(api_route("      - { keys: [10.0.0.0/8], deny: true }\n")),
            "sluice.yaml:10:18: routes[0].overrides[0].keys[0]: CIDR blocks are for client_ip "
            "keys");
  EXPECT_EQ(error_of("routes:\n  - { name: ip, max_rate: 1, time_period: 1s, overrides: [{ keys: "
                     "[somebody], deny: true }] }\n"),
            "sluice.yaml:5:68: routes[0].overrides[0].keys[0]: is not an address or CIDR block, "
            "as a client_ip key needs");
}

TEST(ConfigOverrides, OverridesNeedAKeyOfOnePartThatIsNotGlobal) {
  EXPECT_EQ(error_of("routes:\n  - { name: g, key: global, max_rate: 1, time_period: 1s, "
                     "overrides: [{ keys: [a], deny: true }] }\n"),
            "sluice.yaml:5:70: routes[0].overrides: a global key has one value for every "
            "request: nothing to override");
  EXPECT_EQ(error_of("routes:\n  - { name: g, key: [client_ip, header:X-A], max_rate: 1, "
                     "time_period: 1s, overrides: [{ keys: [a], deny: true }] }\n"),
            "sluice.yaml:5:87: routes[0].overrides: overrides need a key of one part (a list key "
            "has several)");
}

TEST(ConfigOverrides, OverridesStandOnALimit) {
  EXPECT_EQ(error_of("routes:\n  - { name: u, overrides: [{ keys: [a], deny: true }] }\n"),
            "sluice.yaml:5:27: routes[0].overrides: stand on a limit: the route needs "
            "max_rate/time_period");
  EXPECT_EQ(error_of("buckets:\n  b: { key: client_ip, max_rate: 1, time_period: 1s }\n"
                     "routes:\n  - { name: u, bucket: b, overrides: [{ keys: [a], deny: true }] "
                     "}\n"),
            "sluice.yaml:7:38: routes[0].overrides: put overrides on the bucket itself, under "
            "buckets:");
}

TEST(ConfigOverrides, ANamedBucketsOverridesServeEveryRouteUnderItsName) {
  auto c =
      ok("buckets:\n  partner-api:\n    key: header:X-Api-Key\n    max_rate: 10\n"
         "    time_period: 1s\n    overrides: [{ name: partner, keys: [p-1], max_rate: 100 }]\n"
         "routes:\n  - { name: orders, match: { path_prefix: /orders }, bucket: partner-api,"
         " weight: 2 }\n  - { name: search, bucket: partner-api }\n");
  ASSERT_TRUE(c);
  const limit::LimitPolicy& orders = c->routes[0].policy.limits[0];
  ASSERT_TRUE(orders.overrides);
  testing::FakeRequest partner;
  partner.headers = {{"X-Api-Key", "p-1"}};
  limit::ResolvedPolicy resolved;
  ASSERT_EQ(limit::resolve_overrides(c->routes[0].policy, partner, resolved),
            limit::ResolvedPolicy::Kind::overridden);
  EXPECT_EQ(resolved.policy.limits[0].policy_name, "orders~partner");
  EXPECT_EQ(resolved.policy.limits[0].weight, 2) << "the route's weight, the override's rate";
  EXPECT_EQ(resolved.policy.limits[0].rate.max_rate, 100);
  limit::ResolvedPolicy other;
  limit::resolve_overrides(c->routes[1].policy, partner, other);
  EXPECT_EQ(other.policy.limits[0].policy_name, "search~partner");
  EXPECT_EQ(other.policy.limits[0].bucket_namespace(), resolved.policy.limits[0].bucket_namespace())
      << "one bucket per key for every route using the named bucket";
}

TEST(ConfigOverrides, MaxDelayNeedsDelay) {
  EXPECT_EQ(error_of(api_route("      - { keys: [a], max_delay: 1s }\n")),
            "sluice.yaml:10:33: routes[0].overrides[0].max_delay: only applies to action: delay");
  EXPECT_TRUE(ok(api_route("      - { keys: [a], action: delay, max_delay: 1s }\n")));
}

TEST(ConfigOverrides, OverrideNamesAreUniqueAndPrintable) {
  EXPECT_EQ(error_of(api_route("      - { name: a, keys: [x], deny: true }\n"
                               "      - { name: a, keys: [y], deny: true }\n")),
            "sluice.yaml:11:17: routes[0].overrides[1].name: duplicate override name \"a\"");
  EXPECT_EQ(error_of(api_route("      - { name: \"a b\", keys: [x], deny: true }\n")),
            "sluice.yaml:10:17: routes[0].overrides[0].name: must be non-empty printable text "
            "without spaces, quotes, backslashes or ~");
}

}  // namespace
}  // namespace sluice::config
