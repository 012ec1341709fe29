#pragma once
// The sluice binary as a child process, for signals and exit codes. Its log must go to
// `log_path` in JSON: the ports are read from the "started" line.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "support/proxy_harness.hpp"

namespace sluice::testing {

class Daemon {
 public:
  explicit Daemon(const std::string& config_path, const std::string& log_path)
      : log_path_(log_path) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(SLUICE_BINARY, SLUICE_BINARY, "-c", config_path.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Daemon() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // A port from the "started" line: of `listen` or `admin`.
  std::uint16_t port(const std::string& which = "listen") const {
    std::uint16_t port = 0;
    wait_until([&] {
      std::smatch m;
      const std::string text = log();
      const std::regex pattern("\"" + which + "\":\"127\\.0\\.0\\.1:([0-9]+)\"");
      if (!std::regex_search(text, m, pattern)) return false;
      port = static_cast<std::uint16_t>(std::stoi(m[1]));
      return true;
    });
    return port;
  }
  void signal(int signo) const { ::kill(pid_, signo); }
  // Exit code, or -1 if it did not exit within `timeout`.
  int wait_exit(std::chrono::milliseconds timeout) {
    int status = 0;
    const bool exited =
        wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!exited) return -1;
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

}  // namespace sluice::testing
