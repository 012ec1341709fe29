#include "sluice/proxy/worker.hpp"

#include "sluice/proxy/request_checks.hpp"

#include <unistd.h>

#include <random>

#include "sluice/limit/key.hpp"
#include "sluice/proxy/accept_backoff.hpp"
#include "sluice/proxy/local_response.hpp"
#include "sluice/proxy/session.hpp"

namespace sluice::proxy {
namespace {

// The redis: block is a process setting: the one the process started with stays.
std::unique_ptr<redis::SharedLimiter> shared_limiter(asio::io_context& io, Services& services,
                                                     const Runtime& runtime) {
  const auto& redis = runtime.config->redis;
  if (!redis || services.redis_health == nullptr) return nullptr;
  return std::make_unique<redis::SharedLimiter>(io.get_executor(), *redis, runtime.tls->redis(),
                                                services.limiter, *services.redis_health,
                                                services.clock);
}

}  // namespace

Worker::Worker(Services& services, std::shared_ptr<const Runtime> runtime)
    : services_(services),
      id_prefix_(std::random_device{}()),
      runtime_(std::move(runtime)),
      pool_(io_.get_executor(), services.upstream_connections, services.clock),
      shared_(shared_limiter(io_, services, *runtime_)),
      limits_(services.limiter, services.clock, shared_.get()) {}

Worker::~Worker() = default;

void Worker::start(TcpAcceptor acceptor) {
  acceptor_ = std::make_unique<TcpAcceptor>(std::move(acceptor));
  asio::co_spawn(io_, accept_loop(), asio::detached);
  asio::co_spawn(io_, tick(), asio::detached);
  if (shared_) shared_->start();
}

// The one timer of the event loop: it enforces every session's deadline and sweeps the pool.
Task<void> Worker::tick() {
  SteadyTimer timer(io_);
  for (unsigned n = 1;; ++n) {
    timer.expires_after(kTick);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec) co_return;
    const Nanos now = services_.clock.now();
    // Cancelling only queues completions: no session leaves the set during the loop.
    for (Session* session : sessions_) session->check_deadline(now);
    if (n % kTicksPerSweep == 0) pool_.sweep();
  }
}

void Worker::set_runtime(std::shared_ptr<const Runtime> runtime) {
  asio::post(io_,
             [this, runtime = std::move(runtime)]() mutable { runtime_ = std::move(runtime); });
}

void Worker::drain() {
  asio::post(io_, [this] { close_down(Closing::idle_sessions); });
}

void Worker::abort() {
  asio::post(io_, [this] {
    close_down(Closing::all_sessions);
    io_.stop();  // pending timers (held requests) end with the loop
  });
}

void Worker::close_down(Closing which) {
  if (acceptor_) {
    error_code ec;
    acceptor_->close(ec);
  }
  // Copy: closing a session may end it and remove it from the set.
  const std::vector<Session*> sessions(sessions_.begin(), sessions_.end());
  for (Session* s : sessions) {
    if (which == Closing::all_sessions) {
      s->close();
    } else {
      s->close_if_idle();
    }
  }
  pool_.close_idle();
  if (which == Closing::all_sessions) http2_upstreams_.close_all();
}

std::string Worker::next_request_id() {
  // 8 hex digits of this worker's random prefix, 12 of its counter.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(20, '0');
  std::uint64_t counter = ++id_counter_;
  for (int i = 19; i >= 8; --i, counter >>= 4) id[i] = kHex[counter & 15];
  for (int i = 7, prefix = 0; i >= 0; --i, ++prefix) {
    id[i] = kHex[(id_prefix_ >> (4 * prefix)) & 15];
  }
  return id;
}

Task<void> Worker::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_->async_accept(use_tuple);
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
    if (ec) {
      co_await back_off_after_accept_failure(ec, services_.log, "proxy");
      continue;
    }
    serve(std::move(socket));
  }
}

void Worker::adopt(int fd) {
  asio::post(io_, [this, fd] {
    TcpSocket socket(io_);
    error_code ec;
    socket.assign(tcp::v6(), fd, ec);  // the family is not checked: any stream socket will do
    if (ec) {
      ::close(fd);
      return;
    }
    serve(std::move(socket));
  });
}

void Worker::serve(TcpSocket socket) {
  error_code opt_ec;
  socket.set_option(tcp::no_delay(true), opt_ec);
  const config::Config& config = *runtime_->config;
  const std::optional<IpAddress> peer = peer_address(socket);
  if (static_cast<std::size_t>(services_.downstream_connections.load()) >=
      config.http.max_connections) {
    refuse(std::move(socket), ConnectionRefusal::max_connections, peer, "too many connections");
    return;
  }
  ClientConnections::Slot slot;
  if (const auto per_client = config.http.max_connections_per_client;
      per_client > 0 && peer && !limit::is_trusted(*peer, config.trusted_proxies)) {
    auto opened = services_.client_connections.open(
        limit::client_key_text(*peer, config.ipv6_prefix), per_client);
    if (opened.admission == ClientConnections::Admission::over_limit) {
      refuse(std::move(socket), ConnectionRefusal::per_client, peer,
             "too many connections from this client");
      return;
    }
    slot = std::move(opened.slot);
  }
  auto session = std::make_shared<Session>(*this, std::move(socket), peer, std::move(slot));
  session->start();
}

void Worker::refuse(TcpSocket socket, ConnectionRefusal why, const std::optional<IpAddress>& peer,
                    std::string_view detail) {
  services_.count_refused_connection(why, peer ? peer->to_string() : std::string());
  asio::co_spawn(io_, write_refusal(std::move(socket), std::string(detail)), asio::detached);
}

// A short 503 and close, bounded in time, instead of a silent drop.
Task<void> Worker::write_refusal(TcpSocket socket, std::string detail) {
  beast::tcp_stream stream(std::move(socket));
  auto res = make_error(503, detail, kHttp11);
  res.keep_alive(false);
  res.set("X-Request-Id", next_request_id());
  services_.count_local_response(503);
  stream.expires_after(std::chrono::seconds(1));
  co_await http::async_write(stream, res, use_tuple);
  error_code ec;
  stream.socket().shutdown(TcpSocket::shutdown_both, ec);
}

}  // namespace sluice::proxy
