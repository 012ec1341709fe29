// An HTTP/2 stream's exchange: admitted like any request, held by itself while the connection's
// other streams go on, forwarded to an HTTP/1.1 upstream with its body streamed both ways under
// HTTP/2 flow control, and answered in gRPC's terms when it is a gRPC call.
#include <nghttp2/nghttp2.h>

#include <boost/asio/write.hpp>
#include <charconv>

#include "sluice/proxy/headers.hpp"
#include "sluice/proxy/http2_connection.hpp"
#include "sluice/proxy/http2_stream.hpp"
#include "sluice/proxy/http2_upstream.hpp"
#include "sluice/proxy/relay.hpp"
#include "sluice/proxy/request_head.hpp"
#include "sluice/proxy/response_head.hpp"
#include "sluice/proxy/upstream_exchange.hpp"
#include "sluice/proxy/upstream_pool.hpp"
#include "sluice/proxy/wire.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::proxy {
namespace {

// How much of a response body a stream holds before it stops reading the upstream: the client's
// window decides how fast it drains.
constexpr std::size_t kMaxBufferedResponse = 4 * kRelayPiece;

// What the log says of a stream whose body passed http.max_body_bytes (it was reset at once).
constexpr unsigned kTooLarge = 413;

// A gRPC call's deadline (the grpc-timeout header: up to 8 digits and a unit), or none.
std::optional<Nanos> grpc_timeout(const ClientHead& fields) {
  const std::string_view text = view(fields["grpc-timeout"]);
  if (text.size() < 2 || text.size() > 9) return std::nullopt;
  std::int64_t amount = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, amount);
  if (ec != std::errc() || end != text.data() + text.size() - 1) return std::nullopt;
  switch (text.back()) {
    case 'H':
      return amount * 3600 * kNanosPerSecond;
    case 'M':
      return amount * 60 * kNanosPerSecond;
    case 'S':
      return amount * kNanosPerSecond;
    case 'm':
      return amount * kNanosPerMilli;
    case 'u':
      return amount * 1000;
    case 'n':
      return amount;
    default:
      return std::nullopt;
  }
}

// grpc-message is percent-encoded: everything but printable ASCII, and '%' itself.
std::string percent_encoded(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f && b != '%') {
      out += c;
    } else {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  return out;
}

}  // namespace

Task<void> Http2Connection::serve_stream(std::shared_ptr<Http2Stream> stream) {
  Http2Stream& s = *stream;
  ClientHead& head = s.head;
  head.version(kHttp11);  // what the request checks read; the exchange says HTTP/2
  head.method_string(s.method);
  head.target(s.path);
  if (!s.authority.empty()) head.set(http::field::host, s.authority);
  s.grpc = view(head[http::field::content_type]).starts_with("application/grpc");

  Exchange ex;
  // A gRPC call is never held past its own deadline.
  const std::optional<Nanos> deadline = s.grpc ? grpc_timeout(head) : std::nullopt;
  Verdict verdict = co_await admit(worker_, head,
                                   {.peer = client_.peer,
                                    .peer_text = client_.peer_text,
                                    .client_cert = client_.client_cert,
                                    .max_wait = deadline.value_or(RequestOrigin::kNoMaxWait)},
                                   ex);
  ex.version = kHttp2;
  ex.protocol = stream_.tls() != nullptr ? "h2" : "h2c";
  if (verdict.next == Verdict::Next::answer) {
    answer(s, ex, std::move(verdict.response), verdict.reason, verdict.detail);
    co_return;
  }
  if (ex.decision.outcome == limit::Outcome::delayed && !co_await hold(s, ex)) co_return;

  switch (const Destination destination = destination_of(ex, s.grpc)) {
    case Destination::respond:
    case Destination::no_route: {
      Verdict local = local_answer(ex, destination, s.method == "HEAD", kHttp11);
      answer(s, ex, std::move(local.response), local.reason, local.detail);
      co_return;
    }
    case Destination::http2_upstream:
      co_await forward_h2(s, ex);
      co_return;
    case Destination::http1_upstream:
      co_await forward(s, ex);
      co_return;
  }
}

// Holds a delayed stream until its slot; a stream reset meanwhile is refunded.
Task<bool> Http2Connection::hold(Http2Stream& s, Exchange& ex) {
  const Nanos wait = ex.decision.wait;
  ex.counters->delay->observe(static_cast<double>(wait) / kNanosPerSecond);
  const auto until = SteadyTimer::clock_type::now() + to_duration(wait);
  while (!s.closed) {
    s.wake.expires_at(until);
    auto [ec] = co_await s.wake.async_wait(use_tuple);
    if (!ec) co_return true;
  }
  worker_.limits().cancel(ex.decision, ex.ticket);
  ex.status = s.body_too_large ? kTooLarge : kClientClosedRequest;
  finish(s, ex);
  co_return false;
}

// A stream as an upstream exchange sees it: its deadline, and the request body as the client
// sends it on the stream.
class Http2Connection::StreamLink final : public ClientLink {
 public:
  StreamLink(Http2Connection& connection, Http2Stream& stream, bool chunked)
      : connection_(connection), stream_(stream), chunked_(chunked) {}

  void arm(Nanos timeout) override { connection_.arm(stream_, timeout); }
  void disarm() override { stream_.deadline = Http2Stream::kNoDeadline; }
  [[nodiscard]] bool timed_out() const override { return stream_.timed_out; }
  void watch(TcpSocket* upstream) override { stream_.upstream_socket = upstream; }

  Task<RelayResult> send_with_body(UpstreamConnection& upstream, std::string_view head) override {
    arm(connection_.worker_.runtime()->config->timeouts.upstream_response);
    auto [ec, n] = co_await asio::async_write(upstream.stream, asio::buffer(head), use_tuple);
    if (ec) co_return RelayResult{.failure = RelayFailure::write, .ec = ec, .bytes = 0};
    co_return co_await connection_.send_request_body(stream_, upstream, chunked_);
  }

 private:
  Http2Connection& connection_;
  Http2Stream& stream_;
  bool chunked_;
};

Task<void> Http2Connection::forward(Http2Stream& s, Exchange& ex) {
  Services& services = worker_.services();
  const UpstreamRequestHead outgoing(s.head,
                                     ex.forwarding(client_.peer_text, stream_.tls() != nullptr));
  // HTTP/2 frames the body itself: upstream, a length the client declared stands, and a body
  // of unknown length goes chunked.
  const bool has_body = !(s.request_complete && s.body_in.empty());
  const bool chunked = has_body && s.head.count(http::field::content_length) == 0;
  std::string head_bytes;
  write_head(outgoing, {.chunked = chunked, .upgrade = {}}, head_bytes);

  const Nanos upstream_started = services.clock.now();
  std::optional<UpstreamResponseParser> response;
  StreamLink link(*this, s, chunked);
  Http1Opened opened = co_await open_http1(worker_, ex, link,
                                           {.head = head_bytes,
                                            .has_body = has_body,
                                            .idempotent = idempotent(s.head.method()),
                                            .head_method = s.method == "HEAD",
                                            .upgrade = false},
                                           response);
  if (opened.outcome == Http1Opened::Outcome::client_failed) {
    if (s.closed) {
      ex.status = s.body_too_large ? kTooLarge : kClientClosedRequest;
      finish(s, ex);
    } else {
      static constexpr std::string_view kBodyLate = "request body not received within client_idle";
      answer(s, ex, make_error(408, kBodyLate, kHttp11), AnswerReason::client_timeout, kBodyLate);
    }
    co_return;
  }
  if (opened.outcome == Http1Opened::Outcome::refused) {
    refuse(s, ex, opened.refusal);
    co_return;
  }
  std::unique_ptr<UpstreamConnection> upstream = std::move(opened.connection);
  const WatchedUpstream watched(link, upstream->socket);
  ex.status = response->status();
  ex.counters->count_response(ex.status);
  const bool upstream_keep_alive = response->keep_alive();
  ResponseHead head;
  response->head(head);
  head.forward_rules(response->version(), ex);
  head.remove(http::field::content_length);  // HTTP/2 frames the body; a length could lie
  const bool with_body = !response->is_done();
  submit_response(s, head, with_body);
  bool complete = !with_body;
  if (with_body) {
    co_await relay_response(s, ex, *upstream, *response, complete);
  }
  ex.upstream_ns = services.clock.now() - upstream_started;
  if (complete) worker_.pool().remember_session(*upstream);
  if (complete && upstream_keep_alive && s.request_complete && upstream->buffer.size() == 0) {
    worker_.pool().release(std::move(upstream));
  }
  finish(s, ex);
}

// Over a multiplexed HTTP/2 upstream connection: the request's headers as they came (less the
// connection's), bodies moved both ways as each side's window allows, trailers passed on.
Task<void> Http2Connection::forward_h2(Http2Stream& s, Exchange& ex) {
  Services& services = worker_.services();
  const config::Config& config = *ex.runtime->config;
  const Nanos upstream_started = services.clock.now();
  Http2Opened opened = co_await open_http2(worker_, ex);
  if (!opened.connection) {
    refuse(s, ex, opened.refusal);
    co_return;
  }
  const std::shared_ptr<Http2Upstream> upstream = std::move(opened.connection);

  const UpstreamRequestHead outgoing(s.head,
                                     ex.forwarding(client_.peer_text, stream_.tls() != nullptr));
  const auto headers = http2_request_headers(outgoing, ex.upstream->tls.has_value());

  UpstreamStream up(s.wake);
  up.request_body = std::move(s.body_in);
  s.body_in.clear();
  nghttp2_session_consume(session_, s.id, up.request_body.size());
  up.request_complete = s.request_complete;
  if (up.request_complete) up.request_trailers = std::move(s.trailers_in);
  if (!upstream->submit(up, headers, !(up.request_complete && up.request_body.empty()))) {
    refuse(s, ex, stream_refused(services, ex));
    co_return;
  }
  // However this coroutine ends, the upstream connection forgets the stream.
  struct Forget {
    Http2Upstream& upstream;
    UpstreamStream& stream;
    ~Forget() { upstream.release(stream); }
  } forget{*upstream, up};

  bool head_sent = false;
  arm(s, config.timeouts.upstream_response);
  for (;;) {
    if (s.closed) {
      upstream->cancel(up);
      if (!head_sent) ex.status = s.body_too_large ? kTooLarge : kClientClosedRequest;
      break;
    }
    if (s.timed_out) {
      upstream->cancel(up);
      if (!head_sent) {
        refuse(s, ex, too_slow(services, ex));
        co_return;
      }
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
      flush();
      break;
    }
    bool moved = false;
    if (!s.body_in.empty() && up.request_body.size() - up.request_taken < kMaxBufferedResponse) {
      const std::size_t n = s.body_in.size();
      up.request_body += s.body_in;
      s.body_in.clear();
      nghttp2_session_consume(session_, s.id, n);
      flush();
      upstream->resume(up);
      moved = true;
    }
    if (s.request_complete && s.body_in.empty() && !up.request_complete) {
      up.request_trailers = std::move(s.trailers_in);
      up.request_complete = true;
      upstream->resume(up);
    }
    if (up.head_received && !head_sent) {
      ResponseHead res;
      up.response_head(res);
      res.forward_rules(kHttp2, ex);
      ex.status = up.status;
      ex.counters->count_response(ex.status);
      head_sent = true;
      moved = true;
      if (up.ended && up.body.empty() && up.trailers.empty()) {
        submit_response(s, res, false);  // trailers-only (a gRPC error) or no body
        break;
      }
      submit_response(s, res, true);
    }
    if (head_sent && !up.body.empty() && s.body_out.size() - s.out_taken < kMaxBufferedResponse) {
      const std::size_t n = up.body.size();
      s.body_out += up.body;
      up.body.clear();
      ex.bytes += n;
      upstream->consumed(up, n);
      nghttp2_session_resume_data(session_, s.id);
      flush();
      moved = true;
    }
    if (head_sent && up.ended && up.body.empty()) {
      s.trailers_out = std::move(up.trailers);
      s.out_done = true;
      nghttp2_session_resume_data(session_, s.id);
      flush();
      break;
    }
    if (up.failed) {
      if (!head_sent) {
        refuse(s, ex, stream_reset(services, ex, up.reset_code));
        co_return;
      }
      report_upstream_error(
          services, ex, UpstreamError::reset,
          "upstream reset the stream (HTTP/2 error " + std::to_string(up.reset_code) + ")",
          ex.status);
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
      flush();
      break;
    }
    if (moved) arm(s, config.timeouts.upstream_response);
    co_await s.changed();
  }
  ex.upstream_ns = services.clock.now() - upstream_started;
  finish(s, ex);
}

// The request body as the client sends it, each piece given back to the client's window once the
// upstream took it.
Task<RelayResult> Http2Connection::send_request_body(Http2Stream& s, UpstreamConnection& upstream,
                                                     bool chunked) {
  const auto& timeouts = worker_.runtime()->config->timeouts;
  RelayResult result;
  std::string piece;
  std::array<char, 20> size_line{};
  for (;;) {
    if (s.closed || s.timed_out) {
      // The client reset the stream, or sent no more of its body within client_idle.
      result.failure = RelayFailure::read;
      result.ec =
          s.closed ? error_code(asio::error::connection_reset) : error_code(beast::error::timeout);
      co_return result;
    }
    if (!s.body_in.empty()) {
      piece.swap(s.body_in);
      s.body_in.clear();
      std::array<asio::const_buffer, 3> out{};
      std::size_t count = 0;
      if (chunked) out[count++] = asio::buffer(detail::chunk_size_line(piece.size(), size_line));
      out[count++] = asio::buffer(piece);
      if (chunked) out[count++] = asio::buffer("\r\n", 2);
      arm(s, timeouts.upstream_response);
      auto [ec, n] = co_await asio::async_write(
          upstream.stream, std::span<const asio::const_buffer>(out.data(), count), use_tuple);
      if (ec) {
        co_return RelayResult{.failure = RelayFailure::write, .ec = ec, .bytes = result.bytes};
      }
      result.bytes += piece.size();
      nghttp2_session_consume(session_, s.id, piece.size());
      flush();
      continue;
    }
    if (s.request_complete) break;
    arm(s, timeouts.client_idle);
    co_await s.changed();
  }
  if (chunked) {
    // The last chunk, and the request's trailers in its trailer section.
    std::string last = "0\r\n";
    for (const auto& [name, value] : s.trailers_in) {
      last.append(name).append(": ").append(value).append("\r\n");
    }
    last += "\r\n";
    arm(s, timeouts.upstream_response);
    auto [ec, n] = co_await asio::async_write(upstream.stream, asio::buffer(last), use_tuple);
    if (ec) result = {.failure = RelayFailure::write, .ec = ec, .bytes = result.bytes};
  }
  co_return result;
}

// The upstream's body into the stream, as fast as the client's window takes it.
Task<void> Http2Connection::relay_response(Http2Stream& s, Exchange& ex,
                                           UpstreamConnection& upstream,
                                           UpstreamResponseParser& response, bool& complete) {
  const auto& timeouts = worker_.runtime()->config->timeouts;
  auto piece_lease = worker_.pieces().borrow();
  const std::span<char> piece = piece_lease.get();
  while (!response.is_done()) {
    while (s.body_out.size() - s.out_taken >= kMaxBufferedResponse && !s.closed) {
      arm(s, timeouts.client_idle);
      co_await s.changed();
      if (s.timed_out) {
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
        flush();
        co_return;
      }
    }
    if (s.closed) co_return;
    response.body() = {.data = piece.data(), .size = piece.size()};
    arm(s, timeouts.upstream_response);
    auto [ec, n] =
        co_await http::async_read_some(upstream.stream, upstream.buffer, response, use_tuple);
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = piece.size() - response.body().size;
    if (got > 0) {
      s.body_out.append(piece.data(), got);
      ex.bytes += got;
      nghttp2_session_resume_data(session_, s.id);
      flush();
    }
    if (ec) {
      if (s.timed_out) ec = beast::error::timeout;
      report_upstream_error(
          worker_.services(), ex,
          ec == beast::error::timeout ? UpstreamError::timeout : UpstreamError::reset,
          "response body broke off: " + ec.message(), ex.status);
      // A truncated body is never passed off as complete.
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
      flush();
      co_return;
    }
  }
  // A chunked body's trailer fields end the stream.
  response.for_each_trailer([&s](const HeadField& field) {
    std::string name(field.name_text);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    s.trailers_out.emplace_back(std::move(name), std::string(field.value));
  });
  s.out_done = true;
  complete = true;
  nghttp2_session_resume_data(session_, s.id);
  flush();
}

void Http2Connection::answer(Http2Stream& s, Exchange& ex, LocalResponse response,
                             AnswerReason reason, std::string_view detail) {
  Services& services = worker_.services();
  s.answered = true;  // what the client still sends is dropped
  response.set("X-Request-Id", ex.request_id);
  const unsigned status = response.result_int();
  services.count_local_response(status);
  ex.status = status;
  if (!s.closed) {
    if (s.grpc && ex.route != nullptr && ex.route->respond && status / 100 == 2) {
      // A fixed answer to a gRPC call is sent as written: the operator chose it.
      s.body_out = std::move(response.body());
      s.out_done = true;
      ex.bytes = s.body_out.size();
      submit_response(s, ResponseHead(response.base()), !s.body_out.empty());
    } else if (s.grpc) {
      // What a gRPC client can read: HTTP 200, and the outcome in a trailers-only response.
      ex.grpc_status = grpc_status_for(ex, reason);
      http::response_header<> head;
      head.result(http::status::ok);
      head.set(http::field::content_type, "application/grpc");
      head.set("grpc-status", std::to_string(ex.grpc_status));
      head.set("grpc-message",
               percent_encoded(detail.empty() ? view(http::obsolete_reason(response.result()))
                                              : detail));
      if (reason == AnswerReason::rejected) {
        head.set("grpc-retry-pushback-ms",
                 std::to_string(std::max<Nanos>(0, ex.decision.retry_after) / kNanosPerMilli));
      }
      for (const auto* name : {"RateLimit-Policy", "RateLimit", "Retry-After", "X-Request-Id"}) {
        if (const auto value = response[name]; !value.empty()) head.set(name, value);
      }
      submit_response(s, ResponseHead(head), false);
    } else {
      response.erase(http::field::content_length);
      s.body_out = std::move(response.body());
      s.out_done = true;
      ex.bytes = s.body_out.size();
      submit_response(s, ResponseHead(response.base()), !s.body_out.empty());
    }
  }
  finish(s, ex);
}

void Http2Connection::refuse(Http2Stream& s, Exchange& ex, const UpstreamRefusal& refusal) {
  answer(s, ex, make_error(refusal.status, refusal.detail, kHttp11), refusal.reason,
         refusal.detail);
}

void Http2Connection::finish(Http2Stream& s, Exchange& ex) {
  s.deadline = Http2Stream::kNoDeadline;
  log_exchange(worker_.services(), ex);
}

void Http2Connection::arm(Http2Stream& s, Nanos timeout) {
  s.deadline = worker_.services().clock.now() + timeout;
  s.timed_out = false;
}

}  // namespace sluice::proxy
