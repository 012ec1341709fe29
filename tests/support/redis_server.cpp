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

}  // namespace

RedisServer::RedisServer(std::optional<RedisTlsFiles> tls)
    : port_(free_port()), tls_(std::move(tls)) {
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
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> argv{"redis-cli", "-p", std::to_string(port_)};
  if (tls_) {
    argv.insert(argv.end(), {"--tls", "--cacert", tls_->ca});
    if (!tls_->client_cert.empty()) {
      argv.insert(argv.end(), {"--cert", tls_->client_cert, "--key", tls_->client_key});
    }
  }
  argv.insert(argv.end(), args.begin(), args.end());
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

RedisClient::RedisClient(const RedisServer& server, Nanos timeout) {
  config_.host = "127.0.0.1";
  config_.port = server.port();
  config_.timeout = timeout;
  connection_ = std::make_unique<redis::Connection>(io_.get_executor(), config_);
  std::string why = "not run";
  bool done = false;
  boost::asio::co_spawn(
      io_,
      [&]() -> boost::asio::awaitable<void> {
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
      [&]() -> boost::asio::awaitable<void> {
        result = co_await connection_->call(std::move(command));
        done = true;
      },
      boost::asio::detached);
  while (!done) io_.run_one();
  return result;
}

}  // namespace sluice::testing
