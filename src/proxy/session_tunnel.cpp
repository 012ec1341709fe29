// Upgraded connections (README, "WebSocket and other upgrades"): after the upstream's 101, bytes
// are copied both ways until either side closes or nothing moves for tunnel_idle. Each direction
// copies one piece at a time, read then write, so a slow reader on one side holds back the other
// side's sender: nothing is buffered beyond two pieces whatever the traffic.
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>

#include "sluice/proxy/exchange.hpp"
#include "sluice/proxy/response_head.hpp"
#include "sluice/proxy/session.hpp"
#include "sluice/proxy/upstream_exchange.hpp"
#include "sluice/proxy/upstream_pool.hpp"
#include "sluice/proxy/wire.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::proxy {

using namespace boost::asio::experimental::awaitable_operators;

Task<bool> Session::open_tunnel(Exchange& ex, ClientLink& client,
                                std::unique_ptr<UpstreamConnection> upstream,
                                UpstreamResponseParser& response) {
  const config::Config& config = *ex.runtime->config;
  const WatchedUpstream watched(client, upstream->socket);
  ex.status = response.status();
  ex.counters->count_response(ex.status);
  ResponseHead head;
  response.head(head);
  const std::string_view protocol = response.first(http::field::upgrade);
  head.forward_rules(response.version(), ex);
  write_head(head,
             {.version = kHttp11,
              .keep_alive = true,
              .body = Http1Framing::Body::as_sent,
              .upgrade = protocol},
             head_);
  finish(ex);

  // What either side sent right behind its head already belongs to the new protocol.
  arm(config.timeouts.client_idle);
  const std::array<asio::const_buffer, 2> first{asio::buffer(head_), upstream->buffer.data()};
  auto [ec, n] = co_await asio::async_write(stream_, first, use_tuple);
  upstream->buffer.consume(upstream->buffer.size());
  if (!ec && buffer_.size() > 0) {
    arm(config.timeouts.client_idle);
    std::tie(ec, n) = co_await asio::async_write(upstream->stream, buffer_.data(), use_tuple);
    buffer_.consume(buffer_.size());
  }
  if (ec) co_return false;

  observe::Gauge& open = *ex.counters->tunnels;
  open.fetch_add(1, std::memory_order_relaxed);
  {
    const auto to_upstream = worker_.pieces().borrow();
    const auto to_client = worker_.pieces().borrow();
    const Nanos idle = config.timeouts.tunnel_idle;
    co_await (pump({.from = stream_, .to = upstream->stream, .piece = to_upstream.get()}, idle) ||
              pump({.from = upstream->stream, .to = stream_, .piece = to_client.get()}, idle));
  }
  open.fetch_sub(1, std::memory_order_relaxed);
  error_code ignored;
  upstream->socket.shutdown(TcpSocket::shutdown_both, ignored);
  co_return false;  // the client connection is not HTTP any more: closed
}

// Copies `from` to `to` until either fails (a close, a reset, or the deadline's cancellation).
// Every transfer re-arms the session's one deadline, shared by both directions: it passes only
// when nothing has moved either way for `idle`.
Task<void> Session::pump(Pipe pipe, Nanos idle) {
  for (;;) {
    arm(idle);
    auto [read_ec, n] = co_await pipe.from.async_read_some(
        asio::buffer(pipe.piece.data(), pipe.piece.size()), use_tuple);
    if (read_ec) co_return;
    arm(idle);
    auto [write_ec, m] =
        co_await asio::async_write(pipe.to, asio::buffer(pipe.piece.data(), n), use_tuple);
    if (write_ec) co_return;
  }
}

}  // namespace sluice::proxy
