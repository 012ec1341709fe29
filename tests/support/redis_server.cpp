#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace sluice::testing {
namespace {

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

pid_t spawn(const std::vector<std::string>& args, int stdout_fd) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (stdout_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot run " + args[0] + ": " + std::strerror(rc));
  return pid;
}

std::string cli_output(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = spawn(argv, fds[1]);
  ::close(fds[1]);
  std::string out;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) out.append(buffer, n);
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

RedisServer::RedisServer(std::optional<RedisTlsFiles> tls, std::vector<std::string> extra)
    : port_(free_port()), tls_(std::move(tls)), extra_(std::move(extra)) {
  start();
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGCONT);
    kill();
  }
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RedisServer::start() {
  std::vector<std::string> args{"redis-server", "--bind", "127.0.0.1",   "--save", "",
                                "--appendonly", "no",     "--daemonize", "no"};
  if (tls_) {
    args.insert(args.end(),
                {"--port", "0", "--tls-port", std::to_string(port_), "--tls-cert-file", tls_->cert,
                 "--tls-key-file", tls_->key, "--tls-ca-cert-file", tls_->ca, "--tls-auth-clients",
                 tls_->require_client_certs ? "yes" : "no"});
  } else {
    args.insert(args.end(), {"--port", std::to_string(port_)});
  }
  args.insert(args.end(), extra_.begin(), extra_.end());
  pid_ = spawn(args, -1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (cli({"PING"}) != "PONG") {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start (port " + std::to_string(port_) + ")");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("redis-server did not answer PING within 10 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // no event to await: a poll
  }
}

void RedisServer::pause() {
  ::kill(pid_, SIGSTOP);
}

void RedisServer::resume() {
  ::kill(pid_, SIGCONT);
}

std::string RedisServer::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"redis-cli", "-p", std::to_string(port_)};
  if (tls_) {
    argv.insert(argv.end(), {"--tls", "--cacert", tls_->ca});
    if (!tls_->client_cert.empty()) {
      argv.insert(argv.end(), {"--cert", tls_->client_cert, "--key", tls_->client_key});
    }
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return cli_output(argv);
}

RedisClient::RedisClient(const RedisServer& server, Nanos timeout) {
  config_.host = "127.0.0.1";
  config_.port = server.port();
  config_.timeout = timeout;
  connection_ = std::make_unique<redis::Connection>(io_.get_executor(), config_);
  std::string why = "not run";
  bool done = false;
  boost::asio::co_spawn(
      io_,
      [&]() -> sluice::Task<> {
        why = co_await connection_->open();
        done = true;
      },
      boost::asio::detached);
  // The connection's reader keeps the loop busy: run until this command is answered.
  while (!done) io_.run_one();
  if (!why.empty()) throw std::runtime_error("cannot connect to redis-server: " + why);
}

RedisClient::~RedisClient() {
  connection_.reset();
}

redis::Result RedisClient::call(std::vector<std::string> command) {
  redis::Result result;
  bool done = false;
  boost::asio::co_spawn(
      io_,
      [&]() -> sluice::Task<> {
        result = co_await connection_->call(std::move(command));
        done = true;
      },
      boost::asio::detached);
  while (!done) io_.run_one();
  return result;
}

}  // namespace sluice::testing

namespace sluice::testing {
namespace {

// Polls `condition` every 20 ms until it holds or `timeout` passes: the sentinels publish no event
// a test could wait on for what they learn from each other.
bool poll(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// The value of `field` in the field/value lines redis-cli prints for SENTINEL MASTER.
std::string field_of(const std::string& lines, const std::string& field) {
  std::istringstream in(lines);
  for (std::string name, value; std::getline(in, name) && std::getline(in, value);) {
    if (name == field) return value;
  }
  return {};
}

}  // namespace

RedisSentinelSet::RedisSentinelSet()
    : dir_("/tmp/sluice-sentinel-" + std::to_string(::getpid()) + "-" +
           std::to_string(reinterpret_cast<std::uintptr_t>(this))) {
  std::filesystem::create_directories(dir_);
  servers_.push_back(std::make_unique<RedisServer>());
  const std::string master_port = std::to_string(servers_[0]->port());
  servers_.push_back(std::make_unique<RedisServer>(
      std::nullopt, std::vector<std::string>{"--replicaof", "127.0.0.1", master_port}));
  // The sentinels learn of the replica from the master's INFO: it must be there, in sync, first.
  if (!poll(
          [&] {
            return replica().cli({"INFO", "replication"}).find("master_link_status:up") !=
                   std::string::npos;
          },
          std::chrono::seconds(10))) {
    throw std::runtime_error("the replica did not sync with the master");
  }
  for (int i = 0; i < 3; ++i) {
    const std::uint16_t port = free_port();
    const std::string conf = dir_ + "/sentinel-" + std::to_string(i) + ".conf";
    std::ofstream(conf) << "port " << port << "\nbind 127.0.0.1\ndaemonize no\n"
                        << "sentinel monitor " << kMaster << " 127.0.0.1 " << master_port
                        << " 2\nsentinel down-after-milliseconds " << kMaster
                        << " 1000\nsentinel failover-timeout " << kMaster
                        << " 10000\nsentinel parallel-syncs " << kMaster << " 1\n";
    sentinel_ports_.push_back(port);
    sentinel_pids_.push_back(spawn({"redis-server", conf, "--sentinel"}, -1));
  }
  // Ready when each sentinel knows the replica and the two other sentinels (hello messages go
  // every 2 s).
  for (std::size_t i = 0; i < 3; ++i) {
    if (!poll(
            [&] {
              const std::string m = sentinel_cli(i, {"SENTINEL", "MASTER", kMaster});
              return field_of(m, "num-slaves") == "1" && field_of(m, "num-other-sentinels") == "2";
            },
            std::chrono::seconds(20))) {
      throw std::runtime_error("the sentinels did not find each other and the replica");
    }
  }
}

RedisSentinelSet::~RedisSentinelSet() {
  for (const pid_t pid : sentinel_pids_) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  servers_.clear();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string RedisSentinelSet::sentinel_addresses() const {
  std::string out;
  for (const std::uint16_t port : sentinel_ports_) {
    out += (out.empty() ? "" : ", ") + std::string("127.0.0.1:") + std::to_string(port);
  }
  return out;
}

std::string RedisSentinelSet::sentinel_cli(std::size_t i,
                                           const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"redis-cli", "-p", std::to_string(sentinel_ports_.at(i))};
  argv.insert(argv.end(), args.begin(), args.end());
  return cli_output(argv);
}

std::uint16_t RedisSentinelSet::reported_master_port() const {
  const std::string answer = sentinel_cli(0, {"SENTINEL", "get-master-addr-by-name", kMaster});
  const auto newline = answer.find('\n');
  if (newline == std::string::npos) return 0;
  return static_cast<std::uint16_t>(std::atoi(answer.c_str() + newline + 1));
}

bool RedisSentinelSet::wait_for_promotion(std::chrono::milliseconds timeout) {
  const std::string replica_port = std::to_string(replica().port());
  const bool promoted = poll(
      [&] {
        for (std::size_t i = 0; i < sentinel_ports_.size(); ++i) {
          const auto answer = sentinel_cli(i, {"SENTINEL", "get-master-addr-by-name", kMaster});
          if (answer.find(replica_port) == std::string::npos) return false;
        }
        return true;
      },
      timeout);
  if (promoted) master_ = 1 - master_;
  return promoted;
}

RedisCluster::RedisCluster(std::size_t masters, std::size_t replicas)
    : dir_("/tmp/sluice-cluster-" + std::to_string(::getpid()) + "-" +
           std::to_string(reinterpret_cast<std::uintptr_t>(this))) {
  std::filesystem::create_directories(dir_);
  std::vector<std::string> create{"redis-cli", "--cluster", "create"};
  for (std::size_t i = 0; i < masters * (1 + replicas); ++i) {
    // The bus port is chosen too: port + 10000 may not exist.
    servers_.push_back(std::make_unique<RedisServer>(
        std::nullopt,
        std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file",
                                 dir_ + "/nodes-" + std::to_string(i) + ".conf", "--cluster-port",
                                 std::to_string(free_port()), "--cluster-node-timeout", "2000",
                                 // A master down leaves the others serving their slots.
                                 "--cluster-require-full-coverage", "no"}));
    create.push_back("127.0.0.1:" + std::to_string(servers_.back()->port()));
  }
  create.insert(create.end(), {"--cluster-replicas", std::to_string(replicas), "--cluster-yes"});
  const std::string out = cli_output(create);
  if (out.find("All 16384 slots covered") == std::string::npos) {
    throw std::runtime_error("redis-cli --cluster create failed: " + out);
  }
  if (!wait_until_ok(std::chrono::seconds(20))) {
    throw std::runtime_error("the cluster did not reach cluster_state:ok");
  }
  // Replicas in sync with their masters, so that a failover has something to take over.
  const bool synced = poll(
      [&] {
        for (const auto& server : servers_) {
          const std::string info = server->cli({"INFO", "replication"});
          const bool master = info.find("role:master") != std::string::npos;
          const std::string want =
              master ? "connected_slaves:" + std::to_string(replicas) : "master_link_status:up";
          if (info.find(want) == std::string::npos) return false;
        }
        return true;
      },
      std::chrono::seconds(20));
  if (!synced) throw std::runtime_error("the cluster's replicas did not sync");
}

RedisCluster::~RedisCluster() {
  servers_.clear();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string RedisCluster::seeds() const {
  std::string out;
  for (const auto& server : servers_) {
    out += (out.empty() ? "" : ", ") + std::string("127.0.0.1:") + std::to_string(server->port());
  }
  return out;
}

std::string RedisCluster::node_id(std::size_t i) const {
  return servers_.at(i)->cli({"CLUSTER", "MYID"});
}

namespace {

// The slot ranges a node serves, as it says itself: the "myself" line of CLUSTER NODES, whose
// fields from the ninth on are "first-last" or "slot" (or "[slot->-id]" while migrating).
std::vector<std::pair<unsigned, unsigned>> own_slots(const RedisServer& server) {
  std::istringstream in(server.cli({"CLUSTER", "NODES"}));
  for (std::string line; std::getline(in, line);) {
    if (line.find("myself") == std::string::npos) continue;
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string field; fields >> field;) f.push_back(field);
    std::vector<std::pair<unsigned, unsigned>> ranges;
    for (std::size_t i = 8; i < f.size(); ++i) {
      if (f[i].starts_with('[')) continue;
      const auto dash = f[i].find('-');
      const auto first = static_cast<unsigned>(std::stoul(f[i].substr(0, dash)));
      ranges.emplace_back(first, dash == std::string::npos
                                     ? first
                                     : static_cast<unsigned>(std::stoul(f[i].substr(dash + 1))));
    }
    return ranges;
  }
  return {};
}

}  // namespace

std::size_t RedisCluster::owner_of(std::uint16_t slot) const {
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    for (const auto& [first, last] : own_slots(*servers_[i])) {
      if (slot >= first && slot <= last) return i;
    }
  }
  return servers_.size();
}

std::size_t RedisCluster::slots_before(std::uint16_t slot) const {
  const std::size_t owner = owner_of(slot);
  if (owner == servers_.size()) return 0;
  std::size_t before = 0;
  for (const auto& [first, last] : own_slots(*servers_[owner])) {
    if (first <= slot) before += std::min<unsigned>(last + 1, slot) - first;
  }
  return before;
}

std::string RedisCluster::reshard(std::size_t from, std::size_t to, std::size_t count) {
  return cli_output({"redis-cli", "--cluster", "reshard",
                     "127.0.0.1:" + std::to_string(servers_.at(from)->port()), "--cluster-from",
                     node_id(from), "--cluster-to", node_id(to), "--cluster-slots",
                     std::to_string(count), "--cluster-yes"});
}

bool RedisCluster::wait_for_new_owner(std::uint16_t slot, std::size_t old,
                                      std::chrono::milliseconds timeout) {
  return poll(
      [&] {
        const std::size_t owner = owner_of(slot);
        return owner != old && owner < servers_.size();
      },
      timeout);
}

bool RedisCluster::wait_until_ok(std::chrono::milliseconds timeout) {
  return poll(
      [&] {
        for (const auto& server : servers_) {
          const std::string info = server->cli({"CLUSTER", "INFO"});
          if (info.find("cluster_state:ok") == std::string::npos) return false;
        }
        return true;
      },
      timeout);
}

}  // namespace sluice::testing
