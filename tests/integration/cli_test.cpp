// The sluice binary: --check, --version, exit codes.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <regex>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include "support/configs.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace {

struct CliRun {
  int exit_code;
  std::string output;  // stdout and stderr
};

CliRun run(const std::string& args) {
  const std::string command = std::string(SLUICE_BINARY) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (const auto n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(Cli, CheckAcceptsTheShippedExampleConfig) {
  const std::string path = std::string(SLUICE_SOURCE_DIR) + "/config/sluice.yaml";
  const CliRun r = run("--check -c " + path);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, path + ": ok\n");
}

// The offline explain is made for CI: "does this request get the partner limit?" as a test.
TEST(Cli, CheckWarnsOfALocalQuotaWithoutAStateFile) {
  const std::string path = sluice::testing::temp_file(
      "quota.yaml",
      "version: 1\nlisten: 127.0.0.1:0\nupstream: http://127.0.0.1:9\nroutes:\n"
      "  - name: api\n    max_rate: 5\n"
      "    time_period: 1s\n    quota: { limit: 1000, per: day }\n");
  const CliRun r = run("--check -c " + path);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "warning: routes[api]: a local quota without state_file starts again from zero at "
            "every restart: set state_file, or shared: true\n" +
                path + ": ok\n");
}

TEST(Cli, ExplainNamesTheRouteTheOverrideAndThePolicyARequestGets) {
  const std::string tiers = std::string(SLUICE_SOURCE_DIR) + "/config/tiers.yaml";
  CliRun r = run("--explain -c " + tiers + " -H 'X-Api-Key: partner-42' 'GET /api/orders'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // The quota's reset_s is the time to the 1st of next month: the one part that varies.
  const std::regex expected(
      R"re(\{"route":"api","skipped":\[\{"route":"my-usage","why":"path is not /api/usage"\}\],)re"
      R"re("keys":\["header:X-Api-Key=sha256:1ebc03721ceb"\],"limits":\[\{"policy":"api~partner",)re"
      R"re("override":"partner","key":"header:X-Api-Key=sha256:1ebc03721ceb","limit":"50/1s",)re"
      R"re("shared":false,"level":0,"remaining":50,"decision":"allowed"\},)re"
      R"re(\{"policy":"api~partner-quota","override":"partner","key":"header:X-Api-Key=)re"
      R"re(sha256:1ebc03721ceb","limit":"10000000/month","shared":false,"level":0,)re"
      R"re("remaining":10000000,"reset_s":[0-9]+,"decision":"allowed"\}\],"decision":"allowed"\}\n)re");
  EXPECT_TRUE(std::regex_match(r.output, expected)) << r.output;
  r = run("--explain -c " + tiers + " -H 'X-Api-Key: revoked-17' 'GET /api/orders'");
  EXPECT_NE(r.output.find("\"override\":\"revoked\",\"decision\":\"denied\""), std::string::npos)
      << r.output;
  // Why the earlier routes did not match; the client address as a CIDR override sees it.
  r = run("--explain -c " + tiers + " --client 10.1.1.1 'GET /internal/report'");
  EXPECT_NE(r.output.find("{\"route\":\"api\",\"why\":\"path does not start with /api/\"}]"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("\"override\":null"), std::string::npos) << r.output;
  r = run("--explain -c " + tiers + " --client 127.0.0.1 'GET /internal/report'");
  EXPECT_NE(r.output.find("\"decision\":\"unlimited\""), std::string::npos) << r.output;
}

TEST(Cli, ExplainFailsOnABadConfigOrAnUnreadableRequest) {
  const std::string bad = sluice::testing::temp_file("bad-explain.yaml", "version: 1\nworkrs: 2\n");
  EXPECT_EQ(run("--explain -c " + bad + " 'GET /'").exit_code, 1);
  const std::string tiers = std::string(SLUICE_SOURCE_DIR) + "/config/tiers.yaml";
  const CliRun r = run("--explain -c " + tiers + " 'GET /../x'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("sluice would refuse this request (400)"), std::string::npos) << r.output;
}

TEST(Cli, CheckReportsABadValueWithItsPosition) {
  const std::string path =
      sluice::testing::temp_file("bad.yaml",
                                 "version: 1\nlisten: 127.0.0.1:8080\nroutes:\n"
                                 "  - name: x\n    respond: { body: hi }\n    max_rate: 0\n"
                                 "    time_period: 1s\n");
  const CliRun r = run("--check -c " + path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, path + ":6:15: routes[0].max_rate: must be > 0\n");
}

TEST(Cli, CheckCatchesAMisspelledKey) {
  const std::string path =
      sluice::testing::temp_file("typo.yaml", "version: 1\nlisten: 127.0.0.1:8080\nworkrs: 2\n");
  const CliRun r = run("--check --config " + path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, path + ":3:1: workrs: unknown key; did you mean workers?\n");
}

// A sidecar must not crash-loop on its Redis: an unreachable one is not a config error.
TEST(Cli, CheckPassesWhileRedisIsUnreachableButNotOnAMalformedAddress) {
  const std::string head = "version: 1\nlisten: 127.0.0.1:8080\nredis: { address: \"";
  const std::string routes =
      "\" }\nroutes:\n  - { name: x, respond: { body: hi }, max_rate: 1, time_period: 1s, "
      "shared: true }\n";
  const std::string down =
      sluice::testing::temp_file("redis-down.yaml", head + "redis://127.0.0.1:1" + routes);
  const CliRun ok = run("--check -c " + down);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  const std::string bad =
      sluice::testing::temp_file("redis-bad.yaml", head + "redis://u:hunter2@h:0" + routes);
  const CliRun r = run("--check -c " + bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, bad + ":3:19: redis.address: has an invalid port\n");
}

TEST(Cli, MissingConfigFileExitsOneNamingTheFile) {
  const CliRun r = run("-c /nonexistent/sluice.yaml");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent/sluice.yaml: cannot open"), std::string::npos);
}

TEST(Cli, TakenPortExitsOneNamingTheAddress) {
  sluice::testing::TestUpstream occupant;  // holds a port
  const std::string port = std::to_string(occupant.port());
  const std::string path =
      sluice::testing::temp_file("taken.yaml", "version: 1\nlisten: 127.0.0.1:" + port + "\n");
  const CliRun r = run("-c " + path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot listen on 127.0.0.1:" + port), std::string::npos) << r.output;
}

TEST(Cli, SecondInstanceOnTheSameAddressIsRefusedWhileWorkersShareIt) {
  sluice::testing::ProxyHarness running(
      "version: 1\nworkers: 2\nadmin: 127.0.0.1:0\nroutes:\n  - { name: d, respond: { body: hi } "
      "}\n");
  const std::string port = std::to_string(running.port());
  const std::string path =
      sluice::testing::temp_file("second.yaml", "version: 1\nlisten: 127.0.0.1:" + port +
                                                    "\nroutes:\n  - { name: d, respond: "
                                                    "{ body: second } }\n");
  const CliRun r = run("-c " + path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot listen on 127.0.0.1:" + port + ": Address already in use"),
            std::string::npos)
      << r.output;
  // The admin address is the process's too.
  const std::string admin_path = sluice::testing::temp_file(
      "second-admin.yaml", "version: 1\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:" +
                               std::to_string(running.server().admin_port()) +
                               "\nroutes:\n  - { name: d, respond: { body: second } }\n");
  const CliRun admin = run("-c " + admin_path);
  EXPECT_EQ(admin.exit_code, 1);
  EXPECT_NE(admin.output.find("Address already in use"), std::string::npos) << admin.output;
  // Both workers of the running instance still answer, on many connections.
  for (int i = 0; i < 20; ++i) {
    sluice::testing::Client client(running.port());
    EXPECT_EQ(client.request("GET", "/").body, "hi");
  }
}

TEST(Cli, CheckFailsWhereStartWouldOnALogFileItCannotCreate) {
  const std::string path = sluice::testing::temp_file(
      "logdir.yaml",
      "version: 1\nlisten: 127.0.0.1:8080\nlog: { file: /nonexistent-dir/sluice.log }\n");
  const CliRun r = run("--check -c " + path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, path + ":3:14: log.file: directory /nonexistent-dir does not exist\n");
}

TEST(Cli, VersionAndHelp) {
  EXPECT_EQ(run("--version").output, std::string("sluice ") + SLUICE_VERSION + "\n");
  const CliRun help = run("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--check"), std::string::npos);
  EXPECT_EQ(run("--bogus").exit_code, 1);
}

}  // namespace
