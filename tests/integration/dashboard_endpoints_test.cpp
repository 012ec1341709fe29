// What the dashboard reads (README, "Watching it"): GET /throttled/top, GET /stats, and the page
// itself.
#include <gtest/gtest.h>

#include <regex>

#include "support/configs.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {
namespace {

const std::string kRoutes =
    "routes:\n"
    "  - { name: search, match: { path_prefix: /search }, key: client_ip, max_rate: 1, "
    "time_period: 60s }\n";

// `n` requests to /search from `client` (played through X-Forwarded-For).
void requests_from(ProxyHarness& proxy, const std::string& client, int n) {
  Client c(proxy.port());
  for (int i = 0; i < n; ++i) c.request("GET", "/search", {{"X-Forwarded-For", client}});
}

TEST(ThrottledTop, MostThrottledFirstWithTheirCounts) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(upstream, kRoutes));
  requests_from(proxy, "10.0.0.1", 3);  // 2 rejected
  requests_from(proxy, "10.0.0.2", 6);  // 5 rejected
  requests_from(proxy, "10.0.0.3", 1);  // none
  const std::string top = admin_get(proxy, "/throttled/top?window=5m&limit=20");
  const std::regex entry(
      R"re(\{"route":"search","key":"[^"]*(10\.0\.0\.[0-9])","rejected":([0-9]+),"delayed":0,)re"
      R"re("dry_run":0,"denied":0,"override":null,"last_ts":"20[0-9-]+T[0-9:.]+Z"\})re");
  std::vector<std::pair<std::string, int>> found;
  for (std::sregex_iterator it(top.begin(), top.end(), entry), end; it != end; ++it) {
    found.emplace_back((*it)[1], std::stoi((*it)[2]));
  }
  ASSERT_EQ(found.size(), 2u) << top;
  EXPECT_EQ(found[0], (std::pair<std::string, int>{"10.0.0.2", 5}));
  EXPECT_EQ(found[1], (std::pair<std::string, int>{"10.0.0.1", 2}));
  EXPECT_EQ(top.find("10.0.0.3"), std::string::npos);

  const std::string one = admin_get(proxy, "/throttled/top?limit=1");  // window: 5m by default
  EXPECT_NE(one.find("10.0.0.2"), std::string::npos) << one;
  EXPECT_EQ(one.find("10.0.0.1"), std::string::npos) << one;
}

TEST(ThrottledTop, WindowIsADurationOfAtMostAnHour) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(upstream, kRoutes));
  admin_get(proxy, "/throttled/top?window=1h");
  admin_get(proxy, "/throttled/top?window=90s");
  EXPECT_NE(admin_get(proxy, "/throttled/top?window=2h", 400).find("at most 1h"),
            std::string::npos);
  admin_get(proxy, "/throttled/top?window=5", 400);
  admin_get(proxy, "/throttled/top?window=-5m", 400);
  admin_get(proxy, "/throttled/top?window=5mm", 400);
}

TEST(Stats, CountersPerRouteAndDecisionWithHistory) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(upstream, kRoutes));
  requests_from(proxy, "10.0.0.1", 4);
  requests_from(proxy, "10.0.0.2", 1);
  const std::string stats = admin_get(proxy, "/stats");
  EXPECT_NE(stats.find(R"({"route":"search","requests":{)"), std::string::npos) << stats;
  EXPECT_NE(stats.find(R"("allowed":2)"), std::string::npos) << stats;
  EXPECT_NE(stats.find(R"("rejected":3)"), std::string::npos) << stats;
  EXPECT_NE(stats.find(R"("upstream_errors":{"connect":0,)"), std::string::npos) << stats;
  EXPECT_NE(stats.find(R"("buckets":{"live":2,)"), std::string::npos) << stats;
  EXPECT_NE(stats.find(R"("redis":null)"), std::string::npos) << stats;
  EXPECT_NE(stats.find(R"("history":{"interval_s":2,"ts_ms":[)"), std::string::npos) << stats;
  EXPECT_TRUE(
      std::regex_search(stats, std::regex(R"(^\{"ts":"20[0-9-]+T[0-9:.]+Z","ts_ms":[0-9]{13},)")))
      << stats;
}

TEST(Dashboard, ServedSelfContainedAtTheRoot) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(upstream, kRoutes));
  Client admin(proxy.server().admin_port());
  const Response page = admin.request("GET", "/");
  EXPECT_EQ(page.status, 200u);
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(page.header("content-security-policy").find("default-src 'none'"), std::string::npos);
  EXPECT_NE(page.body.find("<title>sluice</title>"), std::string::npos);
  // Nothing fetched from elsewhere: no absolute URL at all in the page.
  EXPECT_EQ(page.body.find("http://"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
  EXPECT_EQ(page.body.find("//cdn"), std::string::npos);
  for (const char* endpoint : {"/stats", "/throttled/top", "/throttled?"}) {
    EXPECT_NE(page.body.find(endpoint), std::string::npos) << endpoint;
  }
}

}  // namespace
}  // namespace sluice::testing
