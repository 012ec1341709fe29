// watch_config (README, "Reload, shutdown, log rotation, state"): the config reloads by itself when
// its file changes, including the Kubernetes ConfigMap layout, where the file is reached through a
// `..data` symlink that the kubelet swaps atomically; a burst of writes reloads once, and a broken
// file keeps the running config, as with SIGHUP.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sluice/app/config_watcher.hpp"
#include "support/proxy_harness.hpp"

namespace sluice::testing {
namespace {

namespace fs = std::filesystem;

// A directory of this test's own under /tmp, removed at the end.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("sluice-watch-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string config_answering(const std::string& body, const fs::path& log) {
  return "version: 1\nlisten: 127.0.0.1:0\nwatch_config: true\n"
         "log: { file: " +
         log.string() +
         ", format: json, level: debug }\n"
         "routes:\n  - { name: hello, respond: { status: 200, body: \"" +
         body + "\" } }\n";
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

std::string body_of_get(ProxyHarness& proxy) {
  Client client(proxy.port());
  return client.request("GET", "/").body;
}

std::uint64_t reloads(ProxyHarness& proxy, const char* result) {
  return proxy.server()
      .metrics()
      .counter(observe::Family::config_reloads_total, {{"result", result}})
      .load();
}

// Long enough for a loaded machine under a sanitizer; the contract is 2 s.
constexpr auto kReloadBound = std::chrono::seconds(6);

// The kubelet's atomic writer: each version in a `..<timestamp>` directory, `..data` a symlink
// to the current one, and the file a symlink through `..data`; an update renames a fresh
// symlink over `..data`.
class ConfigMapVolume {
 public:
  explicit ConfigMapVolume(const fs::path& dir) : dir_(dir) {}

  void publish(const std::string& text) {
    const std::string version = "..v" + std::to_string(++versions_);
    fs::create_directory(dir_ / version);
    write_file(dir_ / version / "sluice.yaml", text);
    fs::create_directory_symlink(version, dir_ / "..data_tmp");
    fs::rename(dir_ / "..data_tmp", dir_ / "..data");
    if (versions_ == 1) fs::create_symlink("..data/sluice.yaml", dir_ / "sluice.yaml");
    if (versions_ > 1) fs::remove_all(dir_ / ("..v" + std::to_string(versions_ - 1)));
  }
  [[nodiscard]] fs::path file() const { return dir_ / "sluice.yaml"; }

 private:
  fs::path dir_;
  int versions_ = 0;
};

TEST(WatchConfig, AConfigMapSymlinkSwapReloadsWithinTheBound) {
  TempDir dir;
  ConfigMapVolume volume(dir.path());
  const fs::path log = dir.path() / "sluice.log";
  volume.publish(config_answering("first", log));
  ProxyHarness proxy(ProxyHarness::File{volume.file()});
  ASSERT_EQ(body_of_get(proxy), "first");

  const auto swapped = std::chrono::steady_clock::now();
  volume.publish(config_answering("second", log));
  ASSERT_TRUE(wait_until([&] { return body_of_get(proxy) == "second"; }, kReloadBound));
  const auto took = std::chrono::steady_clock::now() - swapped;
  EXPECT_LT(took, kReloadBound);
  EXPECT_EQ(reloads(proxy, "success"), 1u);
  EXPECT_TRUE(proxy.wait_for_log("\"event\":\"reloaded\""));
}

TEST(WatchConfig, ABurstOfWritesReloadsOnceWithTheLastContent) {
  TempDir dir;
  const fs::path file = dir.path() / "sluice.yaml";
  const fs::path log = dir.path() / "sluice.log";
  write_file(file, config_answering("start", log));
  ProxyHarness proxy(ProxyHarness::File{file});
  ASSERT_EQ(body_of_get(proxy), "start");

  for (int i = 0; i < 20; ++i) write_file(file, config_answering("draft" + std::to_string(i), log));
  write_file(file, config_answering("final", log));
  ASSERT_TRUE(wait_until([&] { return body_of_get(proxy) == "final"; }, kReloadBound));
  EXPECT_EQ(reloads(proxy, "success"), 1u);
}

TEST(WatchConfig, ABrokenFileKeepsTheRunningConfigAndTheNextGoodOneLoads) {
  TempDir dir;
  const fs::path file = dir.path() / "sluice.yaml";
  const fs::path log = dir.path() / "sluice.log";
  write_file(file, config_answering("good", log));
  ProxyHarness proxy(ProxyHarness::File{file});

  write_file(file, config_answering("broken", log) + "  - { name: hello, max_rate: -1 }\n");
  ASSERT_TRUE(wait_until([&] { return reloads(proxy, "failure") == 1; }, kReloadBound));
  EXPECT_EQ(body_of_get(proxy), "good");
  EXPECT_TRUE(proxy.wait_for_log("\"event\":\"reload_failed\""));

  write_file(file, config_answering("fixed", log));
  ASSERT_TRUE(wait_until([&] { return body_of_get(proxy) == "fixed"; }, kReloadBound));
}

TEST(WatchConfig, AKeysFileThatChangesReloadsTheOverrides) {
  TempDir dir;
  const fs::path keys = dir.path() / "denied.txt";
  write_file(keys, "revoked-1\n");
  const fs::path file = dir.path() / "sluice.yaml";
  write_file(file,
             "version: 1\nlisten: 127.0.0.1:0\nwatch_config: true\n"
             "routes:\n  - { name: api, key: header:X-Api-Key, max_rate: 100, time_period: "
             "1s, respond: { body: ok },\n      overrides: [{ keys_file: " +
                 keys.string() + ", deny: true }] }\n");
  ProxyHarness proxy(ProxyHarness::File{file});
  const auto status_of = [&](const std::string& key) {
    Client client(proxy.port());
    return client.request("GET", "/", {{"X-Api-Key", key}}).status;
  };
  EXPECT_EQ(status_of("revoked-1"), 403u);
  EXPECT_EQ(status_of("revoked-2"), 200u);
  write_file(keys, "revoked-1\nrevoked-2\n");
  ASSERT_TRUE(wait_until([&] { return status_of("revoked-2") == 403u; }, kReloadBound));
  EXPECT_EQ(reloads(proxy, "success"), 1u);
}

TEST(WatchConfig, OffByDefault) {
  TempDir dir;
  const fs::path file = dir.path() / "sluice.yaml";
  const fs::path log = dir.path() / "sluice.log";
  // The key left out, as a config that never heard of it would.
  const auto without_watching = [&](const std::string& body) {
    std::string text = config_answering(body, log);
    text.erase(text.find("watch_config: true"), 19);
    return text;
  };
  write_file(file, without_watching("kept"));
  ProxyHarness proxy(ProxyHarness::File{file});
  write_file(file, without_watching("changed"));
  // No event marks a reload that does not happen: wait as long as a watcher would have needed
  // (a change, then an interval holding still, then its reload), with margin.
  std::this_thread::sleep_for(4 * app::ConfigWatcher::kInterval);
  EXPECT_EQ(body_of_get(proxy), "kept");
  EXPECT_EQ(reloads(proxy, "success"), 0u);
  ASSERT_TRUE(proxy.server().reload_from_file(file));
  EXPECT_EQ(body_of_get(proxy), "changed");
}

}  // namespace
}  // namespace sluice::testing
