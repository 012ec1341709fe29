// The forwarding half of a session over HTTP/1.1: the request head made for the upstream, the
// upstream exchange (upstream_exchange.hpp) given the session's deadline and body, the response
// head re-framed for the client and its body relayed.
#include <boost/asio/write.hpp>

#include "sluice/proxy/exchange.hpp"
#include "sluice/proxy/headers.hpp"
#include "sluice/proxy/relay.hpp"
#include "sluice/proxy/request_head.hpp"
#include "sluice/proxy/response_head.hpp"
#include "sluice/proxy/session.hpp"
#include "sluice/proxy/upstream_exchange.hpp"
#include "sluice/proxy/upstream_pool.hpp"
#include "sluice/proxy/wire.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::proxy {
// The session as an upstream exchange sees it: its deadline, and the request body read through
// its parser, one piece at a time.
class Session::Link final : public ClientLink {
 public:
  Link(Session& session, RequestParser& parser, std::span<char> piece)
      : session_(session), parser_(parser), piece_(piece) {}

  void arm(Nanos timeout) override { session_.arm(timeout); }
  void disarm() override { session_.deadline_ = kNoDeadline; }
  [[nodiscard]] bool timed_out() const override { return session_.timed_out_; }
  void watch(TcpSocket* upstream) override { session_.upstream_socket_ = upstream; }

  Task<RelayResult> send_with_body(UpstreamConnection& upstream, std::string_view head) override {
    // relay()'s own coroutine, not one around it.
    const auto& timeouts = session_.worker_.runtime()->config->timeouts;
    return relay(session_.stream_, session_.buffer_, parser_, upstream.stream,
                 {.head = head,
                  .framing = parser_.chunked() ? Framing::chunked : Framing::none,
                  .piece = piece_,
                  .read_timeout = timeouts.client_idle,
                  .write_timeout = timeouts.upstream_response},
                 session_.arming());
  }

 private:
  Session& session_;
  RequestParser& parser_;
  std::span<char> piece_;
};

Task<bool> Session::forward(RequestParser& parser, Exchange& ex) {
  Services& services = worker_.services();
  const config::Config& config = *ex.runtime->config;
  auto& request = parser.get();
  const bool client_keep_alive = request.keep_alive();

  if (awaits_continue(parser)) {
    if (!co_await write_continue()) co_return false;
  }
  const std::string upgrade = upgrade_protocol(request, config.upgrades);
  UpstreamRequestHead outgoing(request, ex.forwarding(peer_text_, stream_.tls() != nullptr));
  if (const auto length = parser.content_length();
      length && request.count(http::field::content_length) > 0) {
    // One value, however it was sent ("5, 5", two equal lines, "05"): Beast refused unequal
    // ones, and upstreams differ on the rest.
    outgoing.set_content_length(*length);
  }
  // The one hop-by-hop request field sluice passes on is Upgrade: the limit counted the handshake.
  write_head(outgoing, {.chunked = false, .upgrade = upgrade}, head_);

  const auto piece = worker_.pieces().borrow();
  std::optional<UpstreamResponseParser> parsed;
  const Nanos upstream_started = services.clock.now();
  Link link(*this, parser, piece.get());
  Http1Opened opened = co_await open_http1(worker_, ex, link,
                                           {.head = head_,
                                            .has_body = !parser.is_done(),
                                            .idempotent = idempotent(request.method()),
                                            .head_method = request.method() == http::verb::head,
                                            .upgrade = !upgrade.empty()},
                                           parsed);
  if (opened.outcome == Http1Opened::Outcome::client_failed) {
    co_await refuse_body(ex, opened.client_error);
    co_return false;
  }
  if (opened.outcome == Http1Opened::Outcome::refused) {
    co_await refuse(ex, opened.refusal);
    co_return false;
  }
  auto upstream = std::move(opened.connection);
  const WatchedUpstream watched(link, upstream->socket);
  UpstreamResponseParser& response = *parsed;
  if (response.status() == static_cast<unsigned>(http::status::switching_protocols)) {
    co_return co_await open_tunnel(ex, link, std::move(upstream), response);  // Upgrade answered
  }
  // The response header is in: from here on a failure can only close the client connection.
  ex.status = response.status();
  ex.counters->count_response(ex.status);
  const bool upstream_keep_alive = response.keep_alive();
  const bool request_complete = parser.is_done();
  ResponseHead head;
  response.head(head);
  head.forward_rules(response.version(), ex);
  Http1Framing framing{
      .version = ex.version,
      .keep_alive = client_keep_alive && request_complete && !services.draining.load(),
      .body = Http1Framing::Body::as_sent,
      .upgrade = {}};
  const bool has_body = !response.is_done();
  Framing relay_framing = has_body && response.chunked() ? Framing::chunked : Framing::none;
  if (has_body && !response.content_length() && (ex.version == kHttp10 || !response.chunked())) {
    // Delimited by the upstream closing: re-framed as chunked for HTTP/1.1 clients. An HTTP/1.0
    // client cannot read chunks: it gets the bare body and learns its end by the close.
    if (ex.version == kHttp11) {
      framing.body = Http1Framing::Body::chunked;
      relay_framing = Framing::chunked;
    } else {
      framing.body = Http1Framing::Body::close_delimited;
      relay_framing = Framing::none;
      framing.keep_alive = false;
    }
  }
  const bool keep_alive = framing.keep_alive;
  write_head(head, framing, head_);

  RelayResult relayed = co_await relay(upstream->stream, upstream->buffer, response, stream_,
                                       {.head = head_,
                                        .framing = relay_framing,
                                        .piece = piece.get(),
                                        .read_timeout = config.timeouts.upstream_response,
                                        .write_timeout = config.timeouts.client_idle},
                                       arming());
  relayed.ec = timeout_or(relayed.ec);
  ex.upstream_ns = services.clock.now() - upstream_started;
  ex.bytes = relayed.bytes;
  if (relayed.failure == RelayFailure::read) {
    // The client got the head already: its connection closes on a truncated body.
    report_upstream_error(
        services, ex,
        relayed.ec == beast::error::timeout ? UpstreamError::timeout : UpstreamError::reset,
        "response body broke off: " + relayed.ec.message(), ex.status);
  }
  if (relayed.failure == RelayFailure::none) worker_.pool().remember_session(*upstream);
  if (relayed.failure == RelayFailure::none && upstream_keep_alive && request_complete &&
      upstream->buffer.size() == 0) {
    worker_.pool().release(std::move(upstream));
  }
  finish(ex);
  // A truncated body is never passed off as complete: on any failure the client connection closes.
  co_return relayed.failure == RelayFailure::none&& keep_alive;
}

bool Session::awaits_continue(const RequestParser& parser) {
  return !parser.is_done() && beast::iequals(parser.get()[http::field::expect], "100-continue");
}

Task<bool> Session::write_continue() {
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  arm(worker_.runtime()->config->timeouts.client_idle);
  auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(kContinue), use_tuple);
  co_return !ec;
}

// The client's body broke off, stalled past client_idle, or was too large, before the upstream had
// all of it: the upstream connection is dropped mid-request, so the upstream never sees a complete
// message.
Task<void> Session::refuse_body(Exchange& ex, const error_code& ec) {
  if (ec == http::error::body_limit) {
    co_await write_local(make_error(413, "request body larger than max_body_bytes", ex.version),
                         false, &ex);
  } else if (ec == beast::error::timeout) {
    co_await write_local(
        make_error(408, "request body not received within client_idle", ex.version), false, &ex);
  } else if (&ec.category() == &http::make_error_code(http::error::bad_chunk).category()) {
    co_await write_local(make_error(400, "malformed request body: " + ec.message(), ex.version),
                         false, &ex);
  } else {
    ex.status = kClientClosedRequest;
    finish(ex);
  }
}

Task<void> Session::refuse(Exchange& ex, const UpstreamRefusal& refusal) {
  co_await write_local(make_error(refusal.status, refusal.detail, ex.version), false, &ex);
}

}  // namespace sluice::proxy
