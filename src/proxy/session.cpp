#include "sluice/proxy/session.hpp"

#include <sys/socket.h>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/write.hpp>

#include "sluice/config/router.hpp"
#include "sluice/core/token.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/proxy/admission.hpp"
#include "sluice/proxy/exchange.hpp"
#include "sluice/proxy/headers.hpp"
#include "sluice/proxy/http2_connection.hpp"
#include "sluice/proxy/request_checks.hpp"
#include "sluice/proxy/tls.hpp"
#include "sluice/proxy/wire.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::proxy {
namespace {

// The client reset or closed its side: nothing more will come, nobody will read an answer.
bool peer_gone(TcpSocket& socket) {
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

// Calls `handler` once the socket is readable (or the wait fails). Its operation gets memory of
// its exact size: Asio's recycling allocator would hand it a cached block sized for the largest
// recent operation (560 B where 100 B are needed), kept for as long as the connection idles.
template <class Handler>
void when_readable(TcpSocket& socket, Handler handler) {
  socket.async_wait(TcpSocket::wait_read,
                    asio::bind_allocator(PlainAllocator<void>{}, std::move(handler)));
}

}  // namespace

Session::Session(Worker& worker, TcpSocket socket, std::optional<IpAddress> peer,
                 ClientConnections::Slot slot)
    : worker_(worker),
      stream_(std::move(socket)),
      socket_(stream_.socket()),
      peer_(peer.value_or(IpAddress{})),
      peer_text_(peer ? peer->to_string() : std::string()),
      client_slot_(std::move(slot)) {
  worker_.add(this);
  worker_.services().downstream_connections.fetch_add(1, std::memory_order_relaxed);
}

Session::~Session() {
  http2_.reset();  // before the stream and buffer it uses
  worker_.services().downstream_connections.fetch_sub(1, std::memory_order_relaxed);
  worker_.remove(this);
}

void Session::close_if_idle() {
  if (http2_) return http2_->shut_down();
  if (idle_) close();
}

void Session::close() {
  error_code ec;
  socket_.shutdown(TcpSocket::shutdown_both, ec);
  socket_.close(ec);
}

void Session::arm(Nanos timeout) {
  deadline_ = worker_.services().clock.now() + timeout;
  timed_out_ = false;
}

void Session::check_deadline(Nanos now) {
  if (http2_) http2_->check_deadline(now);
  if (now < deadline_) return;
  deadline_ = kNoDeadline;
  timed_out_ = true;
  error_code ignored;
  socket_.cancel(ignored);
  if (upstream_socket_ != nullptr) upstream_socket_->cancel(ignored);
  if (upstream_wait_ != nullptr) upstream_wait_->cancel();
}

error_code Session::timeout_or(error_code ec) const {
  return ec && timed_out_ ? error_code(beast::error::timeout) : ec;
}

void Session::start() {
  const auto& tls = worker_.runtime()->tls;
  if (!tls || !tls->listener()) return await_request(true);
  stream_.start_tls(tls->listener());
  spawn(handshake());
}

Task<void> Session::handshake() {
  arm(worker_.runtime()->config->timeouts.client_header);
  auto [ec] = co_await stream_.tls()->async_handshake(ssl::stream_base::server, use_tuple);
  if (ec) {
    const HandshakeFailure why = classify_handshake_failure(ec, timed_out());
    worker_.services().count_handshake_failure(Side::downstream, why);
    if (why == HandshakeFailure::plain_http) {
      // As nginx does: a plain-HTTP client is told in plain HTTP, not left with a reset.
      static constexpr std::string_view kPlainHttp =
          "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
          "Content-Length: 52\r\nConnection: close\r\n\r\n"
          "This port speaks HTTPS; the request was plain HTTP.\n";
      worker_.services().count_local_response(400);
      arm(worker_.runtime()->config->timeouts.client_header);
      co_await asio::async_write(socket_, asio::buffer(kPlainHttp), use_tuple);
    }
    deadline_ = kNoDeadline;
    co_return close();
  }
  client_cert_ = verified_peer_name(*stream_.tls());
  if (negotiated_h2(*stream_.tls())) {
    co_await serve_http2();
    co_return;
  }
  await_request(true);
}

// Between requests a connection holds no coroutine, no parser and no read buffer: only this
// object and one readiness wait. Kept as a coroutine with its 4 KiB buffer, an idle keep-alive
// connection cost 8.5 KB of RSS; this way about 0.7 KB (docs/BENCHMARKS.md, bench/footprint.sh).
// The first request's first byte must come within client_header; a kept-alive connection may
// then idle for client_idle.
void Session::await_request(bool first) {
  idle_ = true;
  if (worker_.services().draining.load()) return end();
  const auto& timeouts = worker_.runtime()->config->timeouts;
  arm(first ? timeouts.client_header : timeouts.client_idle);
  if (stream_.tls() != nullptr) {
    spawn(read_next_request());
    return;
  }
  when_readable(socket_, [self = shared_from_this()](error_code ec) {
    if (ec) return self->end();
    self->spawn(self->serve_ready());
  });
}

Task<void> Session::read_next_request() {
  auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadBlock), use_tuple);
  buffer_.commit(n);
  if (ec) co_return end();
  co_await serve_ready();
}

// Serves the requests whose bytes have arrived, then goes back to waiting without a buffer. A
// request runs from its head to its hold in this one frame: a delayed request keeps every frame
// of its chain for its whole wait, and each nested coroutine costs a frame and a resumption.
Task<void> Session::serve_ready() {
  do {
    idle_ = false;
    const auto& limits = worker_.runtime()->config->http;
    RequestParser parser(
        {.max_header_bytes = limits.max_header_bytes, .max_body_bytes = limits.max_body_bytes});
    HeadResult head = read_head_now(parser);
    if (head.outcome == HeadResult::Outcome::incomplete) {
      head = co_await read_head(parser);
    }
    if (head.outcome == HeadResult::Outcome::http2) {
      co_await serve_http2();
      co_return;
    }
    if (head.outcome != HeadResult::Outcome::ready) {
      if (head.outcome == HeadResult::Outcome::refused) {
        co_await refuse_head(std::move(head));
      }
      co_return end();
    }
    Exchange ex;
    const Admission admission = co_await admit(parser, ex);
    if (admission == Admission::answered_close) co_return end();
    if (admission == Admission::answered_keep_alive) continue;
    if (ex.decision.outcome == limit::Outcome::delayed) {
      ex.counters->delay->observe(static_cast<double>(ex.decision.wait) / kNanosPerSecond);
      SteadyTimer timer(socket_.get_executor());
      auto [ec] = co_await hold(timer, ex.decision.wait);
      if (!end_hold(ec)) {
        worker_.limits().cancel(ex.decision, ex.ticket);
        ex.status = kClientClosedRequest;
        finish(ex);
        co_return end();
      }
    }
    if (!co_await deliver(parser, ex)) co_return end();
  } while (buffer_.size() > 0 && !worker_.services().draining.load());
  release_buffers();
  await_request(false);
}

Task<void> Session::serve_http2() {
  idle_ = false;
  deadline_ = kNoDeadline;  // the HTTP/2 connection keeps its own deadlines, per stream
  http2_ = std::make_unique<Http2Connection>(
      worker_, stream_, buffer_,
      Http2Connection::Client{.peer = peer_, .peer_text = peer_text_, .client_cert = client_cert_},
      weak_from_this());
  co_await http2_->run();
  end();
}

// Its own coroutine, so that serve_ready()'s frame, kept by every request in flight, holds no
// response.
Task<void> Session::refuse_head(HeadResult head) {
  co_await write_local(make_error(head.status, head.detail, kHttp11), false, nullptr);
}

void Session::release_buffers() {
  if (buffer_.size() == 0) buffer_.shrink_to_fit();
  head_.clear();
  head_.shrink_to_fit();
}

void Session::end() {
  deadline_ = kNoDeadline;
  if (stream_.tls() != nullptr && socket_.is_open()) {
    spawn(close_tls());
    return;
  }
  error_code ec;
  socket_.shutdown(TcpSocket::shutdown_send, ec);
}

// TLS ends with close_notify, so that a client reading to the end of the stream (an HTTP/1.0
// body) knows it was not cut. Asio's shutdown then waits for the client's own close_notify:
// bounded by a short deadline, since many clients just close.
Task<void> Session::close_tls() {
  static constexpr Nanos kCloseNotifyWait = kNanosPerSecond;
  arm(kCloseNotifyWait);
  co_await stream_.tls()->async_shutdown(use_tuple);
  deadline_ = kNoDeadline;
  error_code ec;
  socket_.shutdown(TcpSocket::shutdown_send, ec);
}

void Session::spawn(Task<void> task) {
  asio::co_spawn(socket_.get_executor(), std::move(task),
                 [self = shared_from_this()](const std::exception_ptr& e) {
                   if (e) self->failed(e);
                 });
}

void Session::failed(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    worker_.services().log.message(observe::Level::error, "session_failed", {{"error", ex.what()}});
  }
}

// The head's bytes are checked before Beast parses them: Beast accepts obs-fold (unfolding it)
// and bare LF line ends, and a proxy must refuse what its upstream might read differently.
std::variant<std::size_t, Session::HeadResult> Session::find_head(std::size_t& scanned) {
  const std::size_t max_bytes = worker_.runtime()->config->http.max_header_bytes;
  const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  // Whatever is not a method token before the first space is not HTTP (a TLS hello, say):
  // refused at once rather than waited on.
  if (!starts_like_http(data)) return HeadResult::refuse(400, "malformed request line");
  const auto end = data.find("\r\n\r\n", scanned);
  const std::size_t head_size = end != std::string_view::npos ? end + 4 : 0;
  if ((head_size == 0 && data.size() >= max_bytes) || head_size > max_bytes) {
    // The request line alone does not fit: the target is too long.
    const auto line_end = data.find("\r\n");
    if (line_end == std::string_view::npos || line_end >= max_bytes) {
      return HeadResult::refuse(414, "request target too long");
    }
    return HeadResult::refuse(431, "request header fields too large");
  }
  scanned = data.size() >= 3 ? data.size() - 3 : 0;
  return head_size;
}

Session::HeadResult Session::read_head_now(RequestParser& parser) {
  std::size_t scanned = 0;
  auto found = find_head(scanned);
  if (std::get_if<std::size_t>(&found) != nullptr && std::get<std::size_t>(found) == 0 &&
      stream_.tls() == nullptr) {
    // Woken by readiness, the bytes are there: read them without a reactor operation (its
    // allocation, locking and completion cost 2 000 instructions per request).
    const std::size_t max_bytes = worker_.runtime()->config->http.max_header_bytes;
    const std::size_t room = std::min(kReadBlock, max_bytes - buffer_.size());
    const auto got =
        ::recv(socket_.native_handle(), buffer_.prepare(room).data(), room, MSG_DONTWAIT);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      return HeadResult::gone();
    }
    if (got > 0) {
      buffer_.commit(static_cast<std::size_t>(got));
      found = find_head(scanned);
    }
  }
  if (auto* refusal = std::get_if<HeadResult>(&found)) return std::move(*refusal);
  const std::size_t head_size = std::get<std::size_t>(found);
  return head_size == 0 ? HeadResult::incomplete() : parse_head(parser, head_size);
}

// Reads the rest of a request head within one client_header (the slowloris guard).
Task<Session::HeadResult> Session::read_head(RequestParser& parser) {
  const config::Config& config = *worker_.runtime()->config;
  arm(config.timeouts.client_header);
  for (std::size_t scanned = 0;;) {
    auto found = find_head(scanned);
    if (auto* refusal = std::get_if<HeadResult>(&found)) co_return std::move(*refusal);
    if (const std::size_t head_size = std::get<std::size_t>(found); head_size > 0) {
      co_return parse_head(parser, head_size);
    }
    const std::size_t room = std::min(kReadBlock, config.http.max_header_bytes - buffer_.size());
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(room), use_tuple);
    buffer_.commit(n);
    if (ec) {
      if (timed_out()) co_return HeadResult::refuse(408, "request header not received in time");
      co_return HeadResult::gone();
    }
  }
}

Session::HeadResult Session::parse_head(RequestParser& parser, std::size_t head_size) {
  const std::string_view head(static_cast<const char*>(buffer_.data().data()), head_size);
  // The client preface's first line and blank line (RFC 9113 §3.4): HTTP/2 by prior knowledge.
  if (head == "PRI * HTTP/2.0\r\n\r\n" && worker_.runtime()->config->http2.enabled) {
    return HeadResult::http2();
  }
  if (auto refusal = check_head_bytes(head)) {
    return HeadResult::refuse(refusal->status, std::move(refusal->detail));
  }
  error_code ec;
  const std::size_t used = parser.put(asio::buffer(head.data(), head.size()), ec);
  if (!ec && !parser.is_header_done()) ec = http::error::partial_message;
  if (ec == http::error::bad_version) {
    return HeadResult::refuse(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  }
  if (ec == http::error::body_limit) {
    return HeadResult::refuse(413, "request body larger than max_body_bytes");
  }
  if (ec) return HeadResult::refuse(400, "malformed request: " + ec.message());
  buffer_.consume(used);
  if (buffer_.size() == 0) buffer_.shrink_to_fit();  // not held through a delay or a relay
  return HeadResult{};
}

// Runs the exchange's admission and writes its answer, if any. Its own coroutine so that the
// answer is not in the frame of serve_ready(), which a delayed request keeps while it waits.
Task<Session::Admission> Session::admit(RequestParser& parser, Exchange& ex) {
  auto& request = parser.get();
  const RequestOrigin origin{.peer = peer_,
                             .peer_text = peer_text_,
                             .client_cert = client_cert_,
                             .chunked = parser.chunked()};
  // In this frame, not proxy::admit()'s: a local decision needs no coroutine of its own.
  Admitting admitting(worker_, request, origin, ex);
  Verdict verdict;
  if (auto answered_early = admitting.until_decision()) {
    verdict = std::move(*answered_early);
  } else if (admitting.awaits()) {
    verdict = co_await admitting.awaiting();
  } else {
    verdict = admitting.now();
  }
  if (verdict.next == Verdict::Next::forward) co_return Admission::forward;
  const bool keep = !verdict.close_connection && parser.is_done() && request.keep_alive();
  co_return answered(co_await write_local(std::move(verdict.response), keep, &ex));
}

// An admitted request goes to its route's fixed response, a 404 without an upstream, or the
// upstream. Apart from serve_ready() so that the responses built here are not in the frame a
// delayed request keeps while it waits: that frame went from 3.4 KB to ~1 KB. Not a coroutine:
// it hands serve_ready() the task to await, which saves a frame and a resumption per request
// (~200 instructions).
Task<bool> Session::deliver(RequestParser& parser, Exchange& ex) {
  const auto& request = parser.get();
  switch (const Destination destination = destination_of(ex, false)) {
    case Destination::respond:
    case Destination::no_route:
      return write_local(
          local_answer(ex, destination, request.method() == http::verb::head, ex.version).response,
          parser.is_done() && request.keep_alive(), &ex);
    case Destination::http2_upstream:
      return forward_h2(parser, ex);
    case Destination::http1_upstream:
      break;
  }
  return forward(parser, ex);
}

// Holds a delayed request until its slot, watching the client: if it hangs up, the wait ends and
// end_hold() says so. Not a coroutine: the wait is awaited in the request's own frame.
Task<std::tuple<error_code>> Session::hold(SteadyTimer& timer, Nanos wait) {
  deadline_ = kNoDeadline;
  timer.expires_after(to_duration(wait));
  hold_timer_ = &timer;
  hung_up_ = false;
  watch_for_hang_up();
  return timer.async_wait(use_tuple);
}

bool Session::end_hold(const error_code& ec) {
  hold_timer_ = nullptr;
  error_code ignored;
  socket_.cancel(ignored);  // the readiness wait, if still pending
  return !ec && !hung_up_;
}

// A plain wait beside the hold's timer, not `timer || wait`: the parallel group cost 2.5 KB per
// held request (docs/BENCHMARKS.md).
void Session::watch_for_hang_up() {
  when_readable(socket_, [self = shared_from_this()](error_code ec) {
    if (ec || self->hold_timer_ == nullptr) return;
    // Readable with data: a request body or a pipelined request. Both stay buffered in the
    // socket for later; the connection is no longer watched for hang-ups.
    if (!peer_gone(self->socket_)) return;
    self->hung_up_ = true;
    self->hold_timer_->cancel();
  });
}

Task<bool> Session::write_local(LocalResponse response, bool keep_alive, Exchange* ex) {
  Services& services = worker_.services();
  keep_alive = keep_alive && !services.draining.load();
  response.keep_alive(keep_alive);
  response.set("X-Request-Id", ex != nullptr ? ex->request_id : worker_.next_request_id());
  const unsigned status = response.result_int();
  services.count_local_response(status);
  const std::uint64_t bytes = response.body().size();
  write_head(response.base(), head_);
  std::array<asio::const_buffer, 2> message{asio::buffer(head_), asio::buffer(response.body())};
  // Logged before it is written: whoever reads the answer finds the event already recorded.
  if (ex != nullptr) {
    ex->status = status;
    ex->bytes = bytes;
    finish(*ex);
  }
  arm(worker_.runtime()->config->timeouts.client_idle);
  std::span<asio::const_buffer> unsent(message);
  error_code ec;
  write_now(stream_, unsent, ec);
  if (!ec && !unsent.empty()) {
    std::tie(ec, std::ignore) = co_await asio::async_write(stream_, unsent, use_tuple);
  }
  co_return !ec && keep_alive;
}

void Session::finish(Exchange& ex) {
  log_exchange(worker_.services(), ex);
}

}  // namespace sluice::proxy
