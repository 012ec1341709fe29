#pragma once
// A real redis-server for tests, on a free loopback port, with nothing saved to disk; and a
// blocking client over sluice's own pipelined connection. A missing redis-server fails the
// test that needs it (the constructor throws): shared limits are never tested against a mock.

#include <sys/types.h>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/config/config.hpp"
#include "sluice/redis/connection.hpp"

namespace sluice::testing {

// A redis-server that speaks TLS only (--tls-port), with these PEM files.
struct RedisTlsFiles {
  std::string cert;
  std::string key;
  std::string ca;  // the CA of client certificates, and of the server's for redis-cli
  bool require_client_certs = false;
  std::string client_cert;  // what redis-cli presents when they are required
  std::string client_key;
};

class RedisServer {
 public:
  explicit RedisServer(std::optional<RedisTlsFiles> tls = std::nullopt);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::string address() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  void kill();    // SIGKILL: connections reset, everything lost
  void start();   // (again) on the same port, empty; returns once it answers PING
  void pause();   // SIGSTOP: connections stay open, nothing answers
  void resume();  // SIGCONT
  // redis-cli's output for one command, trailing newline removed.
  std::string cli(const std::vector<std::string>& args) const;

 private:
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::optional<RedisTlsFiles> tls_;
};

// Commands through redis::Connection, one at a time, blocking.
class RedisClient {
 public:
  explicit RedisClient(const RedisServer& server, Nanos timeout = kNanosPerSecond);
  ~RedisClient();
  redis::Result call(std::vector<std::string> command);

 private:
  boost::asio::io_context io_;
  config::RedisConfig config_;
  std::unique_ptr<redis::Connection> connection_;
};

}  // namespace sluice::testing
