// Running sluice: admin endpoints and metrics, reload with state, signals and shutdown.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "sluice/config/load.hpp"
#include "support/configs.hpp"
#include "support/daemon.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {
namespace {

// The value of one series in a Prometheus exposition, or -1.
double metric(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

TEST(Admin, HealthReadinessAndConfig) {
  TestUpstream upstream;
  ProxyHarness proxy(
      with_admin(upstream, "routes:\n  - { name: r, max_rate: 2, time_period: 1s }\n"));
  EXPECT_EQ(admin_get(proxy, "/healthz"), "ok\n");
  EXPECT_EQ(admin_get(proxy, "/readyz"), "ready\n");
  const std::string config = admin_get(proxy, "/config");
  EXPECT_NE(config.find("\"routes\":[{\"name\":\"r\""), std::string::npos) << config;
  EXPECT_NE(config.find("\"max_rate\":2,\"time_period\":1,"), std::string::npos) << config;
  admin_get(proxy, "/nope", 404);
}

TEST(Admin, MetricsCountAKnownSequenceOfDecisions) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(upstream, R"(
routes:
  - name: strict
    match: { path_prefix: /strict }
    max_rate: 2
    time_period: 60s
  - name: paced
    match: { path_prefix: /paced }
    max_rate: 1
    time_period: 200ms
    action: delay
)"));
  Client client(proxy.port());
  for (int i = 0; i < 3; ++i) client.request("GET", "/strict");  // 2 allowed, 1 rejected
  for (int i = 0; i < 2; ++i) client.request("GET", "/paced");   // 1 allowed, 1 delayed ~0.2 s
  client.request("GET", "/free");                                // unlimited

  const std::string m = admin_get(proxy, "/metrics");
  EXPECT_EQ(metric(m, "sluice_requests_total{route=\"strict\",decision=\"allowed\"}"), 2);
  EXPECT_EQ(metric(m, "sluice_requests_total{route=\"strict\",decision=\"rejected\"}"), 1);
  EXPECT_EQ(metric(m, "sluice_requests_total{route=\"paced\",decision=\"allowed\"}"), 1);
  EXPECT_EQ(metric(m, "sluice_requests_total{route=\"paced\",decision=\"delayed\"}"), 1);
  EXPECT_EQ(metric(m, "sluice_requests_total{route=\"\",decision=\"unlimited\"}"), 1);
  EXPECT_EQ(metric(m, "sluice_delay_seconds_count{route=\"paced\"}"), 1);
  EXPECT_EQ(metric(m, "sluice_delay_seconds_bucket{route=\"paced\",le=\"0.1\"}"), 0);
  EXPECT_EQ(metric(m, "sluice_delay_seconds_bucket{route=\"paced\",le=\"0.25\"}"), 1);
  EXPECT_EQ(metric(m, "sluice_upstream_responses_total{route=\"strict\",code=\"2xx\"}"), 2);
  EXPECT_EQ(metric(m, "sluice_local_responses_total{status=\"429\"}"), 1);
  EXPECT_EQ(metric(m, "sluice_connections{side=\"downstream\"}"),
            1);  // admin scrapes are not proxied
  EXPECT_GE(metric(m, "sluice_buckets{state=\"active\"}"), 1);
  EXPECT_EQ(metric(m, "sluice_bucket_evictions_total{kind=\"forced\"}"), 0);
  EXPECT_GT(metric(m, "process_resident_memory_bytes"), 0);
  EXPECT_GT(metric(m, "process_open_fds"), 0);
  EXPECT_NE(m.find("# TYPE sluice_delay_seconds histogram"), std::string::npos);
}

TEST(Admin, ThrottledListsTheNewestEventsFirst) {
  TestUpstream upstream;
  ProxyHarness proxy(
      with_admin(upstream, "routes:\n  - { name: r, max_rate: 1, time_period: 60s }\n"));
  Client client(proxy.port());
  client.request("GET", "/first");
  for (const char* path : {"/a", "/b", "/c"}) EXPECT_EQ(client.request("GET", path).status, 429u);
  const std::string two = admin_get(proxy, "/throttled?limit=2");
  const auto c = two.find("\"path\":\"/c\"");
  const auto b = two.find("\"path\":\"/b\"");
  ASSERT_NE(c, std::string::npos) << two;
  ASSERT_NE(b, std::string::npos) << two;
  EXPECT_LT(c, b);
  EXPECT_EQ(two.find("\"path\":\"/a\""), std::string::npos);
  EXPECT_EQ(two.front(), '[');
  EXPECT_NE(admin_get(proxy, "/throttled").find("\"path\":\"/a\""), std::string::npos);
}

TEST(Reload, ThrottledClientStaysThrottledAcrossAReloadThatAddsARoute) {
  TestUpstream upstream;
  const std::string base = with_admin(upstream,
                                      "routes:\n  - { name: r, match: { path_prefix: /r }, "
                                      "max_rate: 2, time_period: 60s }\n");
  ProxyHarness proxy(base);
  Client client(proxy.port());
  for (int i = 0; i < 2; ++i) EXPECT_EQ(client.request("GET", "/r").status, 200u);
  EXPECT_EQ(client.request("GET", "/r").status, 429u);

  const std::string path =
      temp_file("reload-add.yaml", "listen: 127.0.0.1:0\n" + base +
                                       "  - { name: extra, match: { path: /x }, "
                                       "respond: { body: x } }\n");
  ASSERT_TRUE(proxy.server().reload_from_file(path));
  ASSERT_TRUE(wait_until([&] { return client.request("GET", "/x").status == 200; }));
  EXPECT_EQ(client.request("GET", "/r").status, 429u);
}

TEST(Reload, AChangedRateTakesEffect) {
  TestUpstream upstream;
  const std::string route = "routes:\n  - { name: r, max_rate: %, time_period: 60s }\n";
  auto with_rate = [&](const std::string& rate) {
    std::string r = route;
    r.replace(r.find('%'), 1, rate);
    return with_admin(upstream, r);
  };
  ProxyHarness proxy(with_rate("1"));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/").status, 200u);
  EXPECT_EQ(client.request("GET", "/").status, 429u);
  ASSERT_TRUE(proxy.server().reload_from_file(
      temp_file("rate.yaml", "listen: 127.0.0.1:0\n" + with_rate("3"))));
  // A new rate is a new bucket: the client has 3 fresh units.
  ASSERT_TRUE(wait_until([&] { return client.request("GET", "/").status == 200; }));
  EXPECT_EQ(client.request("GET", "/").status, 200u);
  EXPECT_EQ(client.request("GET", "/").status, 200u);
  EXPECT_EQ(client.request("GET", "/").status, 429u);
}

TEST(Reload, ABrokenFileKeepsServingAndIsCounted) {
  TestUpstream upstream;
  ProxyHarness proxy(
      with_admin(upstream, "routes:\n  - { name: r, max_rate: 1, time_period: 60s }\n"));
  const std::string path = temp_file(
      "broken.yaml", "version: 1\nlisten: 127.0.0.1:0\nroutes: [ {name: r, max_rate: -4} ]\n");
  EXPECT_FALSE(proxy.server().reload_from_file(path));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/").status, 200u);
  EXPECT_EQ(client.request("GET", "/").status, 429u);
  const std::string m = admin_get(proxy, "/metrics");
  EXPECT_EQ(metric(m, "sluice_config_reloads_total{result=\"failure\"}"), 1);
  EXPECT_TRUE(proxy.wait_for_log("\"event\":\"reload_failed\""));
  EXPECT_NE(proxy.log_text().find("routes[0].max_rate: must be > 0"), std::string::npos);
}

// The daemon in front of a test upstream, with a delay route of 1 request per `period`: one
// request has gone through and a second is held, as the metrics confirm.
struct HeldRequest {
  TestUpstream upstream;
  std::string log_path;
  std::unique_ptr<Daemon> daemon;
  std::uint16_t admin_port = 0;
  std::unique_ptr<Client> delayed;

  [[nodiscard]] Response scrape(const std::string& target) const {
    return Client(admin_port).request("GET", target);
  }
};

void hold_a_request(HeldRequest& held, const std::string& name, const std::string& period,
                    const std::string& shutdown_grace) {
  held.log_path = "/tmp/sluice-ops-" + std::to_string(::getpid()) + "-" + name + ".log";
  ::unlink(held.log_path.c_str());
  const std::string config = temp_file(
      name + ".yaml", "version: 1\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\nupstream: " +
                          held.upstream.url() + "\nlog: { format: json, file: " + held.log_path +
                          " }\ntimeouts: { shutdown_grace: " + shutdown_grace +
                          " }\nroutes:\n  - { name: r, max_rate: 1, time_period: " + period +
                          ", action: delay, max_delay: 120s }\n");
  held.daemon = std::make_unique<Daemon>(config, held.log_path);
  const auto port = held.daemon->port();
  ASSERT_NE(port, 0);
  held.admin_port = held.daemon->port("admin");
  EXPECT_EQ(Client(port).request("GET", "/one").status, 200u);
  held.delayed = std::make_unique<Client>(port);
  held.delayed->send("GET", "/two");  // its slot is `period` away
  ASSERT_TRUE(wait_until([&] {
    return metric(held.scrape("/metrics").body,
                  "sluice_requests_total{route=\"r\",decision=\"delayed\"}") == 1;
  }));
}

TEST(Signals, SigtermLetsADelayedRequestFinishThenExitsZero) {
  HeldRequest held;
  ASSERT_NO_FATAL_FAILURE(hold_a_request(held, "term", "1s", "10s"));
  held.daemon->signal(SIGTERM);
  EXPECT_TRUE(wait_until([&] { return held.scrape("/readyz").status == 503; }));
  EXPECT_EQ(held.delayed->receive().status, 200u);
  EXPECT_EQ(held.daemon->wait_exit(std::chrono::seconds(10)), 0);
  EXPECT_EQ(held.upstream.request_count(), 2u);
}

TEST(Signals, SigusrOneReopensARenamedLogFile) {
  const std::string log_path = "/tmp/sluice-ops-" + std::to_string(::getpid()) + "-rotate.log";
  ::unlink(log_path.c_str());
  const std::string config = temp_file(
      "rotate.yaml",
      "version: 1\nlisten: 127.0.0.1:0\nlog: { format: json, file: " + log_path +
          " }\nroutes:\n  - { name: d, respond: { body: x }, max_rate: 1, time_period: 60s }\n");
  Daemon daemon(config, log_path);
  const auto port = daemon.port();
  ASSERT_NE(port, 0);
  const std::string rotated = log_path + ".1";
  ASSERT_EQ(::rename(log_path.c_str(), rotated.c_str()), 0);
  daemon.signal(SIGUSR1);
  // Requests until one is logged in the new file (SIGUSR1 is handled asynchronously).
  Client client(port);
  EXPECT_TRUE(wait_until([&] {
    client.request("GET", "/");
    std::ifstream fresh(log_path);
    std::stringstream s;
    s << fresh.rdbuf();
    return s.str().find("\"event\":\"throttled\"") != std::string::npos;
  }));
  std::ifstream old(rotated);
  std::stringstream s;
  s << old.rdbuf();
  EXPECT_NE(s.str().find("\"event\":\"started\""), std::string::npos);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait_exit(std::chrono::seconds(10)), 0);
  ::unlink(rotated.c_str());
  ::unlink(log_path.c_str());
}

TEST(Signals, SighupReloadsTheFileFromDisk) {
  const std::string log_path = "/tmp/sluice-ops-" + std::to_string(::getpid()) + "-hup.log";
  ::unlink(log_path.c_str());
  const std::string head =
      "version: 1\nlisten: 127.0.0.1:0\nlog: { format: json, file: " + log_path +
      " }\nroutes:\n  - { name: d, respond: { body: x }";
  const std::string config = temp_file("hup.yaml", head + " }\n");
  Daemon daemon(config, log_path);
  const auto port = daemon.port();
  ASSERT_NE(port, 0);
  Client client(port);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client.request("GET", "/").status, 200u);  // unlimited
  temp_file("hup.yaml", head + ", max_rate: 1, time_period: 60s }\n");
  daemon.signal(SIGHUP);
  EXPECT_TRUE(
      wait_until([&] { return daemon.log().find("\"event\":\"reloaded\"") != std::string::npos; }));
  EXPECT_EQ(client.request("GET", "/").status, 200u);
  EXPECT_EQ(client.request("GET", "/").status, 429u);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait_exit(std::chrono::seconds(10)), 0);
  ::unlink(log_path.c_str());
}

TEST(Signals, ASecondSigtermEndsTheDrainAtOnce) {
  HeldRequest held;
  // Held for a minute: a drain waits for it.
  ASSERT_NO_FATAL_FAILURE(hold_a_request(held, "abort", "60s", "60s"));
  held.daemon->signal(SIGTERM);
  ASSERT_TRUE(wait_until(
      [&] { return held.daemon->log().find("\"event\":\"draining\"") != std::string::npos; }));
  held.daemon->signal(SIGTERM);
  // Well within the 60 s grace the first signal would have waited.
  EXPECT_EQ(held.daemon->wait_exit(std::chrono::seconds(20)), 0);
  EXPECT_NE(held.daemon->log().find("\"event\":\"aborting\""), std::string::npos);
  EXPECT_EQ(held.upstream.request_count(), 1u);  // the held request was never forwarded
  ::unlink(held.log_path.c_str());
}

}  // namespace
}  // namespace sluice::testing
