// Nothing silent: secrets kept out of logs, floods summarised, counters there from the start,
// every response traceable by its X-Request-Id.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "support/configs.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {
namespace {

const std::string kKeyedRoutes =
    R"(  - { name: h, match: { path_prefix: /h }, key: "header:X-Api-Key", max_rate: 1, time_period: 60s }
  - { name: q, match: { path_prefix: /q }, key: "query:api_key", max_rate: 1, time_period: 60s }
)";

// printf topsecret | sha256sum
constexpr const char* kDigest = "sha256:53336a676c64";

void throttle_both(ProxyHarness& proxy) {
  Client client(proxy.port());
  for (int i = 0; i < 2; ++i) {
    client.request("GET", "/h", {{"X-Api-Key", "topsecret"}});
    client.request("GET", "/q?x=1&api_key=topsecret");
  }
}

TEST(Secrets, KeyValuesAreDigestsAndKeyParametersMaskedInJsonLogsAndThrottled) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(upstream, "routes:\n" + kKeyedRoutes));
  throttle_both(proxy);
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"throttled\"", 2));
  const std::string log = proxy.log_text();
  EXPECT_EQ(log.find("topsecret"), std::string::npos) << log;
  EXPECT_NE(log.find(std::string("\"key\":\"header:X-Api-Key=") + kDigest + "\""),
            std::string::npos);
  EXPECT_NE(log.find(std::string("\"key\":\"query:api_key=") + kDigest + "\""), std::string::npos);
  EXPECT_NE(log.find("\"path\":\"/q?x=1&api_key=***\""), std::string::npos);
  const std::string throttled = admin_get(proxy, "/throttled");
  EXPECT_EQ(throttled.find("topsecret"), std::string::npos) << throttled;
  EXPECT_NE(throttled.find(kDigest), std::string::npos);
}

TEST(Secrets, TextLogsCarryTheSameDigests) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(upstream, "routes:\n" + kKeyedRoutes), "format: text");
  throttle_both(proxy);
  ASSERT_TRUE(proxy.wait_for_log(" throttled ", 2));
  const std::string log = proxy.log_text();
  EXPECT_EQ(log.find("topsecret"), std::string::npos) << log;
  EXPECT_NE(log.find(std::string("key=\"header:X-Api-Key=") + kDigest + "\""), std::string::npos)
      << log;
  EXPECT_NE(log.find("path=\"/q?x=1&api_key=***\""), std::string::npos) << log;
}

TEST(Secrets, ShowKeysLogsTheValuesInClear) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(upstream, "routes:\n" + kKeyedRoutes), "show_keys: true");
  throttle_both(proxy);
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"throttled\"", 2));
  EXPECT_NE(proxy.log_text().find("\"key\":\"header:X-Api-Key=topsecret\""), std::string::npos);
}

std::uint64_t sum_of_suppressed(const std::string& log) {
  static const std::regex kSuppressed("\"suppressed\":([0-9]+)");
  std::uint64_t sum = 0;
  for (std::sregex_iterator it(log.begin(), log.end(), kSuppressed), end; it != end; ++it) {
    sum += std::stoull((*it)[1]);
  }
  return sum;
}

// Events of kind `event` written, plus those the written lines say were held back.
std::uint64_t events_accounted(ProxyHarness& proxy, const std::string& event) {
  const std::string log = proxy.log_text();
  return count_lines_with(log, "\"event\":\"" + event + "\"") + sum_of_suppressed(log);
}

TEST(Floods, ThrottledLinesAreBoundedAndTheSuppressedCountsAddUp) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(
      upstream,
      "routes:\n"
      R"(  - { name: r, match: { path_prefix: / }, key: global, max_rate: 1, time_period: 60s }
)"));
  Client client(proxy.port());
  ASSERT_EQ(client.request("GET", "/").status, 200u);
  const int flood = 500;
  for (int i = 0; i < flood; ++i) ASSERT_EQ(client.request("GET", "/").status, 429u);
  EXPECT_EQ(proxy.decisions("r", "rejected"), static_cast<std::uint64_t>(flood));
  // Every throttled request is a line or counted by one; the flood's last count is written by
  // itself within about two seconds of its end.
  auto accounted = [&] { return events_accounted(proxy, "throttled"); };
  EXPECT_TRUE(wait_until([&] { return accounted() == static_cast<std::uint64_t>(flood); },
                         std::chrono::seconds(5)))
      << accounted();
  const std::string log = proxy.log_text();
  EXPECT_LE(count_lines_with(log, "\"event\":\"throttled\""), 10u) << log;
  EXPECT_GE(count_lines_with(log, "\"suppressed\""), 1u);
  // The ring behind /throttled still records every one.
  const std::string ring = admin_get(proxy, "/throttled?limit=1000");
  EXPECT_EQ(count_lines_with(ring, ""), 1u);
  std::size_t events = 0;
  for (auto at = ring.find("\"event\":\"throttled\""); at != std::string::npos;
       at = ring.find("\"event\":\"throttled\"", at + 1)) {
    ++events;
  }
  EXPECT_EQ(events, static_cast<std::size_t>(flood));
}

// A port nothing listens on: bound by the kernel, then closed.
std::uint16_t refused_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

TEST(UpstreamErrors, AnOutageIsLoggedOncePerSecondPerRouteAndKindWithTheRestCounted) {
  const std::string upstream = "http://127.0.0.1:" + std::to_string(refused_port());
  ProxyHarness proxy("version: 1\nupstream: " + upstream +
                     "\nroutes:\n  - { name: search, match: { path_prefix: /api/search } }\n");
  const int outage = 200;
  for (int i = 0; i < outage; ++i) {
    Client client(proxy.port());
    ASSERT_EQ(client.request("GET", "/api/search?q=" + std::to_string(i)).status, 502u);
  }
  auto accounted = [&] { return events_accounted(proxy, "upstream_error"); };
  EXPECT_TRUE(wait_until([&] { return accounted() == static_cast<std::uint64_t>(outage); },
                         std::chrono::seconds(5)))
      << accounted();
  const std::string log = proxy.log_text();
  EXPECT_LE(count_lines_with(log, "\"event\":\"upstream_error\""), 10u) << log;
  std::istringstream lines(log);
  std::string first;
  while (std::getline(lines, first) && first.find("upstream_error") == std::string::npos) {
  }
  EXPECT_NE(first.find("\"level\":\"warn\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"route\":\"search\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"upstream\":\"" + upstream + "\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"kind\":\"connect\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"error\":\"Connection refused\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"status\":502"), std::string::npos) << first;
}

TEST(Metrics, CounterSeriesExistAtZeroFromTheStart) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(
      upstream,
      "routes:\n"
      R"(  - { name: r, match: { path_prefix: / }, max_rate: 1, time_period: 60s, status: 503 }
)"));
  const std::string m = admin_get(proxy, "/metrics");
  for (const char* series : {"sluice_config_reloads_total{result=\"failure\"} 0",
                             "sluice_config_reloads_total{result=\"success\"} 0",
                             "sluice_requests_total{route=\"r\",decision=\"rejected\"} 0",
                             "sluice_requests_total{route=\"r\",decision=\"dry_run_delayed\"} 0",
                             "sluice_upstream_errors_total{route=\"r\",kind=\"connect\"} 0",
                             "sluice_local_responses_total{status=\"503\"} 0",
                             "sluice_local_responses_total{status=\"400\"} 0",
                             "sluice_local_responses_total{status=\"502\"} 0"}) {
    EXPECT_NE(m.find(std::string(series) + "\n"), std::string::npos) << series << "\n" << m;
  }
}

TEST(RequestIds, EveryResponseCarriesOneAndAValidIncomingOneIsKept) {
  TestUpstream upstream;
  ProxyHarness proxy("version: 1\nupstream: " + upstream.url() + R"(
routes:
  - { name: local, match: { path: /local }, respond: { body: hi } }
  - { name: r, match: { path_prefix: / }, key: global, max_rate: 1, time_period: 60s }
)");
  Client client(proxy.port());
  const Response allowed = client.request("GET", "/", {{"X-Request-Id", "abc-123"}});
  EXPECT_EQ(allowed.status, 200u);
  EXPECT_EQ(allowed.header("x-request-id"), "abc-123");
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests()[0].header("X-Request-Id"), "abc-123");
  const Response rejected = client.request("GET", "/");
  EXPECT_EQ(rejected.status, 429u);
  EXPECT_EQ(rejected.header("x-request-id").size(), 20u);
  EXPECT_NE(rejected.header("x-request-id"), allowed.header("x-request-id"));
  const Response local = client.request("GET", "/local", {{"X-Request-Id", "not a token"}});
  EXPECT_EQ(local.status, 200u);
  EXPECT_EQ(local.header("x-request-id").size(), 20u);
  Client bad(proxy.port());
  const Response malformed = bad.request("GET", "/../x");
  EXPECT_EQ(malformed.status, 400u);
  EXPECT_FALSE(malformed.header("x-request-id").empty());
  Client raw(proxy.port());
  raw.write_raw("GET / HTTP/1.1\r\nHost: x\r\n bad-fold\r\n\r\n");
  const Response folded = raw.receive();
  EXPECT_EQ(folded.status, 400u);
  EXPECT_FALSE(folded.header("x-request-id").empty());
}

}  // namespace
}  // namespace sluice::testing
