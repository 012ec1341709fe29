#include "sluice/proxy/upstream_pool.hpp"

#include <sys/socket.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <charconv>

namespace sluice::proxy {
namespace {

using namespace boost::asio::experimental::awaitable_operators;

// Connections are shared by upstreams that are reached, and verified, the same way. Written
// into `key` in place: looked up for every request, a fresh string cost an allocation and
// ~240 instructions.
void write_key(const config::UpstreamTarget& t, std::string& key) {
  key.assign(t.host);
  key += ':';
  char digits[8];
  key.append(digits, std::to_chars(digits, digits + sizeof digits, t.port).ptr);
  if (!t.tls) return;
  if (t.tls->insecure) {
    key += " tls insecure";
  } else {
    key += " tls ca=";
    key += t.tls->ca;
  }
}

std::string key_of(const config::UpstreamTarget& t) {
  std::string key;
  write_key(t, key);
  return key;
}

// An idle keep-alive connection has nothing to say: readable means the upstream closed it (or
// broke protocol).
bool still_open(TcpSocket& socket) {
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Connects to the first of `endpoints` that answers, unless `deadline` expires first.
template <class Endpoints>
Task<error_code> connect_within(TcpSocket& socket, const Endpoints& endpoints,
                                SteadyTimer& deadline) {
  auto connected = co_await (asio::async_connect(socket, endpoints, use_tuple) ||
                             deadline.async_wait(use_tuple));
  co_return connected.index() == 0 ? std::get<0>(std::get<0>(connected))
                                   : error_code(asio::error::timed_out);
}

}  // namespace

UpstreamConnection::UpstreamConnection(TcpSocket s, std::string key, observe::Gauge& gauge)
    : stream(std::move(s)), socket(stream.socket()), pool_key(std::move(key)), gauge_(gauge) {
  gauge_.fetch_add(1, std::memory_order_relaxed);
}

UpstreamConnection::~UpstreamConnection() {
  gauge_.fetch_sub(1, std::memory_order_relaxed);
}

std::unique_ptr<UpstreamConnection> UpstreamPool::idle(const config::UpstreamTarget& target,
                                                       Reuse reuse) {
  if (reuse == Reuse::never) return nullptr;
  thread_local std::string key;
  write_key(target, key);
  const auto found = idle_.find(key);
  if (found == idle_.end()) return nullptr;
  auto& idle = found->second;
  const Nanos now = clock_.now();
  while (!idle.empty()) {
    auto conn = std::move(idle.back());
    idle.pop_back();
    if (now - conn->idle_since >= kMaxIdle) continue;
    if (reuse == Reuse::checked && !still_open(conn->socket)) continue;
    conn->reused = true;
    return conn;
  }
  return nullptr;
}

Task<std::unique_ptr<UpstreamConnection>> UpstreamPool::acquire(
    const config::UpstreamTarget& target, const std::shared_ptr<ssl::context>& tls,
    Nanos connect_timeout, Reuse reuse, Failure& failure, Alpn alpn) {
  failure = {};
  error_code& ec = failure.ec;
  if (auto conn = idle(target, reuse)) co_return conn;
  std::string key = key_of(target);

  TcpSocket socket(executor_);
  SteadyTimer deadline(executor_, to_duration(connect_timeout));
  error_code addr_ec;
  const auto address = asio::ip::make_address(target.host, addr_ec);
  if (!addr_ec) {
    const std::array endpoints{tcp::endpoint(address, target.port)};
    ec = co_await connect_within(socket, endpoints, deadline);
  } else {
    TcpResolver resolver(executor_);
    auto resolved =
        co_await (resolver.async_resolve(target.host, std::to_string(target.port), use_tuple) ||
                  deadline.async_wait(use_tuple));
    if (resolved.index() == 1) {
      ec = asio::error::timed_out;
      co_return nullptr;
    }
    auto [resolve_ec, endpoints] = std::get<0>(std::move(resolved));
    ec = resolve_ec ? resolve_ec : co_await connect_within(socket, endpoints, deadline);
  }
  if (ec) co_return nullptr;
  socket.set_option(tcp::no_delay(true), addr_ec);
  auto conn = std::make_unique<UpstreamConnection>(std::move(socket), key, connections_);
  if (!target.tls) co_return conn;

  TlsStream& stream = conn->stream.start_tls(tls);
  const auto session = sessions_.find(key);
  prepare_upstream_handshake(stream, target,
                             session == sessions_.end() ? nullptr : session->second.get());
  if (alpn == Alpn::h2) offer_h2_only(stream);
  auto shaken = co_await (stream.async_handshake(ssl::stream_base::client, use_tuple) ||
                          deadline.async_wait(use_tuple));
  ec = shaken.index() == 0 ? std::get<0>(std::get<0>(shaken)) : asio::error::timed_out;
  if (ec) {
    failure.tls = true;
    failure.detail = ec == asio::error::timed_out ? "TLS handshake timed out"
                                                  : upstream_handshake_error(stream, ec);
    // Whatever failed, the next connection verifies the upstream afresh.
    sessions_.erase(key);
    co_return nullptr;
  }
  if (alpn == Alpn::h2 && !negotiated_h2(stream)) {
    failure.tls = true;
    failure.detail = "the upstream does not offer HTTP/2 (h2) by ALPN";
    co_return nullptr;
  }
  remember_session(*conn);
  co_return conn;
}

void UpstreamPool::remember_session(UpstreamConnection& connection) {
  if (TlsStream* tls = connection.stream.tls()) {
    if (TlsSession session = resumable_session(*tls)) {
      sessions_[connection.pool_key] = std::move(session);
    }
  }
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> connection) {
  auto& idle = idle_[connection->pool_key];
  if (idle.size() >= kMaxIdlePerUpstream) return;  // closes it
  connection->idle_since = clock_.now();
  connection->buffer.clear();
  idle.push_back(std::move(connection));
}

void UpstreamPool::sweep() {
  const Nanos now = clock_.now();
  for (auto& [key, idle] : idle_) {
    std::erase_if(idle, [now](const auto& c) {
      return now - c->idle_since >= kMaxIdle || !still_open(c->socket);
    });
  }
}

void UpstreamPool::close_idle() {
  idle_.clear();
}

}  // namespace sluice::proxy
