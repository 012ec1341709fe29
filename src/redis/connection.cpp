#include "sluice/redis/connection.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace sluice::redis {
namespace {

constexpr std::size_t kReadChunk = 16384;

}  // namespace

struct Connection::Transport {
  using Socket = asio::generic::stream_protocol::socket;
  explicit Transport(const Executor& executor) : socket(executor) {}

  template <class Buffers>
  Task<std::tuple<boost::system::error_code, std::size_t>> write(const Buffers& b) {
    if (tls) co_return co_await asio::async_write(*tls, b, use_tuple);
    co_return co_await asio::async_write(socket, b, use_tuple);
  }
  template <class Buffers>
  Task<std::tuple<boost::system::error_code, std::size_t>> read_some(const Buffers& b) {
    if (tls) co_return co_await tls->async_read_some(b, use_tuple);
    co_return co_await socket.async_read_some(b, use_tuple);
  }
  void close() {
    boost::system::error_code ignored;
    socket.close(ignored);
  }

  Socket socket;
  std::optional<asio::ssl::stream<Socket&>> tls;
};

// A command in flight. The caller waits on its own timer, which doubles as the deadline: the
// reply (or a failure) cancels it, and the caller then finds `done` set.
struct Connection::Pending {
  SteadyTimer* wake = nullptr;  // null once the caller stopped waiting
  Result result;
  bool done = false;
};

Connection::Connection(Executor executor, const config::RedisConfig& config,
                       std::shared_ptr<asio::ssl::context> tls)
    : executor_(std::move(executor)),
      config_(config),
      tls_(std::move(tls)),
      reader_(std::make_unique<ReplyReader>()),
      alive_(std::make_shared<bool>(true)) {}

Connection::~Connection() {
  fail("closed");
  *alive_ = false;
}

void Connection::fail(const std::string& reason) {
  failure_ = reason;
  open_ = false;
  ++generation_;
  if (transport_) transport_->close();
  transport_.reset();
  outgoing_.clear();
  reader_ = std::make_unique<ReplyReader>();
  // Swapped out first: a woken caller may issue new commands before this loop ends.
  auto failed = std::move(pending_);
  pending_.clear();
  for (auto& p : failed) {
    p->result = {Result::Status::error, {}, reason};
    p->done = true;
    if (p->wake != nullptr) p->wake->cancel();
  }
}

Task<std::string> Connection::open() {
  fail("connecting");
  const std::uint64_t generation = generation_;
  open_ = true;  // commands queue from now on; the writer starts once connected
  writer_running_ = true;
  // AUTH and SELECT go first, ahead of anything callers queue while the connection is made.
  std::vector<std::pair<std::string, std::shared_ptr<Pending>>> handshake;
  if (!config_.password.empty()) {
    handshake.emplace_back(
        "AUTH", enqueue(config_.user.empty()
                            ? std::vector<std::string>{"AUTH", config_.password}
                            : std::vector<std::string>{"AUTH", config_.user, config_.password}));
  }
  if (config_.db != 0) {
    handshake.emplace_back("SELECT", enqueue({"SELECT", std::to_string(config_.db)}));
  }
  const std::string problem = co_await connect_transport();
  if (generation != generation_) co_return failure_;
  if (!problem.empty()) {
    fail(problem + " (" + config_.address() + ")");
    co_return failure_;
  }
  asio::co_spawn(executor_, read_loop(), asio::detached);
  if (outgoing_.empty()) {
    writer_running_ = false;
  } else {
    asio::co_spawn(executor_, write_loop(), asio::detached);
  }
  for (auto& [name, pending] : handshake) {
    const Result r = co_await wait(pending);
    if (!r.ok()) co_return failure_;
    if (r.reply.is_error()) {
      fail(name + " refused: " + r.reply.text);
      co_return failure_;
    }
  }
  failure_.clear();
  co_return std::string();
}

// Within the timeout, on a socket of the address's family (TCP after name resolution, or unix),
// then the TLS handshake when there is one.
Task<std::string> Connection::connect_transport() {
  const std::uint64_t generation = generation_;
  auto transport = std::make_shared<Transport>(executor_);
  transport_ = transport;
  auto resolver = std::make_shared<TcpResolver>(executor_);
  auto settled = std::make_shared<bool>(false);
  bool expired = false;
  SteadyTimer deadline(executor_);
  deadline.expires_after(std::chrono::nanoseconds(config_.timeout));
  deadline.async_wait([transport, resolver, settled, &expired](boost::system::error_code e) {
    if (e || *settled) return;
    expired = true;
    resolver->cancel();
    transport->close();
  });
  Transport::Socket& socket = transport->socket;
  boost::system::error_code ec;
  if (!config_.unix_path.empty()) {
    const asio::local::stream_protocol::endpoint endpoint(config_.unix_path);
    socket.open(asio::generic::stream_protocol(endpoint.protocol()), ec);
    if (!ec) {
      std::tie(ec) = co_await socket.async_connect(endpoint, use_tuple);
    }
  } else {
    auto [resolve_ec, results] =
        co_await resolver->async_resolve(config_.host, std::to_string(config_.port),
                                         asio::ip::tcp::resolver::numeric_service, use_tuple);
    ec = resolve_ec;
    for (auto it = results.begin(); !ec && !expired && it != results.end(); ++it) {
      boost::system::error_code ignored;
      socket.close(ignored);
      socket.open(asio::generic::stream_protocol(it->endpoint().protocol()), ec);
      if (ec) continue;
      std::tie(ec) = co_await socket.async_connect(it->endpoint(), use_tuple);
      if (!ec) socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    }
  }
  std::string problem;
  if (ec || expired) {
    problem = expired ? std::string("connect timeout") : "connect failed: " + ec.message();
  } else if (tls_ && generation == generation_) {
    problem = co_await handshake(*transport);
    if (expired) problem = "TLS handshake timeout";
  }
  *settled = true;
  deadline.cancel();
  co_return problem;
}

// Verified like an https:// upstream: the certificate must name the address's host (or IP).
Task<std::string> Connection::handshake(Transport& transport) {
  transport.tls.emplace(transport.socket, *tls_);
  SSL* ssl = transport.tls->native_handle();
  boost::system::error_code ec;
  asio::ip::make_address(config_.host, ec);
  const bool ip_literal = !ec;
  if (!ip_literal) SSL_set_tlsext_host_name(ssl, config_.host.c_str());
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (ip_literal) {
    X509_VERIFY_PARAM_set1_ip_asc(param, config_.host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, config_.host.c_str(), 0);
  }
  std::tie(ec) = co_await transport.tls->async_handshake(asio::ssl::stream_base::client, use_tuple);
  if (!ec) co_return std::string();
  const long verify = SSL_get_verify_result(ssl);
  co_return "TLS handshake failed: " +
      (verify != X509_V_OK
           ? std::string("certificate not trusted: ") + X509_verify_cert_error_string(verify)
           : ec.message());
}

std::shared_ptr<Connection::Pending> Connection::enqueue(const std::vector<std::string>& command) {
  auto pending = std::make_shared<Pending>();
  pending_.push_back(pending);
  append_command(outgoing_, command);
  if (!writer_running_) {
    writer_running_ = true;
    asio::co_spawn(executor_, write_loop(), asio::detached);
  }
  return pending;
}

Task<Result> Connection::wait(std::shared_ptr<Pending> pending) {
  if (!pending->done) {
    SteadyTimer wake(executor_);
    wake.expires_after(std::chrono::nanoseconds(config_.timeout));
    pending->wake = &wake;
    co_await wake.async_wait(use_tuple);
    pending->wake = nullptr;
  }
  if (pending->done) co_return std::move(pending->result);
  // No answer in time: the connection is stalled or lost, and answers still due on it would be
  // matched to the wrong commands if it were kept.
  fail("timeout after " + std::to_string(config_.timeout / 1000000) + " ms");
  co_return Result{Result::Status::timeout, {}, failure_};
}

Task<Result> Connection::call(std::vector<std::string> command) {
  if (!open_) {
    co_return Result{Result::Status::error, {}, failure_.empty() ? "not connected" : failure_};
  }
  co_return co_await wait(enqueue(command));
}

Task<Result> Connection::call_asking(std::vector<std::string> command) {
  if (!open_) {
    co_return Result{Result::Status::error, {}, failure_.empty() ? "not connected" : failure_};
  }
  // Back to back on the wire: ASKING lets only the very next command into a migrating slot.
  auto asking = enqueue({"ASKING"});
  auto pending = enqueue(command);
  Result r = co_await wait(std::move(asking));
  if (!r.ok() || r.reply.is_error()) co_return r;
  co_return co_await wait(std::move(pending));
}

// Everything queued while the previous write was on the wire goes out in the next one.
Task<void> Connection::write_loop() {
  const std::uint64_t generation = generation_;
  const std::shared_ptr<Transport> transport = transport_;
  const auto alive = alive_;
  while (generation == generation_ && !outgoing_.empty()) {
    writing_.clear();
    writing_.swap(outgoing_);
    auto [ec, n] = co_await transport->write(asio::buffer(writing_));
    if (!*alive || generation != generation_) co_return;
    if (ec) {
      lost("write failed: " + ec.message());
      co_return;
    }
  }
  writer_running_ = false;
}

Task<void> Connection::read_loop() {
  const std::uint64_t generation = generation_;
  const std::shared_ptr<Transport> transport = transport_;
  const auto alive = alive_;
  std::string buffer(kReadChunk, '\0');
  for (;;) {
    auto [ec, n] = co_await transport->read_some(asio::buffer(buffer));
    if (!*alive || generation != generation_) co_return;
    if (ec) {
      lost(ec == asio::error::eof ? "connection closed by Redis" : "read failed: " + ec.message());
      co_return;
    }
    reader_->feed(std::string_view(buffer.data(), n));
    while (auto reply = reader_->next()) {
      if (pending_.empty()) {
        if (on_push_) {
          on_push_(std::move(*reply));
          if (!*alive || generation != generation_) co_return;
          continue;
        }
        lost("a reply nobody asked for");
        co_return;
      }
      auto p = std::move(pending_.front());
      pending_.pop_front();
      p->result = {Result::Status::ok, std::move(*reply), {}};
      p->done = true;
      if (p->wake != nullptr) p->wake->cancel();
    }
    if (reader_->broken()) {
      lost(reader_->problem());
      co_return;
    }
  }
}

void Connection::lost(const std::string& reason) {
  fail(reason);
  if (on_lost_) on_lost_(reason);
}

}  // namespace sluice::redis
