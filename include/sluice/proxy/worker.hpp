#pragma once
// One event loop: its own io_context, SO_REUSEPORT acceptor, upstream pool and sessions.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "sluice/core/ip.hpp"
#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/http2_upstream.hpp"
#include "sluice/proxy/limits.hpp"
#include "sluice/proxy/piece_pool.hpp"
#include "sluice/proxy/runtime.hpp"
#include "sluice/proxy/services.hpp"
#include "sluice/proxy/upstream_pool.hpp"
#include "sluice/redis/shared_limiter.hpp"

namespace sluice::proxy {

class Session;

class Worker {
 public:
  // How often deadlines are checked: timeouts fire up to this much late.
  static constexpr auto kTick = std::chrono::milliseconds(25);
  // Idle upstream connections are swept once per this many ticks.
  static constexpr unsigned kTicksPerSweep = 40;

  Worker(Services& services, std::shared_ptr<const Runtime> runtime);
  ~Worker();

  asio::io_context& io() noexcept { return io_; }
  Services& services() noexcept { return services_; }
  UpstreamPool& pool() noexcept { return pool_; }
  PiecePool& pieces() noexcept { return pieces_; }
  Http2Upstreams& http2_upstreams() noexcept { return http2_upstreams_; }
  // Decides routes with shared limits; null when the process has no redis: block.
  redis::SharedLimiter* shared() noexcept { return shared_.get(); }
  // Decides every request's limits, local and shared.
  Limits& limits() noexcept { return limits_; }
  // The current config generation; read on this worker's thread only.
  [[nodiscard]] const std::shared_ptr<const Runtime>& runtime() const noexcept { return runtime_; }

  // Starts accepting on `acceptor` (already bound and listening).
  void start(TcpAcceptor acceptor);
  // Thread-safe: serves a connected stream socket accepted elsewhere (inetd style; the session
  // fuzzer hands in one end of a socketpair). Takes ownership of `fd`.
  void adopt(int fd);
  // Thread-safe: the next requests on this worker use `runtime`.
  void set_runtime(std::shared_ptr<const Runtime> runtime);
  // Thread-safe: stop accepting and close connections waiting between requests; requests in
  // flight (and delayed ones) run to completion.
  void drain();
  // Thread-safe: cancel everything now.
  void abort();
  [[nodiscard]] std::size_t sessions() const noexcept { return sessions_count_.load(); }

  std::string next_request_id();
  void add(Session* session) {
    sessions_.insert(session);
    sessions_count_.fetch_add(1);
  }
  void remove(Session* session) {
    sessions_.erase(session);
    sessions_count_.fetch_sub(1);
  }

 private:
  Task<void> accept_loop();
  void serve(TcpSocket socket);
  // Turns a new connection away with a 503 saying why; counted and logged within a budget.
  void refuse(TcpSocket socket, ConnectionRefusal why, const std::optional<IpAddress>& peer,
              std::string_view detail);
  Task<void> write_refusal(TcpSocket socket, std::string detail);
  Task<void> tick();
  enum class Closing { idle_sessions, all_sessions };
  // Stops accepting, closes sessions and the idle upstream connections.
  void close_down(Closing which);

  // Declared before io_ so that they outlive it: destroying io_ destroys suspended sessions.
  Services& services_;
  std::unordered_set<Session*> sessions_;
  std::atomic<std::size_t> sessions_count_{0};
  std::uint32_t id_prefix_;
  std::uint64_t id_counter_ = 0;
  PiecePool pieces_;  // suspended sessions hold leases
  asio::io_context io_{1};
  // Declared after io_ so that their sockets close while it still exists.
  std::shared_ptr<const Runtime> runtime_;
  UpstreamPool pool_;
  Http2Upstreams http2_upstreams_{pool_};
  std::unique_ptr<redis::SharedLimiter> shared_;
  Limits limits_;
  std::unique_ptr<TcpAcceptor> acceptor_;
};

}  // namespace sluice::proxy
