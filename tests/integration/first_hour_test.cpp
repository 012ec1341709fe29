// What a newcomer trips over in the first hour: the shipped example, and log lines that say
// when a decision was taken rather than when its line was written.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <regex>

#include "sluice/config/load.hpp"
#include "sluice/observe/events.hpp"
#include "support/configs.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {
namespace {

// The example trusts no X-Forwarded-For (any local client could otherwise mint a fresh bucket
// per request and walk around the tour's own limit), and has the dashboard the README shows.
TEST(FirstHour, TheShippedExampleTrustsNoForwardedForAndHasTheDashboard) {
  const auto loaded = config::load_file(std::string(SLUICE_SOURCE_DIR) + "/config/sluice.yaml");
  ASSERT_NE(loaded.config, nullptr);
  EXPECT_TRUE(loaded.config->trusted_proxies.empty());
  ASSERT_TRUE(loaded.config->admin);
  EXPECT_EQ(loaded.config->admin->to_string(), "127.0.0.1:9901");
  EXPECT_GT(loaded.config->http.max_connections_per_client, 0u);
}

// "2026-11-29T21:00:00.123Z" as ms since the Unix epoch.
std::int64_t parse_ts(const std::string& ts) {
  std::tm tm{};
  ::strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  return static_cast<std::int64_t>(::timegm(&tm)) * 1000 + std::stoi(ts.substr(20, 3));
}

// A delayed request's line is written when it is released; its ts is when it was decided.
TEST(FirstHour, ADelayedRequestsLineIsStampedWithTheDecisionTime) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream,
                                   "routes:\n  - { name: slow, max_rate: 1, time_period: 1500ms, "
                                   "action: delay, max_delay: 5s }\n"));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/").status, 200u);
  const std::int64_t decided = observe::unix_now_ms();
  EXPECT_EQ(client.request("GET", "/").status, 200u);  // held about 1.5 s
  const std::int64_t released = observe::unix_now_ms();
  ASSERT_GE(released - decided, 1000);
  ASSERT_TRUE(proxy.wait_for_log("\"decision\":\"delayed\""));
  std::smatch m;
  const std::string log = proxy.log_text();
  ASSERT_TRUE(std::regex_search(
      log, m, std::regex("\"ts\":\"([^\"]+)\",\"level\":\"info\",\"event\":\"throttled\"")))
      << log;
  const std::int64_t stamped = parse_ts(m[1]);
  EXPECT_GE(stamped, decided - 5);
  EXPECT_LT(stamped, decided + 500) << "stamped " << released - stamped << " ms before release";
}

}  // namespace
}  // namespace sluice::testing
