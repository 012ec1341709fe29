#include "sluice/app/config_watcher.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "sluice/core/clock.hpp"

namespace sluice::app {

ConfigWatcher::ConfigWatcher(std::string path, std::function<bool()> enabled,
                             std::function<void()> reload)
    : path_(std::move(path)), enabled_(std::move(enabled)), reload_(std::move(reload)) {
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

ConfigWatcher::Fingerprint ConfigWatcher::look() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return {};
  return {.exists = true,
          .device = st.st_dev,
          .inode = st.st_ino,
          .size = st.st_size,
          .modified_ns = st.st_mtim.tv_sec * kNanosPerSecond + st.st_mtim.tv_nsec,
          .changed_ns = st.st_ctim.tv_sec * kNanosPerSecond + st.st_ctim.tv_nsec};
}

std::size_t ConfigWatcher::content_hash() const {
  std::ifstream in(path_, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return std::hash<std::string>{}(text.str());
}

// `loaded` is the hash of the content last loaded: a touch alone reloads nothing.
void ConfigWatcher::run(bool watching, Fingerprint seen, std::size_t loaded) {
  bool settling = false;
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, kInterval, [this] { return stopping_; })) {
    if (!enabled_()) {
      watching = false;
      continue;
    }
    const Fingerprint now = look();
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
    if (!settling || !now.exists) continue;
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
