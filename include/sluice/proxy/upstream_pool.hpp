#pragma once
// A worker's keep-alive connections to its upstreams. One pool per event loop, so no locks.
// Idle connections are not watched (an Asio wait costs an epoll_ctl per request): the worker
// sweeps out those the upstream closed, a request that cannot be retried checks its connection
// first, and one that can is retried on a fresh connection if the reused one turns out stale.

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "sluice/config/config.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/stream.hpp"
#include "sluice/proxy/tls.hpp"

namespace sluice::proxy {

class UpstreamConnection {
 public:
  UpstreamConnection(TcpSocket socket, std::string pool_key, observe::Gauge& gauge);
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  Stream stream;
  TcpSocket& socket;  // stream's
  beast::flat_buffer buffer;
  std::string pool_key;
  bool reused = false;
  Nanos idle_since = 0;

 private:
  observe::Gauge& gauge_;
};

class UpstreamPool {
 public:
  static constexpr std::size_t kMaxIdlePerUpstream = 64;
  static constexpr Nanos kMaxIdle = 30 * kNanosPerSecond;

  UpstreamPool(Executor executor, observe::Gauge& connections, const Clock& clock)
      : executor_(std::move(executor)), connections_(connections), clock_(clock) {}

  // Why no connection could be had: the connect, or (https:// upstreams) the TLS handshake.
  struct Failure {
    error_code ec;
    bool tls = false;
    std::string detail;  // the handshake's: OpenSSL's verification result when that failed
  };

  // What a new https:// connection asks for by ALPN: HTTP/1.1, or HTTP/2 (which the upstream must
  // then choose, or the connection fails).
  enum class Alpn { http1, h2 };

  enum class Reuse {
    any,      // an idle connection as it is: the caller retries if it turns out stale
    checked,  // an idle connection the upstream has not closed (one system call to ask)
    never     // a new connection
  };
  // An idle connection (reused = true) as `reuse` allows, or null. Not a coroutine: most
  // requests find one, and a coroutine frame per request for it cost ~500 instructions.
  std::unique_ptr<UpstreamConnection> idle(const config::UpstreamTarget& target, Reuse reuse);
  // An idle connection (reused = true) as `reuse` allows, else a new one, its TLS handshake
  // (with `tls`, for https:// upstreams) included, within `connect_timeout`.
  Task<std::unique_ptr<UpstreamConnection>> acquire(const config::UpstreamTarget& target,
                                                    const std::shared_ptr<ssl::context>& tls,
                                                    Nanos connect_timeout, Reuse reuse,
                                                    Failure& failure, Alpn alpn = Alpn::http1);
  // Back to the pool after a complete exchange on a keep-alive connection.
  void release(std::unique_ptr<UpstreamConnection> connection);
  // After a complete exchange, pooled or not: a TLS connection's session, kept for the next new
  // connection to resume (TLS 1.3 tickets come after the handshake, with the first response).
  void remember_session(UpstreamConnection& connection);
  void close_idle();
  // Drops idle connections the upstream closed or that idled past kMaxIdle.
  void sweep();

 private:
  Executor executor_;
  observe::Gauge& connections_;
  const Clock& clock_;
  std::unordered_map<std::string, std::deque<std::unique_ptr<UpstreamConnection>>> idle_;
  // The latest resumable TLS session per upstream: a new connection resumes it, one round trip
  // and the certificate's verification fewer.
  std::unordered_map<std::string, TlsSession> sessions_;
};

}  // namespace sluice::proxy
