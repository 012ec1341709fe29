// Rate limits end to end: real sockets, a real upstream, real time (generous bounds).
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "support/configs.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Headers from(const std::string& ip) {
  return {{"X-Forwarded-For", ip}};
}

TEST(Limits, RejectModeSixthRequestGets429AndNeverReachesUpstream) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - name: search
    match: { path_prefix: /api/search }
    max_rate: 5
    time_period: 10s
)"));
  Client client(proxy.port());
  for (int i = 0; i < 5; ++i) {
    const Response ok = client.request("GET", "/api/search?q=" + std::to_string(i));
    ASSERT_EQ(ok.status, 200u);
    EXPECT_EQ(ok.header("ratelimit-policy"), "\"search\";q=5;w=10");
    EXPECT_EQ(ok.header("ratelimit"),
              "\"search\";r=" + std::to_string(4 - i) + ";t=" + std::to_string(2 * (i + 1)));
  }
  const Response limited = client.request("GET", "/api/search?q=6");
  EXPECT_EQ(limited.status, 429u);
  EXPECT_EQ(limited.header("retry-after"), "2");
  EXPECT_EQ(limited.header("ratelimit-policy"), "\"search\";q=5;w=10");
  EXPECT_EQ(limited.header("ratelimit"), "\"search\";r=0;t=10");
  EXPECT_EQ(limited.header("content-type"), "application/problem+json");
  EXPECT_NE(limited.body.find("\"status\":429"), std::string::npos);
  EXPECT_NE(limited.body.find("\"route\":\"search\""), std::string::npos);
  EXPECT_NE(limited.body.find("\"retry_after\":2"), std::string::npos);
  EXPECT_EQ(upstream.request_count(), 5u);

  // Unmatched paths pass unlimited.
  for (int i = 0; i < 10; ++i) ASSERT_EQ(client.request("GET", "/elsewhere").status, 200u);
  EXPECT_EQ(upstream.request_count(), 15u);
  EXPECT_EQ(proxy.decisions("", "unlimited"), 10u);

  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"throttled\""));
  const std::string log = proxy.log_text();
  EXPECT_EQ(count_lines_with(log, "\"event\":\"throttled\""), 1u);
  EXPECT_NE(
      log.find(
          "\"decision\":\"rejected\",\"limit\":\"5/10s\",\"weight\":1,\"delay_ms\":0,"
          "\"retry_after_s\":2,\"status\":429,\"method\":\"GET\",\"path\":\"/api/search?q=6\""),
      std::string::npos)
      << log;
  EXPECT_NE(log.find("\"key\":\"ip:127.0.0.1\""), std::string::npos);
}

TEST(Limits, DelayModeReleasesFifteenConcurrentRequestsAtTheRateInArrivalOrder) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - name: paced
    match: { path_prefix: /paced }
    max_rate: 5
    time_period: 1s
    action: delay
    max_delay: 10s
)"));
  constexpr int kRequests = 15;
  std::vector<std::unique_ptr<Client>> clients;
  const auto start = Clock::now();
  // Each request is sent once sluice has decided the previous one, so arrival order is certain.
  for (int i = 0; i < kRequests; ++i) {
    clients.push_back(std::make_unique<Client>(proxy.port()));
    clients.back()->send("GET", "/paced/" + std::to_string(i));
    ASSERT_TRUE(wait_until([&] {
      return proxy.decisions("paced", "allowed") + proxy.decisions("paced", "delayed") ==
             static_cast<std::uint64_t>(i + 1);
    }));
  }
  std::vector<double> done(kRequests);
  std::vector<std::thread> readers;
  for (int i = 0; i < kRequests; ++i) {
    readers.emplace_back([&, i] {
      EXPECT_EQ(clients[i]->receive().status, 200u);
      done[i] = seconds_since(start);
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(proxy.decisions("paced", "allowed"), 5u);
  EXPECT_EQ(proxy.decisions("paced", "delayed"), 10u);
  for (int i = 0; i < 5; ++i) EXPECT_LT(done[i], 0.5) << "request " << i;
  for (int i = 5; i < kRequests; ++i) {
    const double scheduled = 0.2 * (i - 4);
    EXPECT_GE(done[i], scheduled - 0.05) << "request " << i;
    EXPECT_LE(done[i], scheduled + 0.6) << "request " << i;
  }
  const auto received = upstream.requests();
  ASSERT_EQ(received.size(), static_cast<std::size_t>(kRequests));
  for (int i = 5; i < kRequests; ++i) {
    EXPECT_EQ(received[i].target, "/paced/" + std::to_string(i)) << "out of order";
  }
}

TEST(Limits, HeaderKeysIsolateClientsAndAMissingHeaderFallsBackToTheClientIp) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - name: api
    match: { path_prefix: /api }
    key: header:X-Api-Key
    max_rate: 2
    time_period: 60s
)"));
  Client client(proxy.port());
  auto status = [&](const Headers& h) { return client.request("GET", "/api/x", h).status; };
  EXPECT_EQ(status({{"X-Api-Key", "alpha"}}), 200u);
  EXPECT_EQ(status({{"X-Api-Key", "alpha"}}), 200u);
  EXPECT_EQ(status({{"X-Api-Key", "alpha"}}), 429u);
  EXPECT_EQ(status({{"X-Api-Key", "beta"}}), 200u);
  // Without the header the client's address is the key: a bucket of its own, not a way around.
  EXPECT_EQ(status({}), 200u);
  EXPECT_EQ(status({}), 200u);
  EXPECT_EQ(status({}), 429u);
  // Logged as a digest: printf alpha | sha256sum
  EXPECT_TRUE(proxy.wait_for_log("\"key\":\"header:X-Api-Key=sha256:8ed3f6ad685b\""));
}

TEST(Limits, GlobalKeySharesOneBucketAcrossClients) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - name: all
    match: { path_prefix: / }
    key: global
    max_rate: 2
    time_period: 60s
)"));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/", from("203.0.113.1")).status, 200u);
  EXPECT_EQ(client.request("GET", "/", from("203.0.113.2")).status, 200u);
  EXPECT_EQ(client.request("GET", "/", from("203.0.113.3")).status, 429u);
}

TEST(Limits, TrustedProxyForwardedForSeparatesClientsUntrustedDoesNot) {
  TestUpstream upstream;
  const std::string routes = R"(
routes:
  - name: per-client
    match: { path_prefix: / }
    max_rate: 1
    time_period: 60s
)";
  {
    ProxyHarness trusted(with_upstream(upstream, routes));
    Client client(trusted.port());
    EXPECT_EQ(client.request("GET", "/", from("203.0.113.1")).status, 200u);
    EXPECT_EQ(client.request("GET", "/", from("203.0.113.2")).status, 200u);
    // Rightmost untrusted: a client cannot pick its identity by prepending addresses.
    EXPECT_EQ(client.request("GET", "/", from("198.51.100.9, 203.0.113.2")).status, 429u);
  }
  ProxyHarness untrusted("version: 1\nupstream: " + upstream.url() + "\n" + routes);
  Client client(untrusted.port());
  EXPECT_EQ(client.request("GET", "/", from("203.0.113.1")).status, 200u);
  EXPECT_EQ(client.request("GET", "/", from("203.0.113.2")).status, 429u);
}

TEST(Limits, SharedBucketWithWeightsReleasesInArrivalOrder) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
buckets:
  quota: { key: global, max_rate: 3, time_period: 3s }
routes:
  - name: light
    match: { path_prefix: /light }
    bucket: quota
    action: delay
  - name: heavy
    match: { path_prefix: /heavy }
    bucket: quota
    weight: 3
    action: delay
)"));
  const auto start = Clock::now();
  const std::vector<std::string> order = {"/light/1", "/heavy/2", "/light/3"};
  std::vector<std::unique_ptr<Client>> clients;
  for (std::size_t i = 0; i < order.size(); ++i) {
    clients.push_back(std::make_unique<Client>(proxy.port()));
    clients.back()->send("GET", order[i]);
    ASSERT_TRUE(wait_until([&] {
      std::uint64_t decided = 0;
      for (const char* route : {"light", "heavy"}) {
        decided += proxy.decisions(route, "allowed") + proxy.decisions(route, "delayed");
      }
      return decided == i + 1;
    }));
  }
  std::vector<double> done(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(clients[i]->receive().status, 200u);
    done[i] = seconds_since(start);
  }
  EXPECT_LT(done[0], 0.5);
  EXPECT_GE(done[1], 0.95);  // waits for room for 3 units: 1 s
  EXPECT_LT(done[1], 1.6);
  EXPECT_GE(done[2], 1.95);  // behind the heavy one, no barging: 2 s
  EXPECT_LT(done[2], 2.6);
  const auto received = upstream.requests();
  ASSERT_EQ(received.size(), 3u);
  for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(received[i].target, order[i]);
}

TEST(Limits, RequestRejectedByOneLimitIsChargedToNone) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - name: login
    match: { path: /login }
    limits:
      - { key: client_ip, max_rate: 1, time_period: 60s }
      - { key: global, max_rate: 3, time_period: 60s }
)"));
  Client client(proxy.port());
  EXPECT_EQ(client.request("POST", "/login", from("203.0.113.1")).status, 200u);
  const Response second = client.request("POST", "/login", from("203.0.113.1"));
  EXPECT_EQ(second.status, 429u);
  EXPECT_EQ(second.header("ratelimit-policy"), "\"login-1\";q=1;w=60, \"login-2\";q=3;w=60");
  // The rejected request took nothing from the global limit: two more clients fit.
  EXPECT_EQ(client.request("POST", "/login", from("203.0.113.2")).status, 200u);
  EXPECT_EQ(client.request("POST", "/login", from("203.0.113.3")).status, 200u);
  EXPECT_EQ(client.request("POST", "/login", from("203.0.113.4")).status, 429u);
}

TEST(Limits, DryRunForwardsEverythingAndLogsWhatItWouldHaveDone) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - name: trial
    match: { path_prefix: / }
    max_rate: 1
    time_period: 60s
    dry_run: true
)"));
  Client client(proxy.port());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client.request("GET", "/t").status, 200u);
  EXPECT_EQ(upstream.request_count(), 3u);
  EXPECT_EQ(proxy.decisions("trial", "dry_run_rejected"), 2u);
  EXPECT_TRUE(proxy.wait_for_log("\"decision\":\"dry_run_rejected\"", 2));
  EXPECT_EQ(count_lines_with(proxy.log_text(), "\"decision\":\"dry_run_rejected\""), 2u);
}

TEST(Limits, ClientThatLeavesWhileDelayedIsNeverForwardedAndItsSlotIsRefunded) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - name: slow-lane
    match: { path_prefix: / }
    max_rate: 1
    time_period: 2s
    action: delay
    max_delay: 10s
)"));
  Client first(proxy.port());
  EXPECT_EQ(first.request("GET", "/first").status, 200u);

  auto leaver = std::make_unique<Client>(proxy.port());
  leaver->send("GET", "/leaver");
  ASSERT_TRUE(wait_until([&] { return proxy.decisions("slow-lane", "delayed") == 1; }));
  leaver->close();
  ASSERT_TRUE(proxy.wait_for_log("\"status\":499"));

  // The leaver's slot (t = 2 s) was the last one: it is given back, so the next request gets it
  // instead of queueing behind it (t = 4 s).
  const auto start = Clock::now();
  Client third(proxy.port());
  EXPECT_EQ(third.request("GET", "/third").status, 200u);
  EXPECT_LT(seconds_since(start), 3.0);
  const auto received = upstream.requests();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].target, "/first");
  EXPECT_EQ(received[1].target, "/third");
}

TEST(Limits, WaitBeyondMaxDelayIsRejectedWithRetryAfter) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - name: short-queue
    match: { path_prefix: / }
    max_rate: 1
    time_period: 10s
    action: delay
    max_delay: 0s
    status: 503
)"));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/").status, 200u);
  const Response rejected = client.request("GET", "/");
  EXPECT_EQ(rejected.status, 503u);
  EXPECT_EQ(rejected.header("retry-after"), "10");
}

}  // namespace
}  // namespace sluice::testing
