// Shared limits (README, "Shared limits across instances") against a real redis-server: several
// sluice instances enforcing one limit, FIFO delays across them, refunds, the over-limit cache, and
// every failure mode of Redis with its on_error behaviour, events and metrics.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "sluice/config/load.hpp"
#include "sluice/core/digest.hpp"
#include "support/proxy_harness.hpp"
#include "support/redis_server.hpp"

namespace sluice::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string shared_config(const RedisServer& redis, const std::string& redis_options,
                          const std::string& routes) {
  return "version: 1\nadmin: 127.0.0.1:0\nredis: { address: \"" + redis.address() + "\"" +
         (redis_options.empty() ? "" : ", " + redis_options) + " }\nroutes:\n" + routes;
}

// A route answered by sluice itself, so no upstream is needed.
std::string route(const std::string& name, const std::string& limit) {
  return "  - { name: " + name + ", match: { path_prefix: /" + name +
         " }, respond: { body: ok }, " + limit + " }\n";
}

std::uint64_t counter(ProxyHarness& proxy, observe::Family family, const observe::Labels& labels) {
  return proxy.server().metrics().counter(family, labels).load();
}

std::int64_t redis_up(ProxyHarness& proxy) {
  return proxy.server().metrics().gauge(observe::Family::redis_up, {}).load();
}

int count_status(std::vector<std::unique_ptr<ProxyHarness>>& instances, const std::string& target,
                 int requests, unsigned status, const Headers& headers = {}) {
  int n = 0;
  for (int i = 0; i < requests; ++i) {
    Client client(instances[i % instances.size()]->port());
    if (client.request("GET", target, headers).status == status) ++n;
  }
  return n;
}

std::vector<std::unique_ptr<ProxyHarness>> start_instances(const std::string& config, int n) {
  std::vector<std::unique_ptr<ProxyHarness>> instances;
  for (int i = 0; i < n; ++i) {
    instances.push_back(std::make_unique<ProxyHarness>(config));
    EXPECT_TRUE(instances.back()->wait_for_log("\"event\":\"redis_up\""));
  }
  return instances;
}

TEST(SharedLimits, ThreeInstancesAdmitExactlyTheLimitInTotal) {
  RedisServer redis;
  auto instances = start_instances(
      shared_config(redis, "",
                    route("g", "key: global, max_rate: 10, time_period: 1h, shared: true") +
                        route("k",
                              "key: \"header:X-Api-Key\", max_rate: 4, time_period: 1h, "
                              "shared: true") +
                        route("l", "key: global, max_rate: 10, time_period: 1h")),
      3);
  EXPECT_EQ(count_status(instances, "/g", 30, 200), 10);
  // Per key, across instances: each key its own bucket.
  EXPECT_EQ(count_status(instances, "/k", 12, 200, {{"X-Api-Key", "alice"}}), 4);
  EXPECT_EQ(count_status(instances, "/k", 12, 200, {{"X-Api-Key", "bob"}}), 4);
  // The same limit without `shared` admits it once per instance.
  EXPECT_EQ(count_status(instances, "/l", 45, 200), 30);
  EXPECT_EQ(redis.cli({"EXISTS", "sluice:route:g#0:global:10/3600s:global"}), "1");
  // A header value may be a credential: Redis holds its digest, not the value.
  EXPECT_EQ(redis.cli({"EXISTS", "sluice:route:k#0:header:X-Api-Key:4/3600s:sha256:" +
                                     sha256_hex("header:X-Api-Key=alice")}),
            "1");
  EXPECT_EQ(redis.cli({"KEYS", "*alice*"}), "");
}

TEST(SharedLimits, DelayedRequestsLeaveInGlobalFifoSlotsNeverEarly) {
  RedisServer redis;
  constexpr auto kSlot = milliseconds(250);
  auto instances = start_instances(
      shared_config(redis, "",
                    route("d",
                          "key: global, max_rate: 1, time_period: 250ms, action: delay, "
                          "max_delay: 10s, shared: true")),
      3);
  const auto start = Clock::now();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<Client>(instances[i % 3]->port()));
    clients.back()->send("GET", "/d");
  }
  std::vector<Clock::duration> done;
  for (auto& c : clients) {
    EXPECT_EQ(c->receive().status, 200u);
    done.push_back(Clock::now() - start);
  }
  std::sort(done.begin(), done.end());
  for (std::size_t i = 0; i < done.size(); ++i) {
    EXPECT_GE(done[i], i * kSlot) << "request " << i << " left before its slot";
  }
  EXPECT_LT(done.back(), 5 * kSlot + std::chrono::seconds(3));
}

TEST(SharedLimits, MixedLocalAndSharedLimitsChargeNoneOnARejection) {
  RedisServer redis;
  auto instances = start_instances(
      shared_config(redis, "",
                    route("m",
                          "action: reject, limits: [ { key: client_ip, max_rate: 2, "
                          "time_period: 1h }, { key: global, max_rate: 3, time_period: 1h, "
                          "shared: true } ]")),
      2);
  Client a(instances[0]->port());
  EXPECT_EQ(a.request("GET", "/m").status, 200u);
  EXPECT_EQ(a.request("GET", "/m").status, 200u);
  const Response local_no = a.request("GET", "/m");  // the local limit of instance 0 is full
  EXPECT_EQ(local_no.status, 429u);
  // The shared bucket was not charged for it: exactly one unit is left for instance 1.
  Client b(instances[1]->port());
  EXPECT_EQ(b.request("GET", "/m").status, 200u);
  const Response shared_no = b.request("GET", "/m");
  EXPECT_EQ(shared_no.status, 429u);
  EXPECT_NE(local_no.header("ratelimit").find("\"m-1\";r=0"), std::string::npos)
      << local_no.header("ratelimit");
  EXPECT_NE(shared_no.header("ratelimit").find("\"m-2\";r=0"), std::string::npos)
      << shared_no.header("ratelimit");
}

TEST(SharedLimits, ADelayedRequestWhoseClientLeavesGivesItsSharedSlotBack) {
  RedisServer redis;
  auto instances = start_instances(
      shared_config(redis, "",
                    route("d",
                          "key: global, max_rate: 1, time_period: 2s, action: delay, "
                          "max_delay: 10s, shared: true")),
      2);
  const std::string key = "sluice:route:d#0:global:1/2s:global";
  EXPECT_EQ(Client(instances[0]->port()).request("GET", "/d").status, 200u);
  {
    Client leaving(instances[0]->port());
    leaving.send("GET", "/d");  // its slot is 2 s away
    ASSERT_TRUE(wait_until([&] { return instances[0]->decisions("d", "delayed") == 1; }));
    EXPECT_GT(std::stoll(redis.cli({"PTTL", key})), 2000);
  }
  // Refunded: the bucket holds only the first request's unit again.
  ASSERT_TRUE(wait_until([&] { return std::stoll(redis.cli({"PTTL", key})) <= 2000; }));
  const auto start = Clock::now();
  EXPECT_EQ(Client(instances[1]->port()).request("GET", "/d").status, 200u);
  EXPECT_LT(Clock::now() - start, milliseconds(2500));  // the freed slot, not one behind it
}

TEST(SharedLimits, AFloodOnAFullBucketCostsRedisAHandfulOfCalls) {
  RedisServer redis;
  auto instances = start_instances(
      shared_config(redis, "",
                    route("f", "key: global, max_rate: 5, time_period: 1h, shared: true")),
      1);
  ProxyHarness& proxy = *instances[0];
  Client client(proxy.port());
  int admitted = 0;
  for (int i = 0; i < 200; ++i) admitted += client.request("GET", "/f").status == 200 ? 1 : 0;
  EXPECT_EQ(admitted, 5);
  EXPECT_LE(counter(proxy, observe::Family::redis_commands_total, {{"result", "ok"}}), 10u);
  EXPECT_GE(counter(proxy, observe::Family::redis_cache_hits_total, {}), 190u);
  const Response rejected = client.request("GET", "/f");
  EXPECT_EQ(rejected.status, 429u);
  const int retry = std::stoi(rejected.header("retry-after"));
  EXPECT_GT(retry, 700);  // one unit drains in 720 s
  EXPECT_LE(retry, 720);
}

// While one decide call is on the wire, the requests that arrive meanwhile wait for it and then
// go to Redis together: one script call for all of them, deciding each in arrival order.
TEST(SharedLimits, RequestsArrivingWhileACallIsOnTheWireShareTheNextCall) {
  RedisServer redis;
  auto instances = start_instances(
      shared_config(redis, "timeout: 5s",
                    route("b", "key: global, max_rate: 15, time_period: 1h, shared: true")),
      1);
  ProxyHarness& proxy = *instances[0];
  const auto calls = [&] {
    return counter(proxy, observe::Family::redis_commands_total, {{"result", "ok"}});
  };
  Client warm(proxy.port());
  EXPECT_EQ(warm.request("GET", "/b").status, 200u);
  const std::uint64_t before = calls();
  redis.pause();  // the next call stays on the wire until Redis resumes
  constexpr int kRequests = 20;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kRequests; ++i) {
    clients.push_back(std::make_unique<Client>(proxy.port()));
    clients.back()->send("GET", "/b");
  }
  auto& open =
      proxy.server().metrics().gauge(observe::Family::connections, {{"side", "downstream"}});
  EXPECT_TRUE(wait_until([&] { return open.load() >= kRequests + 1; }));
  redis.resume();
  int admitted = 0;
  int rejected = 0;
  for (auto& c : clients) {
    const unsigned status = c->receive().status;
    admitted += status == 200 ? 1 : 0;
    rejected += status == 429 ? 1 : 0;
  }
  // Exact across batches: 14 units were left, the rest of the 20 rejected.
  EXPECT_EQ(admitted, 14);
  EXPECT_EQ(rejected, 6);
  // One call for the first, one (or, if a request reached sluice late, a few) for the others.
  EXPECT_LE(calls() - before, 4u);
  const auto& batches = proxy.server().metrics().histogram(observe::Family::redis_batch_size, {});
  EXPECT_EQ(batches.count(), 1 + calls() - before);  // the warm-up's call too
  EXPECT_DOUBLE_EQ(batches.sum(), 1.0 + kRequests);
  EXPECT_EQ(counter(proxy, observe::Family::redis_fallbacks_total, {{"route", "b"}}), 0u);
}

TEST(SharedLimits, AKilledRedisFailsClosedWithOnErrorRejectAndRecoversWhenItIsBack) {
  RedisServer redis;
  auto instances = start_instances(
      shared_config(redis, "on_error: reject, timeout: 2s",
                    route("g", "key: global, max_rate: 100, time_period: 1h, shared: true")),
      1);
  ProxyHarness& proxy = *instances[0];
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_EQ(redis_up(proxy), 1);
  redis.kill();
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_down\""));
  EXPECT_EQ(redis_up(proxy), 0);
  // The probes that find Redis gone are counted as failed calls (the first within 100 ms).
  EXPECT_TRUE(wait_until([&] {
    return counter(proxy, observe::Family::redis_commands_total, {{"result", "error"}}) >= 1;
  }));
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    const Response res = client.request("GET", "/g");
    EXPECT_EQ(res.status, 503u);
    EXPECT_EQ(res.header("retry-after"), "1");
    // Decided at once by the open circuit, not after the 2 s timeout (a generous bound: the
    // counters below say no call was sent).
    EXPECT_LT(Clock::now() - start, milliseconds(1000));
  }
  EXPECT_EQ(counter(proxy, observe::Family::redis_fallbacks_total, {{"route", "g"}}), 3u);
  EXPECT_EQ(counter(proxy, observe::Family::redis_commands_total, {{"result", "timeout"}}), 0u);
  EXPECT_TRUE(proxy.wait_for_log("\"store\":\"on-error-reject\""));
  redis.start();  // empty, without the scripts: EVALSHA's NOSCRIPT is handled invisibly
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\"", 2));
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_EQ(redis.cli({"EXISTS", "sluice:route:g#0:global:100/3600s:global"}), "1");
  EXPECT_EQ(count_lines_with(proxy.log_text(), "\"event\":\"redis_down\""), 1u);
  EXPECT_NE(proxy.log_text().find("\"reason\":\"connection closed by Redis\""), std::string::npos);
}

TEST(SharedLimits, AScriptFlushIsInvisible) {
  RedisServer redis;
  auto instances = start_instances(
      shared_config(redis, "on_error: reject",
                    route("g", "key: global, max_rate: 100, time_period: 1h, shared: true")),
      1);
  Client client(instances[0]->port());
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_EQ(redis.cli({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_EQ(count_lines_with(instances[0]->log_text(), "redis_down"), 0u);
}

TEST(SharedLimits, AStalledRedisCostsOneTimeoutThenOnErrorDecidesAtOnce) {
  RedisServer redis;
  auto instances = start_instances(
      shared_config(redis, "on_error: allow, timeout: 500ms",
                    route("g", "key: global, max_rate: 3, time_period: 1h, shared: true")),
      1);
  ProxyHarness& proxy = *instances[0];
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  redis.pause();
  auto start = Clock::now();
  EXPECT_EQ(client.request("GET", "/g").status, 200u);  // allowed: fail open
  const auto first = Clock::now() - start;
  EXPECT_GE(first, milliseconds(490));  // a timer never fires early
  EXPECT_LT(first, milliseconds(3000));
  // Then decided at once by the open circuit: every one a fallback, none waiting out a timeout
  // (the background probes may add timeouts of their own to the counter).
  start = Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_LT(Clock::now() - start, milliseconds(500));  // all five within one timeout
  EXPECT_GE(counter(proxy, observe::Family::redis_commands_total, {{"result", "timeout"}}), 1u);
  EXPECT_EQ(counter(proxy, observe::Family::redis_fallbacks_total, {{"route", "g"}}), 6u);
  EXPECT_NE(proxy.log_text().find("\"reason\":\"timeout after 500 ms\""), std::string::npos);
  redis.resume();
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\"", 2));
  // The shared bucket again: it holds the first request's unit and, when Redis ran the stalled
  // script after all on waking, the unit of the request that timed out. Fail-open allowed
  // the rest without counting them, so one or two units are left, never more.
  int admitted = 0;
  for (int i = 0; i < 4; ++i) admitted += client.request("GET", "/g").status == 200 ? 1 : 0;
  EXPECT_GE(admitted, 1);
  EXPECT_LE(admitted, 2);
}

TEST(SharedLimits, AKeyOfTheWrongTypeFallsBackToTheLocalBucket) {
  RedisServer redis;
  auto instances = start_instances(
      shared_config(redis, "on_error: local",
                    route("g", "key: global, max_rate: 2, time_period: 1h, shared: true")),
      1);
  ProxyHarness& proxy = *instances[0];
  redis.cli({"LPUSH", "sluice:route:g#0:global:2/3600s:global", "x"});
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_EQ(client.request("GET", "/g").status, 429u);  // this instance's own bucket is full
  EXPECT_TRUE(proxy.wait_for_log("WRONGTYPE"));
  EXPECT_GE(counter(proxy, observe::Family::redis_fallbacks_total, {{"route", "g"}}), 3u);
  EXPECT_GE(counter(proxy, observe::Family::redis_commands_total, {{"result", "error"}}), 1u);
}

TEST(SharedLimits, SluiceStartsWhileRedisIsDownAndUsesItOnceItIsUp) {
  RedisServer redis;
  redis.kill();
  ProxyHarness proxy(
      shared_config(redis, "on_error: local",
                    route("g", "key: global, max_rate: 1, time_period: 1h, shared: true")));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_down\""));
  EXPECT_NE(proxy.log_text().find("connect failed"), std::string::npos);
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/g").status, 200u);  // the local bucket
  EXPECT_EQ(client.request("GET", "/g").status, 429u);
  // Decided by on_error, and the log says so.
  EXPECT_TRUE(proxy.wait_for_log("\"store\":\"local-fallback\""));
  redis.start();
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\""));
  EXPECT_EQ(client.request("GET", "/g").status, 200u);  // the shared bucket, still empty
}

}  // namespace
}  // namespace sluice::testing

namespace sluice::testing {
namespace {

std::shared_ptr<const config::Config> loaded(const std::string& yaml, const std::string& log) {
  auto r = config::load_string(
      "listen: 127.0.0.1:0\nlog: { file: " + log + ", format: json, level: debug }\n" + yaml,
      "reload.yaml");
  for (const auto& e : r.errors) ADD_FAILURE() << e;
  return r.config;
}

// redis: is a process setting; `shared` on a limit is not.
TEST(SharedLimits, AReloadKeepsTheRedisBlockAndMayTurnSharingOnAndOff) {
  RedisServer redis;
  const std::string local = route("g", "key: global, max_rate: 2, time_period: 1h");
  const std::string shared = route("g", "key: global, max_rate: 2, time_period: 1h, shared: true");
  auto instances = start_instances(shared_config(redis, "", local), 2);
  EXPECT_EQ(count_status(instances, "/g", 6, 200), 4);  // 2 per instance
  for (auto& instance : instances) {
    const auto kept = instance->server().reload(
        loaded(shared_config(redis, "prefix: \"other:\"", shared), instance->log_path()));
    ASSERT_EQ(kept.size(), 1u);
    EXPECT_EQ(kept[0].field, "redis");
    EXPECT_NE(kept[0].running.find("prefix=sluice:"), std::string::npos) << kept[0].running;
    EXPECT_NE(kept[0].requested.find("prefix=other:"), std::string::npos) << kept[0].requested;
    EXPECT_EQ(instance->server().config()->redis->prefix, "sluice:");
  }
  // Shared now: a new bucket (its namespace changed), 2 for both instances together.
  EXPECT_EQ(count_status(instances, "/g", 6, 200), 2);
  EXPECT_EQ(redis.cli({"EXISTS", "sluice:route:g#0:global:2/3600s:global"}), "1");
}

}  // namespace
}  // namespace sluice::testing
