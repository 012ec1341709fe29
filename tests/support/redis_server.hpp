#pragma once
// A real redis-server for tests, on a free loopback port, with nothing saved to disk; and a
// blocking client over sluice's own pipelined connection. A missing redis-server fails the
// test that needs it (the constructor throws): shared limits are never tested against a mock.

#include <sys/types.h>
#include <boost/asio/io_context.hpp>
#include <chrono>
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
  // `extra`: more redis-server options ("--replicaof", "127.0.0.1", "6379").
  explicit RedisServer(std::optional<RedisTlsFiles> tls = std::nullopt,
                       std::vector<std::string> extra = {});
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
  std::vector<std::string> extra_;
};

// Redis with Sentinel, as in production but on loopback: a master, a replica in sync with it, and
// three sentinels monitoring it as "mymaster" (quorum 2, down after 1 s).
class RedisSentinelSet {
 public:
  static constexpr const char* kMaster = "mymaster";
  RedisSentinelSet();
  ~RedisSentinelSet();
  RedisSentinelSet(const RedisSentinelSet&) = delete;
  RedisSentinelSet& operator=(const RedisSentinelSet&) = delete;

  // "127.0.0.1:p1, 127.0.0.1:p2, 127.0.0.1:p3"
  [[nodiscard]] std::string sentinel_addresses() const;
  RedisServer& master() { return *servers_[master_]; }
  RedisServer& replica() { return *servers_[1 - master_]; }
  // The master's port as the first sentinel reports it (0 if none).
  [[nodiscard]] std::uint16_t reported_master_port() const;
  // A sentinel command (SENTINEL FAILOVER mymaster, …) through redis-cli.
  std::string sentinel_cli(std::size_t i, const std::vector<std::string>& args) const;
  // Waits until every sentinel reports the replica as master; then it is master().
  bool wait_for_promotion(std::chrono::milliseconds timeout);

 private:
  std::string dir_;
  std::vector<std::unique_ptr<RedisServer>> servers_;  // the first master, its replica
  std::size_t master_ = 0;
  std::vector<std::uint16_t> sentinel_ports_;
  std::vector<pid_t> sentinel_pids_;
};

// A Redis Cluster on loopback: masters (and their replicas), every slot assigned by
// `redis-cli --cluster create`, ready when every node reports cluster_state:ok. A master that
// dies leaves the others serving (cluster-require-full-coverage no).
class RedisCluster {
 public:
  // `replicas`: per master; masters come first among the nodes.
  explicit RedisCluster(std::size_t masters = 3, std::size_t replicas = 0);
  ~RedisCluster();
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  // "127.0.0.1:p1, 127.0.0.1:p2, …", for redis.cluster.
  [[nodiscard]] std::string seeds() const;
  [[nodiscard]] std::size_t size() const noexcept { return servers_.size(); }
  RedisServer& node(std::size_t i) { return *servers_.at(i); }
  [[nodiscard]] std::string node_id(std::size_t i) const;
  // The node serving `slot`, as node 0 sees the map; size() if none.
  [[nodiscard]] std::size_t owner_of(std::uint16_t slot) const;
  // How many of its slots come before `slot` in the owner's slot ranges.
  [[nodiscard]] std::size_t slots_before(std::uint16_t slot) const;
  // `redis-cli --cluster reshard`: moves `count` slots (the lowest of `from`) to `to`; its output.
  std::string reshard(std::size_t from, std::size_t to, std::size_t count);
  // Waits until a node other than `old` serves `slot` (a replica promoted).
  bool wait_for_new_owner(std::uint16_t slot, std::size_t old, std::chrono::milliseconds timeout);
  // Waits until every node reports cluster_state:ok.
  bool wait_until_ok(std::chrono::milliseconds timeout);

 private:
  std::string dir_;
  std::vector<std::unique_ptr<RedisServer>> servers_;
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
