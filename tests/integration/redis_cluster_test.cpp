// Shared limits on a Redis Cluster (README, "Scaling out"): real redis-servers in cluster mode,
// their slots assigned by redis-cli. Buckets spread over the masters, each exact; a request whose
// buckets live in several slots is all-or-nothing; a slot resharded while traffic flows keeps
// counting; a master that dies sends only its own slots' decisions to on_error.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <memory>
#include <thread>

#include "sluice/core/digest.hpp"
#include "sluice/redis/cluster_slots.hpp"
#include "support/proxy_harness.hpp"
#include "support/redis_server.hpp"

namespace sluice::testing {
namespace {

using redis::cluster_key;
using redis::key_slot;

std::string config(const RedisCluster& cluster, const std::string& routes) {
  return "version: 1\nadmin: 127.0.0.1:0\nredis: { cluster: [" + cluster.seeds() +
         "], on_error: local, timeout: 500ms }\nroutes:\n" + routes;
}

// A route answered by sluice itself, so no upstream is needed.
std::string route(const std::string& name, const std::string& limit) {
  return "  - { name: " + name + ", match: { path_prefix: /" + name +
         " }, respond: { body: ok }, " + limit + " }\n";
}

// The bucket of `client` on a route keyed by its X-Client header, as the cluster holds it.
std::string client_bucket(const std::string& route, int rate, const std::string& client,
                          std::size_t limit_index = 0) {
  return cluster_key("sluice:", "route:" + route + "#" + std::to_string(limit_index) +
                                    ":header:X-Client:" + std::to_string(rate) +
                                    "/3600s:sha256:" + sha256_hex("header:X-Client=" + client));
}

std::uint64_t fallbacks(ProxyHarness& proxy, const std::string& route) {
  return proxy.server()
      .metrics()
      .counter(observe::Family::redis_fallbacks_total, {{"route", route}})
      .load();
}

// Two sluice instances on one config, each connected to every master.
std::array<std::unique_ptr<ProxyHarness>, 2> two_instances(const std::string& cfg) {
  std::array<std::unique_ptr<ProxyHarness>, 2> instances;
  for (auto& instance : instances) {
    instance = std::make_unique<ProxyHarness>(cfg);
    EXPECT_TRUE(instance->wait_for_log("\"event\":\"redis_up\""));
  }
  return instances;
}

// Requests until one is decided by Redis again (not by on_error); how long that took.
std::chrono::steady_clock::duration until_decided_by_redis(ProxyHarness& proxy,
                                                           const std::string& route,
                                                           unsigned& status) {
  using Clock = std::chrono::steady_clock;
  Client client(proxy.port());
  const auto start = Clock::now();
  for (;;) {
    const std::uint64_t before = fallbacks(proxy, route);
    status = client.request("GET", "/" + route).status;
    if (fallbacks(proxy, route) == before || Clock::now() - start > std::chrono::seconds(20)) {
      return Clock::now() - start;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // paces the polling requests
  }
}

int admitted(ProxyHarness& proxy, const std::string& target, int requests,
             const Headers& headers = {}) {
  Client client(proxy.port());
  int n = 0;
  for (int i = 0; i < requests; ++i) n += client.request("GET", target, headers).status == 200;
  return n;
}

TEST(Cluster, BucketsSpreadOverTheMastersAndTwoInstancesShareEachExactly) {
  RedisCluster cluster;
  const std::string cfg =
      config(cluster, route("k",
                            "key: \"header:X-Client\", max_rate: 3, time_period: 1h, "
                            "shared: true"));
  const auto instances = two_instances(cfg);
  ProxyHarness& a = *instances[0];
  ProxyHarness& b = *instances[1];
  std::vector<std::size_t> on_node(cluster.size());
  for (int c = 0; c < 12; ++c) {
    const std::string client = "client-" + std::to_string(c);
    const Headers headers{{"X-Client", client}};
    EXPECT_EQ(admitted(a, "/k", 2, headers) + admitted(b, "/k", 3, headers), 3) << client;
    const std::string bucket = client_bucket("k", 3, client);
    const std::size_t owner = cluster.owner_of(key_slot(bucket));
    ASSERT_LT(owner, cluster.size());
    EXPECT_EQ(cluster.node(owner).cli({"EXISTS", bucket}), "1") << bucket;
    ++on_node[owner];
  }
  for (std::size_t i = 0; i < cluster.size(); ++i) EXPECT_GT(on_node[i], 0u) << "node " << i;
  EXPECT_EQ(fallbacks(a, "k") + fallbacks(b, "k"), 0u);
}

TEST(Cluster, ARequestRefusedByALaterSlotGivesBackWhatEarlierSlotsTook) {
  RedisCluster cluster;
  // Each request draws on two buckets, in different slots: its client's and the route's global.
  const std::string cfg = config(cluster, route("m",
                                                "limits: [{ key: global, max_rate: 10, "
                                                "time_period: 1h, shared: true }, { key: "
                                                "\"header:X-Client\", max_rate: 1, time_period: "
                                                "1h, shared: true }]"));
  // Two instances: the second knows nothing of the client buckets the first filled, so it asks
  // Redis rather than refusing from its over-limit cache.
  const auto instances = two_instances(cfg);
  ProxyHarness& a = *instances[0];
  ProxyHarness& b = *instances[1];
  const redis::Slot global = key_slot(cluster_key("sluice:", "route:m#0:global:10/3600s:global"));
  // Slots are booked in order: a client whose bucket's slot comes after the global one's is
  // refused by the second call, after the first took a unit of the global bucket.
  int later = 0;
  for (int c = 0; c < 8; ++c) {
    const std::string client = "client-" + std::to_string(c);
    const Headers headers{{"X-Client", client}};
    EXPECT_EQ(admitted(a, "/m", 1, headers), 1) << client;
    EXPECT_EQ(admitted(b, "/m", 1, headers), 0) << client;
    later += key_slot(client_bucket("m", 1, client, 1)) > global;
  }
  ASSERT_GT(later, 0);
  // 8 units of 10 are taken by the admitted requests; the refused ones gave theirs back.
  EXPECT_EQ(admitted(b, "/m", 1, {{"X-Client", "ninth"}}), 1);
  EXPECT_EQ(admitted(b, "/m", 1, {{"X-Client", "tenth"}}), 1);
  EXPECT_EQ(admitted(b, "/m", 1, {{"X-Client", "eleventh"}}), 0);
  EXPECT_EQ(fallbacks(a, "m") + fallbacks(b, "m"), 0u);
}

TEST(Cluster, QuotasLiveOnTheMasterOfTheirKeysSlotSharedByEveryInstance) {
  RedisCluster cluster;
  const std::string cfg =
      config(cluster, route("q",
                            "key: \"header:X-Client\", max_rate: 100, time_period: 1h, "
                            "shared: true, quota: { limit: 2, per: week }"));
  const auto instances = two_instances(cfg);
  ProxyHarness& a = *instances[0];
  ProxyHarness& b = *instances[1];
  for (int c = 0; c < 6; ++c) {
    const Headers headers{{"X-Client", "client-" + std::to_string(c)}};
    EXPECT_EQ(admitted(a, "/q", 2, headers) + admitted(b, "/q", 2, headers), 2) << c;
  }
  EXPECT_EQ(fallbacks(a, "q") + fallbacks(b, "q"), 0u);
}

TEST(Cluster, ASlotReshardedWhileTrafficFlowsKeepsCountingExactly) {
  RedisCluster cluster;
  // A route whose global bucket sits among the first slots of its master, so that resharding a
  // few slots moves it.
  std::string name;
  redis::Slot slot = 0;
  for (int i = 0; name.empty(); ++i) {
    const std::string candidate = "r" + std::to_string(i);
    slot = key_slot(cluster_key("sluice:", "route:" + candidate + "#0:global:400/3600s:global"));
    if (cluster.slots_before(slot) < 100) name = candidate;
  }
  const std::string bucket = cluster_key("sluice:", "route:" + name + "#0:global:400/3600s:global");
  ProxyHarness proxy(
      config(cluster, route(name, "key: global, max_rate: 400, time_period: 1h, shared: true")));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\""));
  EXPECT_EQ(admitted(proxy, "/" + name, 10), 10);
  const std::size_t from = cluster.owner_of(slot);
  const std::size_t to = (from + 1) % cluster.size();
  std::atomic<bool> resharded{false};
  std::atomic<int> during{0};
  std::thread traffic([&] {
    Client client(proxy.port());
    // Paced by the round trips only: as many requests as fit in the resharding, and then some
    // (the limit is far enough for all of them).
    for (int n = 0; !resharded || n < 20; ++n) {
      during += client.request("GET", "/" + name).status == 200;
    }
  });
  const std::string out = cluster.reshard(from, to, cluster.slots_before(slot) + 1);
  resharded = true;
  traffic.join();
  EXPECT_EQ(cluster.owner_of(slot), to) << out;
  EXPECT_EQ(cluster.node(to).cli({"EXISTS", bucket}), "1");
  // Still one bucket, counted on: the requests after the move were decided by its new master.
  EXPECT_EQ(10 + during + admitted(proxy, "/" + name, 400), 400);
  EXPECT_EQ(fallbacks(proxy, name), 0u);
}

TEST(Cluster, AMasterThatDiesSendsOnlyItsOwnSlotsToOnError) {
  RedisCluster cluster;
  ProxyHarness proxy(config(
      cluster, route("k", "key: \"header:X-Client\", max_rate: 2, time_period: 1h, shared: true")));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\""));
  // A client on the master that dies, and one elsewhere.
  std::string lost;
  std::string kept;
  for (int c = 0; lost.empty() || kept.empty(); ++c) {
    const std::string client = "client-" + std::to_string(c);
    (cluster.owner_of(key_slot(client_bucket("k", 2, client))) == 0 ? lost : kept) = client;
  }
  EXPECT_EQ(admitted(proxy, "/k", 1, {{"X-Client", kept}}), 1);
  cluster.node(0).kill();
  EXPECT_EQ(admitted(proxy, "/k", 1, {{"X-Client", lost}}), 1);  // on_error: local
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_down\""));
  EXPECT_EQ(proxy.server().metrics().gauge(observe::Family::redis_up, {}).load(), 0);
  const std::uint64_t before = fallbacks(proxy, "k");
  EXPECT_GE(before, 1u);
  // The other masters' buckets are still shared: the second unit, then the limit.
  EXPECT_EQ(admitted(proxy, "/k", 3, {{"X-Client", kept}}), 1);
  EXPECT_EQ(fallbacks(proxy, "k"), before);
  EXPECT_EQ(admitted(proxy, "/k", 1, {{"X-Client", lost}}), 1);
  EXPECT_EQ(fallbacks(proxy, "k"), before + 1);
}

TEST(Cluster, AReplicaPromotedByTheClusterTakesOverItsMastersSlots) {
  RedisCluster cluster(3, 1);
  ProxyHarness proxy(
      config(cluster, route("g", "key: global, max_rate: 5, time_period: 1h, shared: true")));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\""));
  const std::string bucket = cluster_key("sluice:", "route:g#0:global:5/3600s:global");
  const redis::Slot slot = key_slot(bucket);
  const std::size_t old = cluster.owner_of(slot);
  ASSERT_LT(old, cluster.size());
  EXPECT_EQ(admitted(proxy, "/g", 2), 2);
  // The replica has the two charges before its master dies (replication is asynchronous).
  EXPECT_EQ(cluster.node(old).cli({"WAIT", "1", "2000"}), "1");
  cluster.node(old).kill();
  ASSERT_TRUE(cluster.wait_for_new_owner(slot, old, std::chrono::seconds(30)));
  // Within a second of the promotion, decisions on the slot are taken by the new master.
  unsigned status = 0;
  EXPECT_LT(until_decided_by_redis(proxy, "g", status), std::chrono::seconds(1));
  EXPECT_EQ(status, 200u);
  EXPECT_TRUE(proxy.wait_for_log("\"event\":\"redis_failover\""));
  EXPECT_EQ(proxy.server().metrics().counter(observe::Family::redis_failovers_total, {}).load(),
            1u);
  // Two charged before, one just now: two left of five.
  EXPECT_EQ(admitted(proxy, "/g", 4), 2);
  EXPECT_EQ(cluster.node(cluster.owner_of(slot)).cli({"EXISTS", bucket}), "1");
}

}  // namespace
}  // namespace sluice::testing
