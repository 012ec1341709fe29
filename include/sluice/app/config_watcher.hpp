#pragma once
// watch_config (README, "Reload, shutdown, log rotation, state"): reloads the config when its file,
// or a certificate or keys_file it names, changes, with SIGHUP's rules.
//
// It polls stat() through the path rather than watching with inotify: a Kubernetes ConfigMap
// update swaps the `..data` symlink the file is reached through, and editors replace files by
// renaming over them; an inotify watch on the file sees neither, while stat() through the path
// sees every kind of replacement on every filesystem, for one system call per interval.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::app {

class ConfigWatcher {
 public:
  static constexpr auto kInterval = std::chrono::milliseconds(500);

  // `files` (the config first) and `enabled` are asked before every look: a reload may name other
  // files, or turn watching on or off. `reload` runs on the watcher's thread.
  ConfigWatcher(std::function<std::vector<std::string>()> files, std::function<bool()> enabled,
                std::function<void()> reload);
  ~ConfigWatcher();
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

 private:
  // What stat() says of the file: any replacement changes at least one of these.
  struct Fingerprint {
    bool exists = false;
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::int64_t size = 0;
    std::int64_t modified_ns = 0;
    std::int64_t changed_ns = 0;
    bool operator==(const Fingerprint&) const = default;
  };
  using Fingerprints = std::vector<Fingerprint>;
  [[nodiscard]] Fingerprints look() const;
  [[nodiscard]] std::size_t content_hash() const;
  void run(bool watching, Fingerprints seen, std::size_t loaded);

  std::function<std::vector<std::string>()> files_;
  std::function<bool()> enabled_;
  std::function<void()> reload_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sluice::app
