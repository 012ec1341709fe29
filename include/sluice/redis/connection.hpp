#pragma once
// One pipelined connection to Redis, used from one event loop's thread: any number of commands
// in flight, their replies matched in the order they were sent (RESP guarantees it). Every
// command has a deadline; a late reply, a reset or an unparsable byte fails the connection and
// every command waiting on it, at once. Over TLS when given a client context (rediss://).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>
#include "sluice/core/event_loop.hpp"

#include "sluice/config/config.hpp"
#include "sluice/redis/reply.hpp"

namespace sluice::redis {

namespace asio = boost::asio;

// A reply, or why there is none.
struct Result {
  enum class Status { ok, error, timeout };  // error: connection failed or closed
  Status status = Status::error;
  Reply reply;
  std::string problem;  // status != ok

  [[nodiscard]] bool ok() const noexcept { return status == Status::ok; }
};

class Connection {
 public:
  // `tls`: the client context to speak TLS with (verifying the address's host name); null for
  // clear text.
  Connection(Executor executor, const config::RedisConfig& config,
             std::shared_ptr<asio::ssl::context> tls = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects, then AUTH and SELECT as the address says; empty on success, else the reason.
  Task<std::string> open();
  [[nodiscard]] bool is_open() const noexcept { return open_; }
  // Sends `command` and waits at most the configured timeout for its reply.
  Task<Result> call(std::vector<std::string> command);
  // `command` preceded by ASKING (Redis Cluster: a slot being migrated to this node).
  Task<Result> call_asking(std::vector<std::string> command);
  // Fails every command in flight with `reason` and closes the socket.
  void fail(const std::string& reason);
  // Called when the connection fails by itself (Redis closed it, a reset, a stray reply),
  // with no command necessarily waiting: the owner learns of an outage at once.
  void on_lost(std::function<void(const std::string&)> callback) { on_lost_ = std::move(callback); }
  // A subscriber's connection: what arrives with no command waiting (a published message) goes
  // to `callback` instead of failing the connection as a stray reply.
  void on_push(std::function<void(Reply)> callback) { on_push_ = std::move(callback); }
  // Why the connection last failed.
  [[nodiscard]] const std::string& failure() const noexcept { return failure_; }

 private:
  struct Pending;
  // One connection's socket and TLS layer. A new one for every open(): the loops of a failed
  // connection keep theirs alive until their aborted operations have completed.
  struct Transport;
  std::shared_ptr<Pending> enqueue(const std::vector<std::string>& command);
  Task<Result> wait(std::shared_ptr<Pending> pending);
  // Connects (and shakes hands, with TLS) within the timeout: empty on success, else why not.
  Task<std::string> connect_transport();
  Task<std::string> handshake(Transport& transport);
  Task<void> write_loop();
  Task<void> read_loop();
  void lost(const std::string& reason);

  Executor executor_;
  const config::RedisConfig& config_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::shared_ptr<Transport> transport_;
  std::string outgoing_;  // commands queued while a write is in progress
  std::string writing_;
  bool writer_running_ = false;
  bool open_ = false;
  std::uint64_t generation_ = 0;  // which connection the loops belong to
  std::deque<std::shared_ptr<Pending>> pending_;
  std::unique_ptr<ReplyReader> reader_;
  std::string failure_;
  std::function<void(const std::string&)> on_lost_;
  std::function<void(Reply)> on_push_;
  // The read and write loops may outlive the connection (a short-lived one, as for a sentinel):
  // they check this after every wait before touching it.
  std::shared_ptr<bool> alive_;
};

}  // namespace sluice::redis
