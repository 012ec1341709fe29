// The forwarding half of a session: the request to the upstream (with one retry on a stale pooled
// connection), the response head back, and the body relayed to the client.
#include <boost/asio/write.hpp>

#include "sluice/proxy/exchange.hpp"
#include "sluice/proxy/headers.hpp"
#include "sluice/proxy/relay.hpp"
#include "sluice/proxy/request_head.hpp"
#include "sluice/proxy/response_head.hpp"
#include "sluice/proxy/session.hpp"
#include "sluice/proxy/upstream_pool.hpp"
#include "sluice/proxy/wire.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::proxy {
namespace {

bool idempotent(http::verb method) {
  switch (method) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::options:
    case http::verb::put:
    case http::verb::delete_:
    case http::verb::trace:
      return true;
    default:
      return false;
  }
}

bool expects_continue(const http::fields& fields) {
  return beast::iequals(fields[http::field::expect], "100-continue");
}

// What a client is told when the upstream exchange broke before a response head arrived.
struct UpstreamFailure {
  unsigned status = 502;
  std::string detail;
  UpstreamError kind = UpstreamError::reset;
};

UpstreamFailure classify_upstream_failure(const error_code& ec) {
  if (ec == beast::error::timeout) {
    return {504, "upstream did not answer within upstream_response", UpstreamError::timeout};
  }
  if (&ec.category() == &http::make_error_code(http::error::bad_target).category()) {
    return {502, "upstream sent a malformed response: " + ec.message(), UpstreamError::protocol};
  }
  return {502, "upstream connection failed: " + ec.message(), UpstreamError::reset};
}

}  // namespace

asio::awaitable<bool> Session::forward(RequestParser& parser, Exchange& ex) {
  Services& services = worker_.services();
  const config::Config& config = *ex.runtime->config;
  auto& request = parser.get();
  const bool client_keep_alive = request.keep_alive();

  if (expects_continue(request) && !parser.is_done()) {
    // sluice answers the expectation itself once the request is admitted: the upstream sees a
    // plain request, and a rejected client never sent its body.
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    arm(config.timeouts.client_idle);
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(kContinue), use_tuple);
    if (ec) co_return false;
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
  auto upstream = co_await send_upstream(parser, ex, piece.get(), parsed);
  if (!upstream) co_return false;  // answered (502/504/413) or the client is gone
  const UpstreamInUse in_use(*this, upstream->socket);
  UpstreamResponseParser& response = *parsed;

  if (response.status() == 101) {
    if (!upgrade.empty()) {
      co_return co_await open_tunnel(ex, std::move(upstream), response);
    }
    // A switch nobody asked for: the upstream speaks something else now.
    report_upstream_error(services, ex, UpstreamError::protocol,
                          "the upstream answered 101 to a request without Upgrade", 502);
    co_await write_local(make_error(502, "upstream switched protocols unasked", ex.version), false,
                         &ex);
    co_return false;
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

// Sends the request (header and streamed body) and reads the response header. A request without
// a body that fails on a reused connection before any response byte is retried once on a fresh
// connection: the upstream may have closed it just as we picked it. Errors are answered here.
asio::awaitable<std::unique_ptr<UpstreamConnection>> Session::send_upstream(
    RequestParser& parser, Exchange& ex, std::span<char> piece,
    std::optional<UpstreamResponseParser>& response) {
  const config::Config& config = *ex.runtime->config;
  const config::UpstreamTarget& target = *ex.upstream;
  const bool retryable = parser.is_done() && idempotent(parser.get().method());

  for (int attempt = 0;; ++attempt) {
    error_code ec;
    const auto reuse = attempt > 0 ? UpstreamPool::Reuse::never
                       : retryable ? UpstreamPool::Reuse::any
                                   : UpstreamPool::Reuse::checked;
    deadline_ = kNoDeadline;  // the pool keeps its own connect deadline
    UpstreamPool::Failure failed;
    auto upstream = worker_.pool().idle(target, reuse);
    if (!upstream) {
      // Computed before the co_await: gcc 12 evaluates both arms of a conditional inside one.
      std::shared_ptr<ssl::context> tls;
      if (target.tls) tls = ex.runtime->tls->upstream(*target.tls);
      upstream = co_await worker_.pool().acquire(target, tls, config.timeouts.upstream_connect,
                                                 UpstreamPool::Reuse::never, failed);
    }
    if (!upstream) {
      co_await refuse_unreachable(ex, failed);
      co_return nullptr;
    }
    const UpstreamInUse in_use(*this, upstream->socket);
    RelayResult sent;
    if (parser.is_done()) {
      // No body: the head alone, without relay()'s coroutine frame (~500 instructions).
      arm(config.timeouts.upstream_response);
      auto [write_ec, n] =
          co_await asio::async_write(upstream->stream, asio::buffer(head_), use_tuple);
      if (write_ec) sent = {.failure = RelayFailure::write, .ec = write_ec, .bytes = 0};
    } else {
      sent = co_await relay(stream_, buffer_, parser, upstream->stream,
                            {.head = head_,
                             .framing = parser.chunked() ? Framing::chunked : Framing::none,
                             .piece = piece,
                             .read_timeout = config.timeouts.client_idle,
                             .write_timeout = config.timeouts.upstream_response},
                            arming());
    }
    sent.ec = timeout_or(sent.ec);
    if (sent.failure == RelayFailure::read) {
      // The client broke off its own request body (or sent too much of it).
      if (sent.ec == http::error::body_limit) {
        co_await write_local(make_error(413, "request body larger than max_body_bytes", ex.version),
                             false, &ex);
      } else if (&sent.ec.category() == &http::make_error_code(http::error::bad_chunk).category()) {
        // Broken framing in the body: the upstream connection is dropped mid-request, so the
        // upstream never sees a complete message.
        co_await write_local(
            make_error(400, "malformed request body: " + sent.ec.message(), ex.version), false,
            &ex);
      } else {
        ex.status = kClientClosedRequest;
        finish(ex);
      }
      co_return nullptr;
    }
    const bool head_request = parser.get().method() == http::verb::head;
    response.emplace(config.http.max_header_bytes, head_request);
    if (sent.failure == RelayFailure::none) {
      arm(config.timeouts.upstream_response);
      auto [read_ec, n] = co_await http::async_read_header(upstream->stream, upstream->buffer,
                                                           *response, use_tuple);
      // Interim 1xx responses other than 101 (the answer to an Upgrade) are skipped.
      while (!read_ec && response->status() / 100 == 1 && response->status() != 101) {
        response.emplace(config.http.max_header_bytes, head_request);
        std::tie(read_ec, n) = co_await http::async_read_header(upstream->stream, upstream->buffer,
                                                                *response, use_tuple);
      }
      if (!read_ec) co_return upstream;
      ec = timeout_or(read_ec);
    } else {
      ec = sent.ec;
    }
    const bool stale = upstream->reused && !response->got_some() && upstream->buffer.size() == 0;
    if (stale && retryable && attempt == 0) continue;
    const UpstreamFailure failure = classify_upstream_failure(ec);
    report_upstream_error(worker_.services(), ex, failure.kind, ec.message(), failure.status);
    co_await write_local(make_error(failure.status, failure.detail, ex.version), false, &ex);
    co_return nullptr;
  }
}

// No connection to the upstream: refused, unreachable, or (https://) a handshake that failed,
// most often a certificate that does not verify. Either way a 502 that says which.
asio::awaitable<void> Session::refuse_unreachable(Exchange& ex,
                                                  const UpstreamPool::Failure& failed) {
  Services& services = worker_.services();
  if (failed.tls) {
    services.count_handshake_failure(
        Side::upstream, classify_handshake_failure(failed.ec, failed.ec == asio::error::timed_out));
    report_upstream_error(services, ex, UpstreamError::tls, failed.detail, 502);
    co_await write_local(
        make_error(502, "upstream TLS handshake failed: " + failed.detail, ex.version), false, &ex);
    co_return;
  }
  report_upstream_error(services, ex, UpstreamError::connect, failed.ec.message(), 502);
  co_await write_local(make_error(502, "upstream unreachable: " + failed.ec.message(), ex.version),
                       false, &ex);
}

}  // namespace sluice::proxy
