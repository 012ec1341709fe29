#include "sluice/proxy/upstream_exchange.hpp"

#include <sys/socket.h>

#include <boost/asio/write.hpp>
#include <cerrno>

#include "sluice/proxy/exchange.hpp"
#include "sluice/proxy/http2_upstream.hpp"
#include "sluice/proxy/read_buffer.hpp"
#include "sluice/proxy/tls.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::proxy {
namespace {

constexpr unsigned kSwitchingProtocols = 101;

// The exchange broke before a response head arrived.
UpstreamRefusal failed_before_head(Services& services, const Exchange& ex, const error_code& ec) {
  if (ec == beast::error::timeout) return too_slow(services, ex);
  if (&ec.category() == &http::make_error_code(http::error::bad_target).category()) {
    report_upstream_error(services, ex, UpstreamError::protocol, ec.message(), 502);
    return {.status = 502,
            .reason = AnswerReason::upstream_failed,
            .detail = "upstream sent a malformed response: " + ec.message()};
  }
  report_upstream_error(services, ex, UpstreamError::reset, ec.message(), 502);
  return {.status = 502,
          .reason = AnswerReason::upstream_failed,
          .detail = "upstream connection failed: " + ec.message()};
}

// Whether a response head was read (or failed: the error says), or the socket must be waited on.
enum class HeadRead { done, must_wait };

// Reads a response head into `parser` from what a plain connection has received, without
// waiting. Not a coroutine, and no Beast read: its composed read, two nested operations with
// their executors and a posted completion, cost ~2 000 instructions per response, and a
// coroutine of its own ~400 more.
HeadRead read_response_now(UpstreamConnection& upstream, UpstreamResponseParser& parser,
                           error_code& ec) {
  for (;;) {
    if (upstream.buffer.size() > 0) {
      ec = {};
      upstream.buffer.consume(parser.put(upstream.buffer.data(), ec));
      if (ec != http::error::need_more) return HeadRead::done;  // the head, or what is wrong
    }
    const auto room = upstream.buffer.prepare(kReadBlock);
    const ssize_t got =
        ::recv(upstream.socket.native_handle(), room.data(), room.size(), MSG_DONTWAIT);
    if (got > 0) {
      upstream.buffer.commit(static_cast<std::size_t>(got));
      continue;
    }
    if (got == 0) {
      ec = parser.got_some() ? error_code(http::error::partial_message)
                             : error_code(http::error::end_of_stream);
      return HeadRead::done;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = error_code(errno, asio::error::get_system_category());
      return HeadRead::done;
    }
    ec = {};
    return HeadRead::must_wait;
  }
}

std::shared_ptr<ssl::context> tls_for(const Exchange& ex) {
  if (!ex.upstream->tls) return nullptr;
  return ex.runtime->tls->upstream(*ex.upstream->tls);
}

}  // namespace

bool idempotent(http::verb method) noexcept {
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

UpstreamRefusal unreachable(Services& services, const Exchange& ex,
                            const UpstreamPool::Failure& failed) {
  if (failed.tls) {
    services.count_handshake_failure(
        Side::upstream, classify_handshake_failure(failed.ec, failed.ec == asio::error::timed_out));
    report_upstream_error(services, ex, UpstreamError::tls, failed.detail, 502);
    return {.status = 502,
            .reason = AnswerReason::upstream_unreachable,
            .detail = "upstream TLS handshake failed: " + failed.detail};
  }
  report_upstream_error(services, ex, UpstreamError::connect, failed.ec.message(), 502);
  return {.status = 502,
          .reason = AnswerReason::upstream_unreachable,
          .detail = "upstream unreachable: " + failed.ec.message()};
}

UpstreamRefusal too_slow(Services& services, const Exchange& ex) {
  static constexpr std::string_view kSlow = "upstream did not answer within upstream_response";
  report_upstream_error(services, ex, UpstreamError::timeout, std::string(kSlow), 504);
  return {.status = 504, .reason = AnswerReason::upstream_timeout, .detail = std::string(kSlow)};
}

UpstreamRefusal stream_refused(Services& services, const Exchange& ex) {
  static constexpr std::string_view kFull = "upstream connection refused a new stream";
  report_upstream_error(services, ex, UpstreamError::reset, std::string(kFull), 502);
  return {.status = 502, .reason = AnswerReason::upstream_failed, .detail = std::string(kFull)};
}

UpstreamRefusal stream_reset(Services& services, const Exchange& ex, std::uint32_t code) {
  std::string why = "upstream reset the stream (HTTP/2 error " + std::to_string(code) + ")";
  report_upstream_error(services, ex, UpstreamError::reset, why, 502);
  return {.status = 502, .reason = AnswerReason::upstream_failed, .detail = std::move(why)};
}

Task<Http1Opened> open_http1(Worker& worker, Exchange& ex, ClientLink& client,
                             const Http1Request& request,
                             std::optional<UpstreamResponseParser>& response) {
  Services& services = worker.services();
  const config::Config& config = *ex.runtime->config;
  const bool retryable = !request.has_body && request.idempotent;
  const auto timed_out_or = [&client](error_code ec) {
    return ec && client.timed_out() ? error_code(beast::error::timeout) : ec;
  };

  for (int attempt = 0;; ++attempt) {
    const auto reuse = attempt > 0 ? UpstreamPool::Reuse::never
                       : retryable ? UpstreamPool::Reuse::any
                                   : UpstreamPool::Reuse::checked;
    client.disarm();
    auto upstream = worker.pool().idle(*ex.upstream, reuse);
    if (!upstream) {
      UpstreamPool::Failure failed;
      // Computed before the co_await: gcc 12 evaluates both arms of a conditional inside one.
      const std::shared_ptr<ssl::context> tls = tls_for(ex);
      upstream = co_await worker.pool().acquire(*ex.upstream, tls, config.timeouts.upstream_connect,
                                                UpstreamPool::Reuse::never, failed);
      if (!upstream) {
        co_return Http1Opened{.outcome = Http1Opened::Outcome::refused,
                              .connection = nullptr,
                              .client_error = {},
                              .refusal = unreachable(services, ex, failed)};
      }
    }
    const WatchedUpstream watched(client, upstream->socket);
    RelayResult sent;
    if (request.has_body) {
      sent = co_await client.send_with_body(*upstream, request.head);
    } else {
      // The head alone, without the connection's coroutine frame (~500 instructions).
      client.arm(config.timeouts.upstream_response);
      std::array<asio::const_buffer, 1> head{asio::buffer(request.head)};
      std::span<asio::const_buffer> unsent(head);
      error_code write_ec;
      write_now(upstream->stream, unsent, write_ec);
      if (!write_ec && !unsent.empty()) {
        std::tie(write_ec, std::ignore) =
            co_await asio::async_write(upstream->stream, unsent, use_tuple);
      }
      if (write_ec) sent = {.failure = RelayFailure::write, .ec = write_ec, .bytes = 0};
    }
    error_code ec = timed_out_or(sent.ec);
    if (sent.failure == RelayFailure::read) {
      co_return Http1Opened{.outcome = Http1Opened::Outcome::client_failed,
                            .connection = nullptr,
                            .client_error = ec,
                            .refusal = {}};
    }
    response.emplace(config.http.max_header_bytes, request.head_method);
    if (sent.failure == RelayFailure::none) {
      client.arm(config.timeouts.upstream_response);
      error_code read_ec;
      // The response head, past any interim (1xx) ones but a 101. Read here, not in a
      // coroutine of its own: see read_response_now().
      for (bool interim = false;; interim = true) {
        if (interim) response.emplace(config.http.max_header_bytes, request.head_method);
        if (upstream->stream.tls() != nullptr) {
          std::tie(read_ec, std::ignore) = co_await http::async_read_header(
              upstream->stream, upstream->buffer, *response, use_tuple);
        } else {
          while (read_response_now(*upstream, *response, read_ec) == HeadRead::must_wait) {
            std::tie(read_ec) =
                co_await upstream->socket.async_wait(TcpSocket::wait_read, use_tuple);
            if (read_ec) break;
          }
        }
        if (read_ec || response->status() / 100 != 1 || response->status() == kSwitchingProtocols) {
          break;
        }
      }
      if (!read_ec && response->status() == kSwitchingProtocols && !request.upgrade) {
        // A switch nobody asked for: the upstream speaks something else now.
        report_upstream_error(services, ex, UpstreamError::protocol,
                              "the upstream answered 101 to a request without Upgrade", 502);
        co_return Http1Opened{.outcome = Http1Opened::Outcome::refused,
                              .connection = nullptr,
                              .client_error = {},
                              .refusal = {.status = 502,
                                          .reason = AnswerReason::upstream_failed,
                                          .detail = "upstream switched protocols unasked"}};
      }
      if (!read_ec) {
        co_return Http1Opened{.outcome = Http1Opened::Outcome::response,
                              .connection = std::move(upstream),
                              .client_error = {},
                              .refusal = {}};
      }
      ec = timed_out_or(read_ec);
    }
    const bool stale = upstream->reused && !response->got_some() && upstream->buffer.size() == 0;
    if (stale && retryable && attempt == 0) continue;
    co_return Http1Opened{.outcome = Http1Opened::Outcome::refused,
                          .connection = nullptr,
                          .client_error = {},
                          .refusal = failed_before_head(services, ex, ec)};
  }
}

Task<Http2Opened> open_http2(Worker& worker, const Exchange& ex) {
  UpstreamPool::Failure failed;
  const std::shared_ptr<ssl::context> tls = tls_for(ex);
  auto upstream = co_await worker.http2_upstreams().acquire(
      *ex.upstream, tls, ex.runtime->config->timeouts.upstream_connect, failed);
  if (!upstream) co_return Http2Opened{nullptr, unreachable(worker.services(), ex, failed)};
  co_return Http2Opened{std::move(upstream), {}};
}

}  // namespace sluice::proxy
