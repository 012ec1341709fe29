// No way around a limit by spelling a request differently (README, "No way around a limit by
// spelling"): each bypass a client could try is limited like the plain request, and the upstream
// sees the canonical form.
#include <gtest/gtest.h>

#include "support/configs.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {
namespace {

const std::string kAdminRoute =
    R"(  - { name: admin, match: { path_prefix: /admin }, key: global, max_rate: 1, time_period: 60s }
  - { name: rest, match: { path_prefix: / } }
)";

TEST(Spelling, EveryPathSpellingOfALimitedPathIsLimited) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, "routes:\n" + kAdminRoute));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/admin").status, 200u);
  EXPECT_EQ(client.request("GET", "/admin").status, 429u);
  for (const char* spelling : {"/x/../admin", "//admin", "/./admin", "/%61dmin", "/%2e/admin",
                               "/admin/x/..", "/adm%69n?q=1"}) {
    EXPECT_EQ(client.request("GET", spelling).status, 429u) << spelling;
  }
  EXPECT_EQ(proxy.decisions("admin", "rejected"), 8u);
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests()[0].target, "/admin");
}

TEST(Spelling, TheUpstreamReceivesTheCanonicalPathThatWasMatched) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, "routes:\n" + kAdminRoute));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/a//b/./c/../%7Ed%3f?x=%41").status, 200u);
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests()[0].target, "/a/b/~d%3F?x=%41");
}

TEST(Spelling, PathsAboveTheRootOrWithNulAreBadRequests) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, "routes:\n" + kAdminRoute));
  for (const char* target : {"/../admin", "/a/../../admin", "/%2e%2e/admin", "/a%00b", "/a%zz"}) {
    Client client(proxy.port());
    EXPECT_EQ(client.request("GET", target).status, 400u) << target;
  }
  EXPECT_EQ(upstream.request_count(), 0u);
}

TEST(Spelling, EscapedSlashesCanBeRefused) {
  TestUpstream upstream;
  ProxyHarness proxy("version: 1\nupstream: " + upstream.url() +
                     "\nhttp: { escaped_slashes: reject }\nroutes:\n" + kAdminRoute);
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/x/..%2Fadmin").status, 400u);
  EXPECT_EQ(upstream.request_count(), 0u);
}

TEST(Spelling, EveryQueryKeySpellingIsOneBucketAndRepeatsAreRefused) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(
      upstream,
      "routes:\n"
      R"(  - { name: api, match: { path_prefix: /api }, key: "query:api_key", max_rate: 1, time_period: 60s }
)"));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/api?api_key=A").status, 200u);
  EXPECT_EQ(client.request("GET", "/api?api_key=A").status, 429u);
  EXPECT_EQ(client.request("GET", "/api?api_key=%41").status, 429u);
  EXPECT_EQ(client.request("GET", "/api?api%5Fkey=A").status, 429u);
  const Response polluted = client.request("GET", "/api?api_key=r1&api_key=A");
  EXPECT_EQ(polluted.status, 400u);
  EXPECT_NE(polluted.body.find("the key parameter api_key appears more than once"),
            std::string::npos);
  EXPECT_EQ(client.request("GET", "/api?api_key=%G1").status, 400u);
  EXPECT_EQ(client.request("GET", "/api?api_key=B").status, 200u);
  EXPECT_EQ(upstream.request_count(), 2u);
  EXPECT_TRUE(proxy.wait_for_log("\"event\":\"rejected_request\""));
  EXPECT_TRUE(proxy.wait_for_log("\"path\":\"/api?api_key=***&api_key=***\""));
}

TEST(Spelling, RepeatedKeyHeaderIsRefused) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(
      upstream,
      "routes:\n"
      R"(  - { name: api, match: { path_prefix: /api }, key: "header:X-Api-Key", max_rate: 5, time_period: 60s }
)"));
  Client client(proxy.port());
  client.write_raw("GET /api HTTP/1.1\r\nHost: x\r\nX-Api-Key: r1\r\nX-Api-Key: A\r\n\r\n");
  const Response r = client.receive();
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.body.find("the key header X-Api-Key appears more than once"), std::string::npos);
  EXPECT_EQ(client.request("GET", "/api", {{"X-Api-Key", " A "}}).status, 200u);
  EXPECT_EQ(upstream.request_count(), 1u);
}

TEST(Spelling, HostWithTrailingDotOrOtherCaseIsTheSameHost) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(
      upstream,
      "routes:\n"
      R"(  - { name: api, match: { host: api.example.com }, key: global, max_rate: 1, time_period: 60s }
)"));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/", {{"Host", "api.example.com"}}).status, 200u);
  EXPECT_EQ(client.request("GET", "/", {{"Host", "api.example.com."}}).status, 429u);
  EXPECT_EQ(client.request("GET", "/", {{"Host", "API.Example.com:8080"}}).status, 429u);
  EXPECT_EQ(client.request("GET", "/", {{"Host", "other.example.com"}}).status, 200u);
}

TEST(Spelling, TwoAddressesOfOneIpv6SubnetShareABucket) {
  TestUpstream upstream;
  ProxyHarness proxy(
      with_upstream(upstream,
                    "routes:\n"
                    R"(  - { name: api, match: { path_prefix: / }, max_rate: 1, time_period: 60s }
)"));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/", {{"X-Forwarded-For", "2001:db8:1:2::a"}}).status, 200u);
  EXPECT_EQ(client.request("GET", "/", {{"X-Forwarded-For", "2001:db8:1:2:ffff::b"}}).status, 429u);
  EXPECT_EQ(client.request("GET", "/", {{"X-Forwarded-For", "2001:db8:1:3::a"}}).status, 200u);
  // An IPv4-mapped address is its IPv4 address.
  EXPECT_EQ(client.request("GET", "/", {{"X-Forwarded-For", "192.0.2.1"}}).status, 200u);
  EXPECT_EQ(client.request("GET", "/", {{"X-Forwarded-For", "::ffff:192.0.2.1"}}).status, 429u);
  EXPECT_TRUE(proxy.wait_for_log("\"key\":\"ip:2001:db8:1:2::/64\""));
}

TEST(Spelling, AbsoluteFormIsForwardedInOriginFormWithTheUrisHost) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, "routes:\n" + kAdminRoute));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "http://API.example.com:8080/admin").status, 200u);
  EXPECT_EQ(client.request("GET", "http://api.example.com/x/../admin").status, 429u);
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests()[0].target, "/admin");
  EXPECT_EQ(upstream.requests()[0].header("Host"), "API.example.com:8080");
}

TEST(Spelling, OptionsStarIsForwardedAndConnectIsRefused) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, "routes:\n" + kAdminRoute));
  Client client(proxy.port());
  EXPECT_EQ(client.request("OPTIONS", "*").status, 200u);
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests()[0].target, "*");
  Client other(proxy.port());
  const Response connect = other.request("CONNECT", "example.com:443");
  EXPECT_EQ(connect.status, 405u);
  EXPECT_NE(connect.header("allow").find("GET"), std::string::npos);
  EXPECT_EQ(upstream.request_count(), 1u);
}

}  // namespace
}  // namespace sluice::testing
