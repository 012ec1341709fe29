// Calendar quotas end to end (README, "Quotas"): real sockets and a real upstream; a restart
// through state_file; a shared quota in a real redis-server. The exact UTC boundaries are the
// unit tests' (an injected clock); here the reset is checked against the wall clock.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

#include "sluice/core/digest.hpp"
#include "support/configs.hpp"
#include "support/proxy_harness.hpp"
#include "support/redis_server.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {
namespace {

// The caller's own budget, before the routes it reports on.
const std::string kUsageRoute = R"(
routes:
  - name: my-usage
    match: { path: /api/usage }
    key: header:X-Api-Key
    respond: { usage: true }
)";

const std::string kQuotaRoute = kUsageRoute + R"(
  - name: api
    match: { path_prefix: /api/ }
    key: header:X-Api-Key
    max_rate: 100
    time_period: 1s
    quota: { limit: 3, per: day }
    overrides:
      - { name: partner, keys: [partner-42], quota: { limit: 5, per: day } }
)";

Headers key(const std::string& value) {
  return {{"X-Api-Key", value}};
}

int admitted(Client& client, const std::string& api_key, int requests) {
  int n = 0;
  for (int i = 0; i < requests; ++i) {
    n += client.request("GET", "/api/x", key(api_key)).status == 200;
  }
  return n;
}

// Seconds from now to the next 00:00 UTC.
std::int64_t seconds_to_midnight() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto midnight = floor<days>(now) + days(1);
  return duration_cast<seconds>(midnight - now).count() + 1;
}

TEST(Quota, OverTheQuotaIsRejectedUntilMidnightUtcWithASecondPolicy) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, kQuotaRoute));
  Client client(proxy.port());
  const Response first = client.request("GET", "/api/x", key("free-1"));
  EXPECT_EQ(first.status, 200u);
  EXPECT_EQ(first.header("ratelimit-policy"), "\"api\";q=100;w=1, \"api-quota\";q=3;w=86400");
  EXPECT_NE(first.header("ratelimit").find("\"api-quota\";r=2;t="), std::string::npos)
      << first.header("ratelimit");
  EXPECT_EQ(admitted(client, "free-1", 3), 2);
  const Response over = client.request("GET", "/api/x", key("free-1"));
  EXPECT_EQ(over.status, 429u);
  const std::int64_t retry_after = std::stoll(over.header("retry-after"));
  EXPECT_LE(std::abs(retry_after - seconds_to_midnight()), 2) << retry_after;
  EXPECT_NE(over.body.find("quota 3/day of route api exceeded"), std::string::npos) << over.body;
  EXPECT_NE(over.header("ratelimit").find("\"api-quota\";r=0;"), std::string::npos);
  ASSERT_TRUE(proxy.wait_for_log("\"limit\":\"3/day\""));
  EXPECT_EQ(upstream.request_count(), 3u);
  // Another key has its own quota; an override has its own, named after it.
  EXPECT_EQ(admitted(client, "free-2", 4), 3);
  const Response partner = client.request("GET", "/api/x", key("partner-42"));
  EXPECT_EQ(partner.header("ratelimit-policy"),
            "\"api~partner\";q=100;w=1, \"api~partner-quota\";q=5;w=86400");
  EXPECT_EQ(admitted(client, "partner-42", 5), 4);
}

TEST(Quota, ARequestTheRateRefusesIsNotCountedAgainstTheQuota) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, kUsageRoute + R"(
  - name: api
    match: { path_prefix: /api/ }
    key: header:X-Api-Key
    max_rate: 1
    time_period: 1h
    quota: { limit: 10, per: month }
)"));
  Client client(proxy.port());
  EXPECT_EQ(admitted(client, "k", 5), 1);
  const Response usage = client.request("GET", "/api/usage", key("k"));
  EXPECT_EQ(usage.status, 200u);
  EXPECT_NE(usage.body.find("\"policy\":\"api-quota\",\"limit\":\"10/month\""), std::string::npos)
      << usage.body;
  EXPECT_NE(usage.body.find("\"remaining\":9,"), std::string::npos) << usage.body;
}

TEST(Quota, TheUsageRouteTellsTheCallerItsOwnBudgetWithoutChargingIt) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, kQuotaRoute));
  Client client(proxy.port());
  EXPECT_EQ(admitted(client, "free-1", 2), 2);
  const Response usage = client.request("GET", "/api/usage", key("free-1"));
  EXPECT_EQ(usage.status, 200u);
  EXPECT_EQ(usage.header("content-type"), "application/json");
  EXPECT_EQ(usage.header("cache-control"), "no-store");
  const std::string expected_start =
      "{\"limits\":[{\"route\":\"api\",\"policy\":\"api\",\"limit\":\"100/1s\",\"period_s\":1,"
      "\"remaining\":";
  EXPECT_EQ(usage.body.substr(0, expected_start.size()), expected_start) << usage.body;
  const std::string quota =
      "{\"route\":\"api\",\"policy\":\"api-quota\",\"limit\":\"3/day\","
      "\"period_s\":86400,\"remaining\":1,\"reset_s\":";
  EXPECT_NE(usage.body.find(quota), std::string::npos) << usage.body;
  // Asking twice charged nothing: the caller still has its one request.
  EXPECT_NE(client.request("GET", "/api/usage", key("free-1")).body.find(quota), std::string::npos);
  EXPECT_EQ(admitted(client, "free-1", 2), 1);
  // A partner sees its own tier.
  const Response partner = client.request("GET", "/api/usage", key("partner-42"));
  EXPECT_NE(partner.body.find("\"policy\":\"api~partner-quota\",\"limit\":\"5/day\","
                              "\"period_s\":86400,\"remaining\":5,"),
            std::string::npos)
      << partner.body;
  EXPECT_EQ(upstream.request_count(), 3u);
}

TEST(Quota, ALocalQuotaSurvivesARestartThroughTheStateFile) {
  TestUpstream upstream;
  const std::string state = temp_file("quota-state.bin", "");
  ::unlink(state.c_str());
  const std::string cfg = with_upstream(upstream, "state_file: " + state + "\n" + kQuotaRoute);
  {
    ProxyHarness first(cfg);
    Client client(first.port());
    EXPECT_EQ(admitted(client, "free-1", 2), 2);
    client.close();
    first.server().shutdown();
    ASSERT_TRUE(first.wait_for_log("\"event\":\"state_saved\""));
    EXPECT_NE(first.log_text().find("\"quota_counters\":1"), std::string::npos);
  }
  ProxyHarness second(cfg);
  ASSERT_TRUE(second.wait_for_log("\"event\":\"state_loaded\""));
  EXPECT_NE(second.log_text().find("\"quota_counters\":1"), std::string::npos) << second.log_text();
  Client client(second.port());
  EXPECT_EQ(admitted(client, "free-1", 3), 1);
  ::unlink(state.c_str());
}

TEST(Quota, ASharedQuotaIsOneCounterInRedisForEveryInstance) {
  RedisServer redis;
  TestUpstream upstream;
  const std::string cfg =
      with_upstream(upstream, "redis: { address: \"" + redis.address() + "\" }\n" + kQuotaRoute +
                                  "    shared: true\n");
  ProxyHarness a(cfg);
  ProxyHarness b(cfg);
  ASSERT_TRUE(a.wait_for_log("\"event\":\"redis_up\""));
  ASSERT_TRUE(b.wait_for_log("\"event\":\"redis_up\""));
  Client ca(a.port());
  Client cb(b.port());
  EXPECT_EQ(admitted(ca, "k", 2) + admitted(cb, "k", 3), 3);
  const Response over = cb.request("GET", "/api/x", key("k"));
  EXPECT_EQ(over.status, 429u);
  EXPECT_NE(over.body.find("quota 3/day"), std::string::npos);
  // One key per period, holding thousandths, expiring a minute after the period ends.
  using namespace std::chrono;
  const auto today = floor<days>(system_clock::now());
  const std::string counter =
      "sluice:route:api#0:header:X-Api-Key:quota/day:" +
      std::to_string(duration_cast<seconds>(today.time_since_epoch()).count()) +
      ":sha256:" + sha256_hex("header:X-Api-Key=k");
  EXPECT_EQ(redis.cli({"GET", counter}), "3000");
  // Either instance's usage route reads the shared bucket and counter from Redis.
  const Response usage = ca.request("GET", "/api/usage", key("k"));
  EXPECT_NE(usage.body.find("\"policy\":\"api-quota\",\"limit\":\"3/day\",\"period_s\":86400,"
                            "\"remaining\":0,\"reset_s\":"),
            std::string::npos)
      << usage.body;
  EXPECT_NE(usage.body.find("\"policy\":\"api\",\"limit\":\"100/1s\",\"period_s\":1,"
                            "\"remaining\":9"),
            std::string::npos)
      << usage.body;
  const std::int64_t ttl = std::stoll(redis.cli({"TTL", counter}));
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, seconds_to_midnight() + 61);
}

TEST(Quota, ASharedQuotaGivesBackWhatTheRateRefused) {
  RedisServer redis;
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, "redis: { address: \"" + redis.address() + R"(" }
routes:
  - name: api
    key: header:X-Api-Key
    max_rate: 1
    time_period: 1h
    shared: true
    quota: { limit: 10, per: month }
)"));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\""));
  Client client(proxy.port());
  EXPECT_EQ(admitted(client, "k", 4), 1);
  using namespace std::chrono;
  const auto now = system_clock::now();
  const year_month_day today{floor<days>(now)};
  const sys_days first{today.year() / today.month() / 1};
  const std::string counter =
      "sluice:route:api#0:header:X-Api-Key:quota/month:" +
      std::to_string(duration_cast<seconds>(first.time_since_epoch()).count()) +
      ":sha256:" + sha256_hex("header:X-Api-Key=k");
  // The give-backs are sent after the answers: wait for them, within a bound.
  std::string used;
  for (const auto deadline = steady_clock::now() + seconds(5); steady_clock::now() < deadline;) {
    used = redis.cli({"GET", counter});
    if (used == "1000") break;
  }
  EXPECT_EQ(used, "1000") << "three refused requests gave their units back";
}

TEST(Quota, TheAdminExplainReadsSharedBucketsAndQuotasFromRedis) {
  RedisServer redis;
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(upstream, "redis: { address: \"" + redis.address() + "\" }\n" +
                                              kQuotaRoute + "    shared: true\n"));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\""));
  Client client(proxy.port());
  EXPECT_EQ(admitted(client, "k", 2), 2);
  const std::string target = "/explain?path=/api/x&header=X-Api-Key:k";
  const std::string answer = admin_get(proxy, target);
  EXPECT_NE(answer.find("\"limit\":\"3/day\",\"shared\":true,\"level\":2,\"remaining\":1,"),
            std::string::npos)
      << answer;
  EXPECT_NE(answer.find("\"limit\":\"100/1s\",\"shared\":true,\"level\":"), std::string::npos)
      << answer;
  EXPECT_EQ(answer.find("\"level\":null"), std::string::npos) << answer;
  // Asking charged nothing (the bucket drains meanwhile; the quota does not).
  EXPECT_NE(admin_get(proxy, target).find("\"level\":2,\"remaining\":1,"), std::string::npos);
  EXPECT_EQ(admitted(client, "k", 2), 1);
  EXPECT_NE(admin_get(proxy, target).find("\"decision\":\"rejected\",\"retry_after_s\":"),
            std::string::npos);
}

TEST(Quota, ExplainShowsTheQuotaAsAnItemOfItsOwn) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(upstream, kQuotaRoute));
  Client client(proxy.port());
  EXPECT_EQ(admitted(client, "free-1", 3), 3);
  const std::string answer = admin_get(proxy, "/explain?path=/api/x&header=X-Api-Key:free-1");
  EXPECT_NE(answer.find("\"policy\":\"api-quota\",\"override\":null"), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"limit\":\"3/day\",\"shared\":false,\"level\":3,\"remaining\":0,"
                        "\"reset_s\":"),
            std::string::npos)
      << answer;
  EXPECT_NE(answer.find("\"decision\":\"rejected\",\"retry_after_s\":"), std::string::npos)
      << answer;
  EXPECT_EQ(admitted(client, "free-1", 1), 0);
}

}  // namespace
}  // namespace sluice::testing
