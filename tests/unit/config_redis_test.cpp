// The redis: block and `shared` (README, "Configuration" and "Shared limits across instances"), one
// test per validation rule, inline YAML.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "sluice/config/load.hpp"
#include "sluice/config/to_json.hpp"
#include "support/config_checks.hpp"

namespace sluice::config {
namespace {

using testing::error_of;
using testing::ok;

TEST(ConfigRedis, AddressFormsAndDefaults) {
  auto c = ok("redis: { address: \"redis://app:s3cret@cache.internal:6380/2\" }\n");
  ASSERT_TRUE(c && c->redis);
  EXPECT_EQ(c->redis->host, "cache.internal");
  EXPECT_EQ(c->redis->port, 6380);
  EXPECT_EQ(c->redis->user, "app");
  EXPECT_EQ(c->redis->password, "s3cret");
  EXPECT_EQ(c->redis->db, 2);
  EXPECT_EQ(c->redis->timeout, 50 * kNanosPerMilli);
  EXPECT_EQ(c->redis->on_error, OnRedisError::local);
  EXPECT_EQ(c->redis->prefix, "sluice:");
  c = ok("redis: { address: \"redis://:p%40ss@[::1]\" }\n");
  ASSERT_TRUE(c && c->redis);
  EXPECT_EQ(c->redis->host, "::1");
  EXPECT_EQ(c->redis->port, 6379);
  EXPECT_EQ(c->redis->user, "");
  EXPECT_EQ(c->redis->password, "p@ss");
  c =
      ok("redis: { address: \"unix:///run/redis.sock\", timeout: 20ms, on_error: reject, "
         "prefix: \"rl:\" }\n");
  ASSERT_TRUE(c && c->redis);
  EXPECT_EQ(c->redis->unix_path, "/run/redis.sock");
  EXPECT_EQ(c->redis->timeout, 20 * kNanosPerMilli);
  EXPECT_EQ(c->redis->on_error, OnRedisError::reject);
  EXPECT_EQ(c->redis->prefix, "rl:");
}

TEST(ConfigRedis, ARedissAddressTurnsTlsOnWithTheSystemCaStore) {
  auto c = ok("redis: { address: \"rediss://cache.internal:6380\" }\n");
  ASSERT_TRUE(c && c->redis && c->redis->tls);
  EXPECT_EQ(c->redis->host, "cache.internal");
  EXPECT_EQ(*c->redis->tls, RedisTls{});
  EXPECT_EQ(c->redis->address(), "rediss://cache.internal:6380");
  c = ok("redis: { address: \"redis://cache.internal\" }\n");
  ASSERT_TRUE(c && c->redis);
  EXPECT_FALSE(c->redis->tls);
}

TEST(ConfigRedis, ATlsBlockTurnsTlsOnWithItsFiles) {
  auto c =
      ok("redis: { address: \"redis://10.0.0.5\", tls: { ca: /etc/ca.pem, cert: /etc/c.pem, "
         "key: /etc/c.key } }\n");
  ASSERT_TRUE(c && c->redis && c->redis->tls);
  EXPECT_EQ(c->redis->tls->ca, "/etc/ca.pem");
  EXPECT_EQ(c->redis->tls->cert, "/etc/c.pem");
  EXPECT_EQ(c->redis->tls->key, "/etc/c.key");
  EXPECT_FALSE(c->redis->tls->insecure);
  c = ok("redis: { address: \"rediss://10.0.0.5\", tls: { insecure: true } }\n");
  ASSERT_TRUE(c && c->redis && c->redis->tls);
  EXPECT_TRUE(c->redis->tls->insecure);
}

TEST(ConfigRedis, TlsRulesAreErrors) {
  EXPECT_EQ(error_of("redis: { address: \"rediss://h\", tls: { ca: /a, insecure: true } }\n"),
            "sluice.yaml:4:38: redis.tls: ca and insecure: true contradict each other: keep one");
  EXPECT_EQ(error_of("redis: { address: \"rediss://h\", tls: { cert: /c } }\n"),
            "sluice.yaml:4:38: redis.tls: a client certificate needs both cert and key");
  EXPECT_EQ(error_of("redis: { address: \"unix:///run/r.sock\", tls: { ca: /a } }\n"),
            "sluice.yaml:4:46: redis.tls: TLS needs a TCP address (redis:// or rediss://), not a "
            "unix socket");
  EXPECT_EQ(error_of("redis: { address: \"rediss://h\", tls: { verify: no } }\n"),
            "sluice.yaml:4:40: redis.tls.verify: unknown key");
}

TEST(ConfigRedis, SentinelNamesItsSentinelsAndTheMaster) {
  ::setenv("SLUICE_TEST_SENTINEL_PW", "s3", 1);
  auto c =
      ok("redis: { sentinel: { addresses: [10.0.0.5, \"10.0.0.6:26380\", \"[::1]:26381\"], "
         "master: limits, password_env: SLUICE_TEST_SENTINEL_PW } }\n");
  ::unsetenv("SLUICE_TEST_SENTINEL_PW");
  ASSERT_TRUE(c && c->redis && c->redis->sentinel);
  const RedisSentinel& s = *c->redis->sentinel;
  ASSERT_EQ(s.addresses.size(), 3u);
  EXPECT_EQ(s.addresses[0], (RedisSentinel::Address{"10.0.0.5", 26379}));
  EXPECT_EQ(s.addresses[1], (RedisSentinel::Address{"10.0.0.6", 26380}));
  EXPECT_EQ(s.addresses[2], (RedisSentinel::Address{"::1", 26381}));
  EXPECT_EQ(s.master, "limits");
  EXPECT_EQ(s.password, "s3");
  EXPECT_EQ(c->redis->address(), "sentinel:limits");  // until the master is found
}

TEST(ConfigRedis, AnAclUserMayBeNamedBesideTheAddressOrTheSentinels) {
  auto c = ok("redis: { sentinel: { addresses: [h], master: m }, user: limiter }\n");
  ASSERT_TRUE(c && c->redis);
  EXPECT_EQ(c->redis->user, "limiter");
  EXPECT_EQ(error_of("redis: { address: \"redis://app@h\", user: other }\n"),
            "sluice.yaml:4:42: redis.user: the address already has a user: keep one of them");
}

TEST(ConfigRedis, SentinelRulesAreErrors) {
  EXPECT_EQ(
      error_of("redis: { address: \"redis://h\", sentinel: { addresses: [h], master: m } }\n"),
      "sluice.yaml:4:42: redis: set one of address, sentinel and cluster, not several");
  EXPECT_EQ(error_of("redis: { sentinel: { addresses: [h] } }\n"),
            "sluice.yaml:4:20: redis.sentinel.master: is required");
  EXPECT_EQ(error_of("redis: { sentinel: { addresses: [], master: m } }\n"),
            "sluice.yaml:4:33: redis.sentinel.addresses: must be a list of host:port (port 26379 "
            "if left out)");
  EXPECT_EQ(error_of("redis: { sentinel: { addresses: [\"h:99999\"], master: m } }\n"),
            "sluice.yaml:4:34: redis.sentinel.addresses[0]: has an invalid port");
  EXPECT_EQ(
      error_of("redis: { sentinel: { addresses: [h], master: m, password_env: NOT_SET_X } }\n"),
      "sluice.yaml:4:63: redis.sentinel.password_env: environment variable NOT_SET_X is not "
      "set");
}

TEST(ConfigRedis, ClusterNamesItsSeedNodes) {
  auto c =
      ok("redis: { cluster: [10.0.1.1, \"10.0.1.2:7000\", \"rediss://[::1]:7001\"], user: rl }\n");
  ASSERT_TRUE(c && c->redis);
  const auto& seeds = c->redis->cluster;
  ASSERT_EQ(seeds.size(), 3u);
  EXPECT_EQ(seeds[0], (RedisNode{"10.0.1.1", 6379}));
  EXPECT_EQ(seeds[1], (RedisNode{"10.0.1.2", 7000}));
  EXPECT_EQ(seeds[2], (RedisNode{"::1", 7001}));
  EXPECT_TRUE(c->redis->tls);  // a rediss:// seed turns TLS on for every node
  EXPECT_EQ(c->redis->user, "rl");
  EXPECT_EQ(c->redis->address(), "cluster:10.0.1.1:6379");  // until the map is learned
  EXPECT_NE(to_json(*c).find("\"cluster\":[\"10.0.1.1:6379\",\"10.0.1.2:7000\",\"[::1]:7001\"]"),
            std::string::npos);
}

TEST(ConfigRedis, ClusterRulesAreErrors) {
  EXPECT_EQ(error_of("redis: { address: \"redis://h\", cluster: [h] }\n"),
            "sluice.yaml:4:41: redis: set one of address, sentinel and cluster, not several");
  EXPECT_EQ(error_of("redis: { cluster: [] }\n"),
            "sluice.yaml:4:19: redis.cluster: must be a list of seed nodes, host:port (port 6379 "
            "if left out)");
  EXPECT_EQ(error_of("redis: { cluster: [\"h:0\"] }\n"),
            "sluice.yaml:4:20: redis.cluster[0]: has an invalid port");
  EXPECT_EQ(error_of("redis: { cluster: [\"redis://h/2\"] }\n"),
            "sluice.yaml:4:20: redis.cluster[0]: a seed is host:port only: a cluster has no "
            "database number, and user and password_env are set on redis:");
}

TEST(ConfigRedis, AMalformedAddressIsAnErrorThatDoesNotRepeatThePassword) {
  const std::string e = error_of("redis: { address: \"redis://u:hunter2@host:99999\" }\n");
  EXPECT_EQ(e, "sluice.yaml:4:19: redis.address: has an invalid port");
  EXPECT_EQ(error_of("redis: { address: \"http://127.0.0.1:6379\" }\n"),
            "sluice.yaml:4:19: redis.address: must be redis://[user[:password]@]host[:port][/db], "
            "rediss://… (TLS) or unix:///path.sock");
  EXPECT_EQ(error_of("redis: { address: \"redis://host/16\" }\n"),
            "sluice.yaml:4:19: redis.address: has an invalid database number (0..15 after the /)");
  EXPECT_EQ(error_of("redis: { address: \"unix://redis.sock\" }\n"),
            "sluice.yaml:4:19: redis.address: a unix socket address is unix:///absolute/path.sock");
  EXPECT_EQ(error_of("redis: { timeout: 1s }\n"), "sluice.yaml:4:8: redis.address: is required");
}

TEST(ConfigRedis, OnErrorIsLocalAllowOrReject) {
  EXPECT_EQ(error_of("redis: { address: \"redis://h\", on_error: open }\n"),
            "sluice.yaml:4:42: redis.on_error: must be local, allow or reject");
}

TEST(ConfigRedis, ThePasswordMayComeFromTheEnvironment) {
  ::setenv("SLUICE_TEST_REDIS_PASSWORD", "from-env", 1);
  auto c = ok("redis: { address: \"redis://h\", password_env: SLUICE_TEST_REDIS_PASSWORD }\n");
  ASSERT_TRUE(c && c->redis);
  EXPECT_EQ(c->redis->password, "from-env");
  EXPECT_EQ(error_of("redis: { address: \"redis://h\", password_env: SLUICE_TEST_UNSET_VAR }\n"),
            "sluice.yaml:4:46: redis.password_env: environment variable SLUICE_TEST_UNSET_VAR is "
            "not set");
  EXPECT_EQ(error_of("redis: { address: \"redis://:x@h\", password_env: "
                     "SLUICE_TEST_REDIS_PASSWORD }\n"),
            "sluice.yaml:4:49: redis.password_env: the address already has a password: keep one of "
            "them");
}

TEST(ConfigRedis, ThePasswordStaysOutOfTheConfigDump) {
  auto c = ok("redis: { address: \"redis://app:hunter2@h:6379\" }\n");
  ASSERT_TRUE(c);
  const std::string json = to_json(*c);
  EXPECT_EQ(json.find("hunter2"), std::string::npos) << json;
  EXPECT_NE(json.find("\"address\":\"redis://app@h:6379\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"authenticated\":true"), std::string::npos) << json;
}

TEST(ConfigRedis, SharedNeedsARedisBlock) {
  EXPECT_EQ(error_of("routes:\n  - { name: a, max_rate: 1, time_period: 1s, shared: true }\n"),
            "sluice.yaml:5:54: routes[0].shared: needs a redis: block saying where buckets are "
            "shared");
  EXPECT_EQ(error_of("buckets:\n  q: { max_rate: 1, time_period: 1s, shared: true }\n"),
            "sluice.yaml:5:46: buckets.q.shared: needs a redis: block saying where buckets are "
            "shared");
}

TEST(ConfigRedis, SharedOnLimitsIsInheritedFromTheRouteAndOnBucketsFromTheBucket) {
  auto c =
      ok("redis: { address: \"redis://h\" }\n"
         "buckets:\n  q: { max_rate: 9, time_period: 1m, shared: true }\n"
         "routes:\n"
         "  - name: a\n    shared: true\n    max_rate: 5\n    time_period: 1s\n"
         "    limits: [ { key: client_ip }, { key: global, shared: false }, { bucket: q } ]\n"
         "  - { name: b, bucket: q }\n");
  ASSERT_TRUE(c);
  const auto& limits = c->routes[0].policy.limits;
  ASSERT_EQ(limits.size(), 3u);
  EXPECT_TRUE(limits[0].shared);
  EXPECT_FALSE(limits[1].shared);
  EXPECT_TRUE(limits[2].shared);
  EXPECT_TRUE(c->routes[1].policy.limits[0].shared);
  EXPECT_EQ(limits[0].shared_namespace(), "route:a#0:client_ip:5/1s:");
  EXPECT_EQ(limits[2].shared_namespace(), "bucket:q:client_ip:9/60s:");
}

TEST(ConfigRedis, ARouteOnANamedBucketCannotSetShared) {
  EXPECT_EQ(error_of("redis: { address: \"redis://h\" }\n"
                     "buckets:\n  q: { max_rate: 9, time_period: 1m }\n"
                     "routes:\n  - { name: b, bucket: q, shared: true }\n"),
            "sluice.yaml:8:35: routes[0].shared: a named bucket says itself whether it is shared: "
            "set it under buckets:");
}

TEST(ConfigRedis, ASharedLimitIsBoundedTo45DaysSoRedisCountsExactly) {
  EXPECT_EQ(error_of("redis: { address: \"redis://h\" }\n"
                     "routes:\n  - { name: a, max_rate: 1, time_period: 1100h, shared: true }\n"),
            "sluice.yaml:6:5: routes[0]: a shared limit's time_period and max_delay must be at "
            "most 45 days");
  EXPECT_TRUE(
      ok("redis: { address: \"redis://h\" }\n"
         "routes:\n  - { name: a, max_rate: 1, time_period: 1080h, shared: true }\n"));
  EXPECT_TRUE(ok("routes:\n  - { name: a, max_rate: 1, time_period: 1100h }\n"));
}

}  // namespace
}  // namespace sluice::config
