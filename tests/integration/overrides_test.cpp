// Overrides end to end (README, "Tiers and overrides"): real sockets, a real upstream and, for a
// shared tier, a real redis-server. A partner tier with its own limit and headers, an unlimited
// prefix, a denied key, CIDR blocks on client addresses.
#include <gtest/gtest.h>

#include "sluice/core/digest.hpp"
#include "support/configs.hpp"
#include "support/proxy_harness.hpp"
#include "support/redis_server.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {
namespace {

constexpr const char* kTiers = R"(
routes:
  - name: api
    match: { path_prefix: /api/ }
    key: header:X-Api-Key
    max_rate: 2
    time_period: 1h
    overrides:
      - { name: partner, keys: [partner-42], max_rate: 5 }
      - { keys: ["batch-*"], unlimited: true }
      - { keys: [revoked-17], deny: true }
)";

Headers key(const std::string& value) {
  return {{"X-Api-Key", value}};
}

int admitted(Client& client, const std::string& api_key, int requests) {
  int n = 0;
  for (int i = 0; i < requests; ++i)
    n += client.request("GET", "/api/x", key(api_key)).status == 200;
  return n;
}

TEST(Overrides, AKeyNoOverrideListsGetsTheRoutesLimit) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, kTiers));
  Client client(proxy.port());
  const Response first = client.request("GET", "/api/x", key("free-1"));
  EXPECT_EQ(first.header("ratelimit-policy"), "\"api\";q=2;w=3600");
  EXPECT_EQ(admitted(client, "free-1", 3), 1);
}

TEST(Overrides, APartnerKeyGetsItsTiersLimitBucketAndPolicyName) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, kTiers));
  Client client(proxy.port());
  const Response first = client.request("GET", "/api/x", key("partner-42"));
  EXPECT_EQ(first.status, 200u);
  EXPECT_EQ(first.header("ratelimit-policy"), "\"api~partner\";q=5;w=3600");
  EXPECT_EQ(first.header("ratelimit"), "\"api~partner\";r=4;t=720");
  EXPECT_EQ(admitted(client, "partner-42", 5), 4);
  const Response limited = client.request("GET", "/api/x", key("partner-42"));
  EXPECT_EQ(limited.status, 429u);
  EXPECT_EQ(limited.header("ratelimit-policy"), "\"api~partner\";q=5;w=3600");
  // A rejection is logged with the override that decided it.
  ASSERT_TRUE(proxy.wait_for_log("\"override\":\"partner\""));
  // The partner's requests drew nothing from the base limit's buckets.
  EXPECT_EQ(admitted(client, "free-2", 2), 2);
}

TEST(Overrides, AnUnlimitedKeyIsForwardedWithoutLimitAndCountedAsUnlimited) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, kTiers));
  Client client(proxy.port());
  for (int i = 0; i < 10; ++i) {
    const Response r = client.request("GET", "/api/x", key("batch-nightly"));
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("ratelimit"), "");
  }
  EXPECT_EQ(proxy.decisions("api", "unlimited"), 10u);
  EXPECT_EQ(upstream.request_count(), 10u);
}

TEST(Overrides, ADeniedKeyIsAnswered403NeverForwardedAndLoggedAsDenied) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, kTiers));
  Client client(proxy.port());
  const Response r = client.request("GET", "/api/x", key("revoked-17"));
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(r.header("content-type"), "application/problem+json");
  EXPECT_NE(r.body.find("\"status\":403"), std::string::npos);
  EXPECT_EQ(upstream.request_count(), 0u);
  EXPECT_EQ(proxy.decisions("api", "denied"), 1u);
  ASSERT_TRUE(proxy.wait_for_log("\"decision\":\"denied\""));
  const std::string log = proxy.log_text();
  EXPECT_NE(log.find("\"override\":\"3\""), std::string::npos);
  // The key appears as logs show keys: digested.
  EXPECT_EQ(log.find("revoked-17"), std::string::npos);
}

TEST(Overrides, CidrBlocksOverrideClientAddresses) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - name: office
    match: { path_prefix: /office }
    max_rate: 1
    time_period: 1h
    overrides: [{ keys: [127.0.0.0/8], unlimited: true }]
  - name: elsewhere
    match: { path_prefix: /elsewhere }
    max_rate: 1
    time_period: 1h
    overrides: [{ keys: [10.0.0.0/8], unlimited: true }]
)"));
  Client client(proxy.port());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client.request("GET", "/office").status, 200u);
  EXPECT_EQ(client.request("GET", "/elsewhere").status, 200u);
  EXPECT_EQ(client.request("GET", "/elsewhere").status, 429u);
}

TEST(Overrides, ASharedLimitsOverrideIsSharedToo) {
  RedisServer redis;
  TestUpstream upstream;
  const std::string cfg = with_upstream(upstream, "redis: { address: \"" + redis.address() +
                                                      "\" }\n" + kTiers + "    shared: true\n");
  ProxyHarness a(cfg);
  ProxyHarness b(cfg);
  ASSERT_TRUE(a.wait_for_log("\"event\":\"redis_up\""));
  ASSERT_TRUE(b.wait_for_log("\"event\":\"redis_up\""));
  Client ca(a.port());
  Client cb(b.port());
  EXPECT_EQ(admitted(ca, "partner-42", 3) + admitted(cb, "partner-42", 4), 5);
  EXPECT_EQ(redis.cli({"EXISTS", "sluice:route:api#0~1:partner:header:X-Api-Key:5/3600s:sha256:" +
                                     sha256_hex("header:X-Api-Key=partner-42")}),
            "1");
}

TEST(Overrides, ANamedBucketsOverrideIsOneBucketAcrossItsRoutes) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
buckets:
  api:
    key: header:X-Api-Key
    max_rate: 2
    time_period: 1h
    overrides: [{ name: partner, keys: [partner-42], max_rate: 5 }]
routes:
  - { name: orders, match: { path_prefix: /orders }, bucket: api }
  - { name: search, match: { path_prefix: /search }, bucket: api }
)"));
  Client client(proxy.port());
  const Response first = client.request("GET", "/orders", key("partner-42"));
  EXPECT_EQ(first.header("ratelimit-policy"), "\"orders~partner\";q=5;w=3600");
  int n = 1;
  for (int i = 0; i < 3; ++i)
    n += client.request("GET", "/search", key("partner-42")).status == 200;
  for (int i = 0; i < 3; ++i)
    n += client.request("GET", "/orders", key("partner-42")).status == 200;
  EXPECT_EQ(n, 5);
  const Response limited = client.request("GET", "/search", key("partner-42"));
  EXPECT_EQ(limited.status, 429u);
  EXPECT_EQ(limited.header("ratelimit-policy"), "\"search~partner\";q=5;w=3600");
  EXPECT_EQ(client.request("GET", "/search", key("free-1")).header("ratelimit-policy"),
            "\"search\";q=2;w=3600");
}

TEST(Overrides, TheAdminExplainShowsLiveLevelsAndChargesNothing) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(upstream, kTiers));
  Client client(proxy.port());
  EXPECT_EQ(admitted(client, "partner-42", 2), 2);
  const std::string target = "/explain?path=/api/x&header=X-Api-Key:partner-42";
  const std::string first = admin_get(proxy, target);
  EXPECT_NE(first.find("\"policy\":\"api~partner\",\"override\":\"partner\""), std::string::npos)
      << first;
  EXPECT_NE(first.find("\"remaining\":3,\"decision\":\"allowed\"}],\"decision\":\"allowed\"}"),
            std::string::npos)
      << first;
  // Asking charged nothing: the same answer, and the partner still has its three.
  EXPECT_EQ(admin_get(proxy, target), first);
  EXPECT_EQ(admitted(client, "partner-42", 4), 3);
  const std::string full = admin_get(proxy, target);
  EXPECT_NE(full.find("\"remaining\":0,\"decision\":\"rejected\",\"retry_after_s\":720}],"
                      "\"decision\":\"rejected\",\"retry_after_s\":720}"),
            std::string::npos)
      << full;
  EXPECT_NE(admin_get(proxy, "/explain?path=/api/x&header=X-Api-Key:revoked-17")
                .find("\"decision\":\"denied\""),
            std::string::npos);
  admin_get(proxy, "/explain?method=GET", 400);
}

}  // namespace
}  // namespace sluice::testing
