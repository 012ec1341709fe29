// config/tiers.yaml as the README runs it: each tier of its overrides, over real sockets.
#include <gtest/gtest.h>

#include <unistd.h>

#include "support/configs.hpp"
#include "support/environment.hpp"
#include "support/proxy_harness.hpp"

namespace sluice::testing {
namespace {

int admitted(Client& client, const std::string& path, const Headers& headers, int requests) {
  int n = 0;
  for (int i = 0; i < requests; ++i) n += client.request("GET", path, headers).status == 200;
  return n;
}

TEST(TiersExample, EachTierGetsWhatTheExampleSays) {
  const std::string state = temp_file("tiers.state", "");
  ::unlink(state.c_str());
  const Environment env{
      {"TIERS_LISTEN", "127.0.0.1:0"}, {"TIERS_ADMIN", "127.0.0.1:0"}, {"TIERS_STATE", state}};
  ProxyHarness proxy(ProxyHarness::File{std::string(SLUICE_SOURCE_DIR) + "/config/tiers.yaml"});
  Client client(proxy.port());
  const Response partner = client.request("GET", "/api/orders", {{"X-Api-Key", "partner-42"}});
  EXPECT_EQ(partner.status, 200u);
  EXPECT_TRUE(partner.header("ratelimit-policy")
                  .starts_with("\"api~partner\";q=50;w=1, \"api~partner-quota\";q=10000000;w="))
      << partner.header("ratelimit-policy");
  // Within one second a free key gets its 5, a pro key (from the keys file) its 20.
  EXPECT_LE(admitted(client, "/api/orders", {{"X-Api-Key", "free-1"}}, 8), 6);
  EXPECT_GE(admitted(client, "/api/orders", {{"X-Api-Key", "pro-1003"}}, 20), 19);
  EXPECT_EQ(admitted(client, "/api/orders", {{"X-Api-Key", "batch-nightly"}}, 60), 60);
  EXPECT_EQ(client.request("GET", "/api/orders", {{"X-Api-Key", "revoked-17"}}).status, 403u);
  // The office network (loopback here) is not limited on /internal/.
  EXPECT_EQ(admitted(client, "/internal/report", {}, 10), 10);
  // A free key's usage: its rate and its month, each request above counted once.
  const Response usage = client.request("GET", "/api/usage", {{"X-Api-Key", "free-1"}});
  EXPECT_EQ(usage.status, 200u);
  EXPECT_NE(usage.body.find("\"policy\":\"api-quota\",\"limit\":\"100000/month\""),
            std::string::npos)
      << usage.body;
  ::unlink(state.c_str());
}

}  // namespace
}  // namespace sluice::testing
