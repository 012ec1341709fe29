// state_file (README, "Reload, shutdown, log rotation, state"): a client over its limit is still
// limited after a graceful restart; a changed limit starts fresh; a damaged file is logged and
// ignored, never fatal.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "support/configs.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {
namespace {

std::string config_with_state(const TestUpstream& upstream, const std::string& state,
                              int max_rate) {
  return with_upstream(upstream, "state_file: " + state + "\nroutes:\n" +
                                     "  - { name: api, key: client_ip, max_rate: " +
                                     std::to_string(max_rate) + ", time_period: 60s }\n");
}

class StateFile : public ::testing::Test {
 protected:
  void TearDown() override { ::unlink(path_.c_str()); }
  const std::string path_ = temp_file("state.bin", "");

  // A fresh file each test: temp_file created it empty, which is itself a damaged file.
  void SetUp() override { ::unlink(path_.c_str()); }
};

TEST_F(StateFile, AClientOverItsLimitIsStillLimitedAfterARestart) {
  TestUpstream upstream;
  {
    ProxyHarness first(config_with_state(upstream, path_, 2));
    Client client(first.port());
    EXPECT_EQ(client.request("GET", "/").status, 200u);
    EXPECT_EQ(client.request("GET", "/").status, 200u);
    EXPECT_EQ(client.request("GET", "/").status, 429u);
    client.close();
    first.server().shutdown();
    EXPECT_TRUE(first.wait_for_log("\"event\":\"state_saved\""));
    EXPECT_NE(first.log_text().find("\"buckets\":1"), std::string::npos) << first.log_text();
  }
  ProxyHarness second(config_with_state(upstream, path_, 2));
  EXPECT_TRUE(second.wait_for_log("\"event\":\"state_loaded\""));
  EXPECT_NE(
      second.log_text().find("\"buckets\":1,\"quota_counters\":0,\"drained_while_stopped\":0"),
      std::string::npos)
      << second.log_text();
  Client client(second.port());
  const Response limited = client.request("GET", "/");
  EXPECT_EQ(limited.status, 429u);
  // About 30 s until one unit drains (2 per 60 s), minus the moments the restart took.
  const int retry_after = std::stoi(limited.header("retry-after"));
  EXPECT_GE(retry_after, 25);
  EXPECT_LE(retry_after, 30);
}

TEST_F(StateFile, AChangedLimitStartsFresh) {
  TestUpstream upstream;
  {
    ProxyHarness first(config_with_state(upstream, path_, 2));
    Client client(first.port());
    client.request("GET", "/");
    client.request("GET", "/");
    EXPECT_EQ(client.request("GET", "/").status, 429u);
    client.close();
    first.server().shutdown();
  }
  // Another rate is another limit identity: its buckets are new, the old ones drain unused.
  ProxyHarness second(config_with_state(upstream, path_, 3));
  Client client(second.port());
  EXPECT_EQ(client.request("GET", "/").status, 200u);
}

TEST_F(StateFile, ADamagedFileIsLoggedAndIgnored) {
  TestUpstream upstream;
  {
    ProxyHarness first(config_with_state(upstream, path_, 1));
    Client client(first.port());
    client.request("GET", "/");
    client.close();
    first.server().shutdown();
  }
  std::string bytes;
  {
    std::ifstream in(path_, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), 20u);
  std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 5);

  ProxyHarness second(config_with_state(upstream, path_, 1));
  EXPECT_TRUE(second.wait_for_log("\"event\":\"state_ignored\""));
  EXPECT_NE(second.log_text().find("truncated"), std::string::npos) << second.log_text();
  Client client(second.port());
  EXPECT_EQ(client.request("GET", "/").status, 200u);
}

TEST_F(StateFile, NoFileYetStartsEmptyAndSaysSo) {
  TestUpstream upstream;
  ProxyHarness proxy(config_with_state(upstream, path_, 1));
  EXPECT_TRUE(proxy.wait_for_log("no state file yet"));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/").status, 200u);
}

// The directory is checked at start; one that goes away later is logged at the stop.
TEST_F(StateFile, ADirectoryGoneSinceTheStartIsLoggedAtStop) {
  TestUpstream upstream;
  const std::string dir = temp_file("state-dir", "") + ".d";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ProxyHarness proxy(config_with_state(upstream, dir + "/state.bin", 1));
  ASSERT_EQ(::rmdir(dir.c_str()), 0);
  proxy.server().shutdown();
  EXPECT_TRUE(proxy.wait_for_log("\"event\":\"state_save_failed\""));
}

}  // namespace
}  // namespace sluice::testing
