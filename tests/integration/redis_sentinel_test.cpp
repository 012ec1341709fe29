// Shared limits with Redis Sentinel (README, "Scaling out"): real redis-servers — a master, its
// replica and three sentinels — with sluice finding the master through them and following it
// across a forced failover and across a master that dies.
#include <gtest/gtest.h>

#include <chrono>

#include "support/proxy_harness.hpp"
#include "support/redis_server.hpp"

namespace sluice::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kBucket = "sluice:route:g#0:global:5/3600s:global";

std::string config(const RedisSentinelSet& set) {
  return "version: 1\nadmin: 127.0.0.1:0\nredis: { sentinel: { addresses: [" +
         set.sentinel_addresses() + "], master: " + RedisSentinelSet::kMaster +
         " }, on_error: local, timeout: 500ms }\n"
         "routes:\n"
         "  - { name: g, match: { path_prefix: /g }, respond: { body: ok }, key: global,\n"
         "      max_rate: 5, time_period: 1h, shared: true }\n";
}

std::uint64_t metric(ProxyHarness& proxy, observe::Family family, const observe::Labels& labels) {
  return proxy.server().metrics().counter(family, labels).load();
}

std::uint64_t fallbacks(ProxyHarness& proxy) {
  return metric(proxy, observe::Family::redis_fallbacks_total, {{"route", "g"}});
}

// Requests until one is decided by Redis again (not by on_error); how long that took.
Clock::duration until_decided_by_redis(ProxyHarness& proxy, Client& client, unsigned& status) {
  const auto start = Clock::now();
  for (;;) {
    const std::uint64_t before = fallbacks(proxy);
    status = client.request("GET", "/g").status;
    if (fallbacks(proxy) == before || Clock::now() - start > std::chrono::seconds(20)) {
      return Clock::now() - start;
    }
    std::this_thread::sleep_for(milliseconds(20));  // paces the polling requests
  }
}

TEST(Sentinel, DecisionsGoToTheMasterTheSentinelsName) {
  RedisSentinelSet set;
  ProxyHarness proxy(config(set));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\""));
  Client client(proxy.port());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_EQ(client.request("GET", "/g").status, 429u);
  EXPECT_EQ(set.master().cli({"EXISTS", kBucket}), "1");
  EXPECT_EQ(fallbacks(proxy), 0u);
  EXPECT_EQ(metric(proxy, observe::Family::redis_failovers_total, {}), 0u);
}

TEST(Sentinel, TwoInstancesShareTheMastersBucketExactly) {
  RedisSentinelSet set;
  ProxyHarness a(config(set));
  ProxyHarness b(config(set));
  ASSERT_TRUE(a.wait_for_log("\"event\":\"redis_up\""));
  ASSERT_TRUE(b.wait_for_log("\"event\":\"redis_up\""));
  Client ca(a.port());
  Client cb(b.port());
  int admitted = 0;
  for (int i = 0; i < 6; ++i) {
    admitted += ca.request("GET", "/g").status == 200;
    admitted += cb.request("GET", "/g").status == 200;
  }
  EXPECT_EQ(admitted, 5);
  EXPECT_EQ(fallbacks(a) + fallbacks(b), 0u);
}

TEST(Sentinel, AForcedFailoverIsFollowedAndTheReplicatedBucketsKeepCounting) {
  RedisSentinelSet set;
  ProxyHarness proxy(config(set));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\""));
  Client client(proxy.port());
  for (int i = 0; i < 2; ++i) EXPECT_EQ(client.request("GET", "/g").status, 200u);
  const std::uint16_t old_master = set.master().port();
  EXPECT_EQ(set.sentinel_cli(0, {"SENTINEL", "FAILOVER", RedisSentinelSet::kMaster}), "OK");
  ASSERT_TRUE(set.wait_for_promotion(std::chrono::seconds(20)));
  ASSERT_NE(set.master().port(), old_master);
  // Within a second of every sentinel naming the new master, decisions are taken there (a
  // generous bound for a loaded machine; sluice follows the +switch-master event at once).
  unsigned status = 0;
  const auto took = until_decided_by_redis(proxy, client, status);
  EXPECT_LT(took, std::chrono::seconds(1));
  EXPECT_TRUE(proxy.wait_for_log("\"event\":\"redis_failover\""));
  EXPECT_EQ(metric(proxy, observe::Family::redis_failovers_total, {}), 1u);
  // The two units charged before the failover came over with the replica: five in all.
  int admitted = status == 200 ? 1 : 0;
  for (int i = 0; i < 6; ++i) admitted += client.request("GET", "/g").status == 200 ? 1 : 0;
  EXPECT_EQ(admitted, 3);
  EXPECT_EQ(set.master().cli({"EXISTS", kBucket}), "1");
}

TEST(Sentinel, AMasterThatDiesIsReplacedAndOnErrorDecidesMeanwhile) {
  RedisSentinelSet set;
  ProxyHarness proxy(config(set));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\""));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  set.master().kill();
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_down\""));
  EXPECT_EQ(client.request("GET", "/g").status, 200u);  // on_error: local
  EXPECT_GE(fallbacks(proxy), 1u);
  ASSERT_TRUE(set.wait_for_promotion(std::chrono::seconds(30)));
  unsigned status = 0;
  const auto took = until_decided_by_redis(proxy, client, status);
  EXPECT_LT(took, std::chrono::seconds(1));
  EXPECT_EQ(status, 200u);
  EXPECT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\"", 2));
  EXPECT_EQ(metric(proxy, observe::Family::redis_failovers_total, {}), 1u);
  EXPECT_EQ(set.master().cli({"EXISTS", kBucket}), "1");
}

}  // namespace
}  // namespace sluice::testing
