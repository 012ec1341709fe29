#include "sluice/app/state_file.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sluice::app {
namespace {

std::string system_error(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Writes all of `bytes` to `fd`, then flushes it to the disk.
bool write_all(int fd, const std::string& bytes) {
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return ::fsync(fd) == 0;
}

// The rename is durable once the directory is on the disk too.
void sync_directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string directory = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::optional<limit::Snapshot> read_state_file(const std::string& path, observe::EventLog& log) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const bool missing = errno == ENOENT;
    log.message(missing ? observe::Level::info : observe::Level::warn, "state_ignored",
                {{"file", path},
                 {"reason", missing ? "no state file yet: buckets start empty"
                                    : system_error("cannot open")}});
    return std::nullopt;
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  limit::DecodedSnapshot decoded = limit::decode(bytes.str());
  if (!decoded.snapshot) {
    log.message(observe::Level::warn, "state_ignored",
                {{"file", path}, {"reason", decoded.error + "; buckets start empty"}});
  }
  return std::move(decoded.snapshot);
}

bool write_state_file(const std::string& path, const limit::Snapshot& snapshot,
                      observe::EventLog& log) {
  // A fresh name created exclusively (mkostemp: O_CREAT|O_EXCL, mode 0600): a symlink or a
  // world-writable file planted at a predictable name is never followed or reused.
  std::string temporary = path + ".tmp.XXXXXX";
  const int fd = ::mkostemp(temporary.data(), O_CLOEXEC);
  std::string error;
  if (fd < 0) {
    error = system_error("cannot create a temporary file beside " + path);
  } else {
    const bool written = write_all(fd, limit::encode(snapshot));
    if (!written) error = system_error("cannot write " + temporary);
    if (::close(fd) != 0 && error.empty()) error = system_error("cannot write " + temporary);
    if (error.empty() && std::rename(temporary.c_str(), path.c_str()) != 0) {
      error = system_error("cannot rename " + temporary);
    }
    if (!error.empty()) ::unlink(temporary.c_str());
    if (error.empty()) sync_directory_of(path);
  }
  if (!error.empty()) {
    log.message(observe::Level::error, "state_save_failed", {{"file", path}, {"error", error}});
    return false;
  }
  log.message(observe::Level::info, "state_saved",
              {{"file", path},
               {"buckets", std::to_string(snapshot.buckets.size()), true},
               {"quota_counters", std::to_string(snapshot.quotas.size()), true}});
  return true;
}

}  // namespace sluice::app
