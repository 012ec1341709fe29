// An HTTP/1.1 client's request to an HTTP/2 upstream (upstream_protocol: http2): the request
// translated to a stream on the worker's multiplexed connection, the response back to HTTP/1.1,
// with its trailers (a gRPC status, say) as the trailer section of a chunked body.
#include <boost/asio/write.hpp>

#include "sluice/proxy/exchange.hpp"
#include "sluice/proxy/headers.hpp"
#include "sluice/proxy/http2_upstream.hpp"
#include "sluice/proxy/relay.hpp"
#include "sluice/proxy/request_head.hpp"
#include "sluice/proxy/response_head.hpp"
#include "sluice/proxy/session.hpp"
#include "sluice/proxy/upstream_exchange.hpp"
#include "sluice/proxy/wire.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::proxy {
namespace {

// What a stream holds of either body before the side that feeds it waits.
constexpr std::size_t kMaxBuffered = 4 * kRelayPiece;

}  // namespace

Task<bool> Session::forward_h2(RequestParser& parser, Exchange& ex) {
  Services& services = worker_.services();
  const config::Config& config = *ex.runtime->config;
  auto& request = parser.get();
  const bool client_keep_alive = request.keep_alive();
  if (awaits_continue(parser)) {
    if (!co_await write_continue()) co_return false;
  }

  const Nanos upstream_started = services.clock.now();
  deadline_ = kNoDeadline;  // the pool keeps its own connect deadline
  Http2Opened opened = co_await open_http2(worker_, ex);
  if (!opened.connection) {
    co_await refuse(ex, opened.refusal);
    co_return false;
  }
  const std::shared_ptr<Http2Upstream> upstream = std::move(opened.connection);

  UpstreamRequestHead outgoing(request, ex.forwarding(peer_text_, stream_.tls() != nullptr));
  outgoing.remove(http::field::transfer_encoding);  // HTTP/2 frames the body itself
  const auto headers = http2_request_headers(outgoing, ex.upstream->tls.has_value());

  SteadyTimer wake(socket_.get_executor(), SteadyTimer::time_point::max());
  UpstreamStream up(wake);
  const auto changed = [&]() -> Task<void> {
    wake.expires_at(SteadyTimer::time_point::max());
    upstream_wait_ = &wake;
    co_await wake.async_wait(use_tuple);
    upstream_wait_ = nullptr;
  };
  if (!upstream->submit(up, headers, !parser.is_done())) {
    co_await refuse(ex, stream_refused(services, ex));
    co_return false;
  }
  // However this coroutine ends, the upstream connection forgets the stream.
  struct Forget {
    Http2Upstream& upstream;
    UpstreamStream& stream;
    ~Forget() { upstream.release(stream); }
  } forget{*upstream, up};

  const auto piece = worker_.pieces().borrow();
  while (!parser.is_done()) {
    while (up.request_body.size() - up.request_taken >= kMaxBuffered && !up.failed &&
           !timed_out()) {
      arm(config.timeouts.upstream_response);
      co_await changed();
    }
    if (up.failed || timed_out()) break;
    parser.body().data = piece.get().data();
    parser.body().size = piece.get().size();
    arm(config.timeouts.client_idle);
    auto [ec, n] = co_await http::async_read_some(stream_, buffer_, parser, use_tuple);
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = piece.get().size() - parser.body().size;
    up.request_body.append(piece.get().data(), got);
    upstream->resume(up);
    if (ec) {
      upstream->cancel(up);
      if (ec == http::error::body_limit) {
        co_await write_local(make_error(413, "request body larger than max_body_bytes", ex.version),
                             false, &ex);
      } else {
        ex.status = kClientClosedRequest;
        finish(ex);
      }
      co_return false;
    }
  }
  up.request_complete = true;
  upstream->resume(up);

  arm(config.timeouts.upstream_response);
  while (!up.head_received && !up.failed && !timed_out()) {
    co_await changed();
  }
  if (!up.head_received) {
    upstream->cancel(up);
    if (timed_out()) {
      co_await refuse(ex, too_slow(services, ex));
    } else {
      co_await refuse(ex, stream_reset(services, ex, up.reset_code));
    }
    co_return false;
  }

  ResponseHead head;
  up.response_head(head);
  const bool has_length = !head.first(http::field::content_length).empty();
  head.forward_rules(kHttp2, ex);
  ex.status = up.status;
  ex.counters->count_response(ex.status);
  const bool head_request = request.method() == http::verb::head;
  const bool bodiless = head_request || up.status == 204 || up.status == 304;
  // A body without a declared length goes chunked to an HTTP/1.1 client, trailers (a gRPC
  // status) in its trailer section; an HTTP/1.0 client reads to the close instead. A body with
  // a length keeps it, and trailers after it are dropped: HTTP/1.1 has no place for them.
  const bool chunked = !bodiless && ex.version == kHttp11 && !has_length;
  bool keep_alive =
      client_keep_alive && !services.draining.load() && (bodiless || has_length || chunked);
  write_head(head,
             {.version = ex.version,
              .keep_alive = keep_alive,
              .body = chunked ? Http1Framing::Body::chunked : Http1Framing::Body::as_sent,
              .upgrade = {}},
             head_);
  arm(config.timeouts.client_idle);
  auto [head_ec, head_n] = co_await asio::async_write(stream_, asio::buffer(head_), use_tuple);
  if (head_ec) {
    upstream->cancel(up);
    finish(ex);
    co_return false;
  }

  std::string out;
  std::array<char, 20> size_line{};
  for (;;) {
    if (!up.body.empty()) {
      out.clear();
      if (chunked) out += detail::chunk_size_line(up.body.size(), size_line);
      out += up.body;
      if (chunked) out += "\r\n";
      const std::size_t n = up.body.size();
      up.body.clear();
      ex.bytes += n;
      arm(config.timeouts.client_idle);
      auto [ec, written] = co_await asio::async_write(stream_, asio::buffer(out), use_tuple);
      if (ec) {
        upstream->cancel(up);
        finish(ex);
        co_return false;
      }
      upstream->consumed(up, n);
      continue;
    }
    if (up.ended || up.failed || timed_out()) break;
    arm(config.timeouts.upstream_response);
    co_await changed();
  }
  ex.upstream_ns = services.clock.now() - upstream_started;
  if (!up.ended) {
    // Cut off midway: the client connection closes, so a truncated body is never taken whole.
    upstream->cancel(up);
    ex.counters->count(timed_out() ? UpstreamError::timeout : UpstreamError::reset);
    finish(ex);
    co_return false;
  }
  if (chunked) {
    out = "0\r\n";
    for (const auto& [name, value] : up.trailers) {
      out.append(name).append(": ").append(value).append("\r\n");
    }
    out += "\r\n";
    arm(config.timeouts.client_idle);
    auto [ec, written] = co_await asio::async_write(stream_, asio::buffer(out), use_tuple);
    if (ec) keep_alive = false;
  }
  finish(ex);
  co_return keep_alive;
}

}  // namespace sluice::proxy
