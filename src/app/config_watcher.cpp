#include "sluice/app/config_watcher.hpp"

#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "sluice/core/clock.hpp"

namespace sluice::app {

ConfigWatcher::ConfigWatcher(std::function<std::vector<std::string>()> files,
                             std::function<bool()> enabled, std::function<void()> reload)
    : files_(std::move(files)), enabled_(std::move(enabled)), reload_(std::move(reload)) {
  // The baseline is taken now, before the thread: a change made right after start-up (a test, an
  // init script) must not become the baseline and go unnoticed.
  thread_ = std::thread([this, watching = enabled_(), seen = look(), loaded = content_hash()] {
    run(watching, seen, loaded);
  });
}

ConfigWatcher::~ConfigWatcher() {
  {
    std::lock_guard guard(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

ConfigWatcher::Fingerprints ConfigWatcher::look() const {
  Fingerprints prints;
  for (const std::string& file : files_()) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
      prints.emplace_back();
      continue;
    }
    prints.push_back({.exists = true,
                      .device = st.st_dev,
                      .inode = st.st_ino,
                      .size = st.st_size,
                      .modified_ns = st.st_mtim.tv_sec * kNanosPerSecond + st.st_mtim.tv_nsec,
                      .changed_ns = st.st_ctim.tv_sec * kNanosPerSecond + st.st_ctim.tv_nsec});
  }
  return prints;
}

std::size_t ConfigWatcher::content_hash() const {
  std::ostringstream text;
  for (const std::string& file : files_()) {
    std::ifstream in(file, std::ios::binary);
    text << file << '\0' << std::string(std::istreambuf_iterator<char>(in), {}) << '\0';
  }
  return std::hash<std::string>{}(text.str());
}

// `loaded` is the hash of the content last loaded: a touch alone reloads nothing.
void ConfigWatcher::run(bool watching, Fingerprints seen, std::size_t loaded) {
  bool settling = false;
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, kInterval, [this] { return stopping_; })) {
    if (!enabled_()) {
      watching = false;
      continue;
    }
    const Fingerprints now = look();
    if (!watching) {  // the running config is what the file says now
      watching = true;
      seen = now;
      loaded = content_hash();
      continue;
    }
    if (now != seen) {
      // Changed since the last look: wait until it holds still for one interval, so a burst of
      // writes (an editor, kubelet's several renames) reloads once, and never a half-written file.
      seen = now;
      settling = true;
      continue;
    }
    if (!settling || now.empty() || !now.front().exists) continue;
    settling = false;
    const std::size_t hash = content_hash();
    if (hash == loaded) continue;
    loaded = hash;
    lock.unlock();
    reload_();
    lock.lock();
  }
}

}  // namespace sluice::app
