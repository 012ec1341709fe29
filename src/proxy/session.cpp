#include "sluice/proxy/session.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "sluice/config/router.hpp"
#include "sluice/core/token.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/proxy/headers.hpp"
#include "sluice/proxy/relay.hpp"
#include "sluice/proxy/request_checks.hpp"
#include "sluice/proxy/wire.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::proxy {
namespace {

using namespace boost::asio::experimental::awaitable_operators;

constexpr std::size_t kMaxRequestIdBytes = 128;
constexpr unsigned kClientClosedRequest = 499;  // nginx's status for a client that left
constexpr unsigned kNoAnswer = 1;
constexpr const char* kAllowedMethods =
    "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE";  // read_head: the client left or sent
                                                            // nothing; close quietly

std::string_view view(beast::string_view s) {
  return {s.data(), s.size()};
}

// The client reset or closed its side: nothing more will come, nobody will read an answer.
bool peer_gone(tcp::socket& socket) {
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

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

// Response parsers are not reusable: each response (an interim 1xx included) gets a fresh one.
void fresh_response_parser(std::optional<ResponseParser>& parser, std::size_t max_header_bytes,
                           bool head_request) {
  parser.emplace();
  parser->header_limit(static_cast<std::uint32_t>(max_header_bytes));
  parser->body_limit(boost::none);
  parser->skip(head_request);
}

bool expects_continue(const http::fields& fields) {
  return beast::iequals(fields[http::field::expect], "100-continue");
}

}  // namespace

struct Session::Exchange {
  std::shared_ptr<const Runtime> runtime;
  const config::Route* route = nullptr;
  const config::UpstreamTarget* upstream = nullptr;
  const RouteRuntime* counters = nullptr;
  limit::Decision decision;
  std::string ratelimit;  // RateLimit value; empty when the route is unlimited
  std::string method;
  std::string target;       // as forwarded: the canonical form
  std::string logged_path;  // the target with key parameter values masked
  std::string logged_key;   // the deciding key as logs show it (digests unless show_keys)
  std::string client;
  std::string request_id;
  unsigned version = kHttp11;
  Nanos started = 0;
  Nanos upstream_ns = 0;
  unsigned status = 0;
  std::uint64_t bytes = 0;
};

Session::Session(Worker& worker, tcp::socket socket) : worker_(worker), socket_(std::move(socket)) {
  // Asked of the descriptor, not through tcp::endpoint: an adopted socket may be no IP socket
  // at all (a socketpair), and its address is then unknown rather than misread.
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  char text[INET6_ADDRSTRLEN] = {};
  if (::getpeername(socket_.native_handle(), reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    const void* bytes = nullptr;
    if (address.ss_family == AF_INET) bytes = &reinterpret_cast<sockaddr_in*>(&address)->sin_addr;
    if (address.ss_family == AF_INET6) {
      bytes = &reinterpret_cast<sockaddr_in6*>(&address)->sin6_addr;
    }
    if (bytes != nullptr && ::inet_ntop(address.ss_family, bytes, text, sizeof text) != nullptr) {
      peer_ = IpAddress::parse(text).value_or(IpAddress{});
      peer_text_ = peer_.to_string();
    }
  }
  worker_.add(this);
  worker_.services().downstream_connections.fetch_add(1, std::memory_order_relaxed);
}

Session::~Session() {
  worker_.services().downstream_connections.fetch_sub(1, std::memory_order_relaxed);
  worker_.remove(this);
}

void Session::close_if_idle() {
  if (idle_) close();
}

void Session::close() {
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

void Session::arm(Nanos timeout) {
  deadline_ = worker_.services().clock.now() + timeout;
  timed_out_ = false;
}

void Session::check_deadline(Nanos now) {
  if (now < deadline_) return;
  deadline_ = kNoDeadline;
  timed_out_ = true;
  error_code ignored;
  socket_.cancel(ignored);
  if (upstream_socket_ != nullptr) upstream_socket_->cancel(ignored);
}

error_code Session::timeout_or(error_code ec) const {
  return ec && timed_out_ ? error_code(beast::error::timeout) : ec;
}

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();  // the session lives as long as its coroutine
  for (bool first = true;; first = false) {
    idle_ = true;
    if (worker_.services().draining.load() || !co_await await_request(first)) break;
    idle_ = false;
    const auto& limits = worker_.runtime()->config->http;
    RequestParser parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);
    const HeadResult head = co_await read_head(parser);
    if (head.status != 0) {
      if (head.status != kNoAnswer) {
        co_await write_local(make_error(head.status, head.detail, kHttp11), false, nullptr);
      }
      break;
    }
    if (!co_await serve(parser)) break;
  }
  deadline_ = kNoDeadline;
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
}

// Between requests a keep-alive connection may idle for client_idle; the first request's first
// byte must come within client_header.
asio::awaitable<bool> Session::await_request(bool first) {
  if (buffer_.size() > 0) co_return true;
  const auto& timeouts = worker_.runtime()->config->timeouts;
  arm(first ? timeouts.client_header : timeouts.client_idle);
  auto [ec, n] = co_await socket_.async_read_some(buffer_.prepare(4096), use_tuple);
  buffer_.commit(n);
  co_return !ec && n > 0;
}

// Reads a request head within client_header (the slowloris guard) and checks its bytes before
// Beast parses them: Beast accepts obs-fold (unfolding it) and bare LF line ends, and a proxy
// must refuse what its upstream might read differently.
asio::awaitable<Session::HeadResult> Session::read_head(RequestParser& parser) {
  const config::Config& config = *worker_.runtime()->config;
  const std::size_t max_bytes = config.http.max_header_bytes;
  bool armed = false;  // the whole rest of the head must come within one client_header
  std::size_t head_size = 0;
  for (std::size_t scanned = 0;;) {
    const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    // Whatever is not a method token before the first space is not HTTP (a TLS hello, say):
    // refused at once rather than waited on.
    if (!starts_like_http(data)) co_return HeadResult{400, "malformed request line"};
    const auto end = data.find("\r\n\r\n", scanned);
    if (end != std::string_view::npos) head_size = end + 4;
    if ((head_size == 0 && data.size() >= max_bytes) || head_size > max_bytes) {
      // The request line alone does not fit: the target is too long.
      const auto line_end = data.find("\r\n");
      if (line_end == std::string_view::npos || line_end >= max_bytes) {
        co_return HeadResult{414, "request target too long"};
      }
      co_return HeadResult{431, "request header fields too large"};
    }
    if (head_size > 0) break;
    scanned = data.size() >= 3 ? data.size() - 3 : 0;
    if (!armed) arm(config.timeouts.client_header);
    armed = true;
    auto [ec, n] =
        co_await socket_.async_read_some(buffer_.prepare(max_bytes - data.size()), use_tuple);
    buffer_.commit(n);
    if (ec) {
      if (timed_out()) co_return HeadResult{408, "request header not received in time"};
      co_return HeadResult{kNoAnswer, {}};
    }
  }

  const std::string_view head(static_cast<const char*>(buffer_.data().data()), head_size);
  if (auto refusal = check_head_bytes(head)) {
    co_return HeadResult{refusal->status, std::move(refusal->detail)};
  }
  error_code ec;
  const std::size_t used = parser.put(asio::buffer(head.data(), head.size()), ec);
  if (!ec && !parser.is_header_done()) ec = http::error::partial_message;
  if (ec == http::error::bad_version) {
    co_return HeadResult{505, "only HTTP/1.0 and HTTP/1.1 are supported"};
  }
  if (ec == http::error::body_limit) {
    co_return HeadResult{413, "request body larger than max_body_bytes"};
  }
  if (ec) co_return HeadResult{400, "malformed request: " + ec.message()};
  buffer_.consume(used);
  co_return HeadResult{0, {}};
}

asio::awaitable<bool> Session::serve(RequestParser& parser) {
  Services& services = worker_.services();
  Exchange ex;
  ex.started = services.clock.now();
  ex.runtime = worker_.runtime();
  const config::Config& config = *ex.runtime->config;
  auto& request = parser.get();
  ex.version = request.version() == kHttp10 ? kHttp10 : kHttp11;
  ex.method = std::string(view(request.method_string()));
  ex.target = ex.logged_path = std::string(view(request.target()));
  ex.client = peer_text_;
  ex.counters = &ex.runtime->unmatched;
  const auto incoming_id = view(request["X-Request-Id"]);
  ex.request_id = incoming_id.size() <= kMaxRequestIdBytes && is_token(incoming_id)
                      ? std::string(incoming_id)
                      : worker_.next_request_id();

  if (auto refusal = check_framing(request, parser.chunked())) {
    co_await write_local(make_error(refusal->status, refusal->detail, ex.version), false, &ex);
    co_return false;
  }
  auto resolved = resolve_target(request.method(), ex.target, view(request[http::field::host]),
                                 config.http.paths);
  if (auto* refusal = std::get_if<Refusal>(&resolved)) {
    auto res = make_error(refusal->status, refusal->detail, ex.version);
    if (refusal->status == 405) res.set(http::field::allow, kAllowedMethods);
    co_await write_local(std::move(res), false, &ex);
    co_return false;
  }
  const Target& target = std::get<Target>(resolved);
  ex.target = ex.logged_path = target.forwarded;
  request.target(target.forwarded);
  if (!target.authority.empty()) request.set(http::field::host, target.authority);

  const IpAddress client =
      limit::client_address(peer_, view(request["X-Forwarded-For"]), config.trusted_proxies);
  ex.client = client.to_string();
  const std::string client_key = limit::client_key_text(client, config.ipv6_prefix);
  ex.route = config::match_route(config, ex.method, target.path, target.host);
  ex.counters = &ex.runtime->of(ex.route);
  if (ex.route != nullptr && ex.route->upstream) {
    ex.upstream = &*ex.route->upstream;
  } else if (ex.route == nullptr && config.upstream) {
    ex.upstream = &*config.upstream;
  }

  if (ex.route != nullptr && !ex.route->policy.limits.empty()) {
    const limit::RoutePolicy& policy = ex.route->policy;
    const HeadFacts facts(request, target.query, client_key);
    ex.logged_path = limit::masked_target(policy, ex.target);
    if (auto problem = limit::key_input_problem(policy, facts); !problem.empty()) {
      co_return co_await refuse_ambiguous(ex, problem, parser.is_done() && request.keep_alive());
    }
    ex.decision = services.limiter.decide(policy, facts, services.clock.now());
    ex.ratelimit = ratelimit_value(policy, ex.decision);
    if (ex.decision.throttled()) {
      ex.logged_key = config.log.show_keys
                          ? ex.decision.key
                          : limit::render_key(policy.limits[ex.decision.deciding].key, facts,
                                              limit::KeyText::digest);
    }
  }
  ex.counters->count(ex.decision.outcome);

  const bool body_unread = !parser.is_done();
  if (ex.decision.outcome == limit::Outcome::rejected) {
    const auto& limit = ex.route->policy.limits[ex.decision.deciding];
    Rejection r{ex.route->status,
                ex.route->name,
                limit.describe(),
                std::max<std::int64_t>(1, ceil_seconds(ex.decision.retry_after)),
                ex.counters->policy_header,
                ex.ratelimit};
    const bool keep = !body_unread && request.keep_alive();
    co_return co_await write_local(make_rejection(r, ex.version), keep, &ex);
  }
  if (ex.decision.outcome == limit::Outcome::delayed) {
    ex.counters->delay->observe(static_cast<double>(ex.decision.wait) / kNanosPerSecond);
    if (!co_await hold(ex.decision.wait)) {
      services.limiter.cancel(ex.decision, services.clock.now());
      ex.status = kClientClosedRequest;
      finish(ex);
      co_return false;
    }
  }
  if (ex.route != nullptr && ex.route->respond) {
    const config::Respond& respond = *ex.route->respond;
    auto res = make_text(respond.status, respond.body, respond.content_type, ex.version);
    if (!ex.ratelimit.empty()) {
      res.set("RateLimit-Policy", ex.counters->policy_header);
      res.set("RateLimit", ex.ratelimit);
    }
    if (request.method() == http::verb::head) res.body().clear();
    co_return co_await write_local(std::move(res), !body_unread && request.keep_alive(), &ex);
  }
  if (ex.upstream == nullptr) {
    co_return co_await write_local(
        make_error(404, "no route matches and no default upstream is set", ex.version),
        !body_unread && request.keep_alive(), &ex);
  }
  co_return co_await forward(parser, ex);
}

// A key header or parameter sent twice (or undecodable): which one counts depends on the upstream's
// framework, so neither does. Logged, so operators see the attempts.
asio::awaitable<bool> Session::refuse_ambiguous(Exchange& ex, const std::string& problem,
                                                bool keep_alive) {
  worker_.services().log.message(observe::Level::warn, "rejected_request",
                                 {{"route", ex.route->name},
                                  {"reason", problem},
                                  {"status", "400", true},
                                  {"method", observe::sanitize(ex.method)},
                                  {"path", observe::sanitize(ex.logged_path)},
                                  {"client", ex.client},
                                  {"request_id", observe::sanitize(ex.request_id)}});
  co_return co_await write_local(make_error(400, problem, ex.version), keep_alive, &ex);
}

// Holds a delayed request until its slot, watching the client: if it hangs up, the wait ends and
// the caller refunds the slot.
asio::awaitable<bool> Session::hold(Nanos wait) {
  deadline_ = kNoDeadline;
  asio::steady_timer timer(socket_.get_executor());
  timer.expires_after(to_duration(wait));
  auto first = co_await (timer.async_wait(use_tuple) ||
                         socket_.async_wait(tcp::socket::wait_read, use_tuple));
  if (first.index() == 0) co_return !std::get<0>(std::get<0>(first));
  if (peer_gone(socket_)) co_return false;
  // Readable with data: a request body or a pipelined request. Both stay buffered in the socket
  // for later; the connection is no longer watched for hang-ups.
  auto [ec] = co_await timer.async_wait(use_tuple);
  co_return !ec;
}

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
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(kContinue), use_tuple);
    if (ec) co_return false;
  }
  request.erase(http::field::expect);
  strip_hop_by_hop(request);
  add_forwarding(request, peer_text_, ex.version);
  request.set("X-Request-Id", ex.request_id);
  request.version(kHttp11);
  request.keep_alive(true);

  const auto piece = worker_.pieces().borrow();
  std::optional<ResponseParser> parsed;
  const Nanos upstream_started = services.clock.now();
  auto upstream = co_await send_upstream(parser, ex, piece.get(), parsed);
  if (!upstream) co_return false;      // answered (502/504/413) or the client is gone
  ResponseParser& response = *parsed;  // upstream_socket_ still points at `upstream`

  // The response header is in: from here on a failure can only close the client connection.
  auto& res = response.get();
  ex.status = res.result_int();
  ex.counters->count_response(ex.status);
  const bool upstream_keep_alive = response.keep_alive();
  const bool request_complete = parser.is_done();
  strip_hop_by_hop(res);
  append_via(res, res.version());
  if (!ex.ratelimit.empty()) {
    res.set("RateLimit-Policy", ex.counters->policy_header);
    res.set("RateLimit", ex.ratelimit);
  }
  res.set("X-Request-Id", ex.request_id);
  bool keep_alive = client_keep_alive && request_complete && !services.draining.load();
  const bool has_body = !response.is_done();
  Framing framing = has_body && response.chunked() ? Framing::chunked : Framing::none;
  if (has_body && !response.content_length() && (ex.version == 10 || !response.chunked())) {
    // Delimited by the upstream closing: re-framed as chunked for HTTP/1.1 clients. An HTTP/1.0
    // client cannot read chunks: it gets the bare body and learns its end by the close.
    if (ex.version == 11) {
      res.chunked(true);
      framing = Framing::chunked;
    } else {
      res.erase(http::field::transfer_encoding);
      framing = Framing::none;
      keep_alive = false;
    }
  }
  res.version(ex.version);
  res.keep_alive(keep_alive);
  write_head(res, head_);

  RelayResult relayed = co_await relay(upstream->socket, upstream->buffer, response, socket_, head_,
                                       framing, piece.get(), config.timeouts.upstream_response,
                                       config.timeouts.client_idle, arming());
  upstream_socket_ = nullptr;
  relayed.ec = timeout_or(relayed.ec);
  ex.upstream_ns = services.clock.now() - upstream_started;
  ex.bytes = relayed.bytes;
  if (relayed.failure == RelayFailure::read) {
    ex.counters->count(relayed.ec == beast::error::timeout ? UpstreamError::timeout
                                                           : UpstreamError::reset);
  }
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
    std::optional<ResponseParser>& response) {
  const config::Config& config = *ex.runtime->config;
  const config::UpstreamTarget& target = *ex.upstream;
  const bool retryable = parser.is_done() && idempotent(parser.get().method());

  for (int attempt = 0;; ++attempt) {
    error_code ec;
    const auto reuse = attempt > 0 ? UpstreamPool::Reuse::never
                       : retryable ? UpstreamPool::Reuse::any
                                   : UpstreamPool::Reuse::checked;
    deadline_ = kNoDeadline;  // the pool keeps its own connect deadline
    auto upstream =
        co_await worker_.pool().acquire(target, config.timeouts.upstream_connect, reuse, ec);
    if (!upstream) {
      ex.counters->count(UpstreamError::connect);
      co_await write_local(make_error(502, "upstream unreachable: " + ec.message(), ex.version),
                           false, &ex);
      co_return nullptr;
    }
    upstream_socket_ = &upstream->socket;
    write_head(parser.get(), head_);
    const Framing framing = parser.chunked() ? Framing::chunked : Framing::none;
    RelayResult sent =
        co_await relay(socket_, buffer_, parser, upstream->socket, head_, framing, piece,
                       config.timeouts.client_idle, config.timeouts.upstream_response, arming());
    sent.ec = timeout_or(sent.ec);
    if (sent.failure == RelayFailure::read) {
      upstream_socket_ = nullptr;
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
    fresh_response_parser(response, config.http.max_header_bytes, head_request);
    if (sent.failure == RelayFailure::none) {
      arm(config.timeouts.upstream_response);
      auto [read_ec, n] = co_await http::async_read_header(upstream->socket, upstream->buffer,
                                                           *response, use_tuple);
      // Interim 1xx responses (other than 101, whose Upgrade was stripped) are skipped.
      while (!read_ec && response->get().result_int() / 100 == 1 &&
             response->get().result_int() != 101) {
        fresh_response_parser(response, config.http.max_header_bytes, head_request);
        std::tie(read_ec, n) = co_await http::async_read_header(upstream->socket, upstream->buffer,
                                                                *response, use_tuple);
      }
      if (!read_ec) co_return upstream;
      ec = timeout_or(read_ec);
    } else {
      ec = sent.ec;
    }
    upstream_socket_ = nullptr;
    const bool stale = upstream->reused && !response->got_some() && upstream->buffer.size() == 0;
    if (stale && retryable && attempt == 0) continue;
    unsigned status = 502;
    std::string detail = "upstream connection failed: " + ec.message();
    if (ec == beast::error::timeout) {
      status = 504;
      detail = "upstream did not answer within upstream_response";
      ex.counters->count(UpstreamError::timeout);
    } else if (&ec.category() == &http::make_error_code(http::error::bad_target).category()) {
      detail = "upstream sent a malformed response: " + ec.message();
      ex.counters->count(UpstreamError::protocol);
    } else {
      ex.counters->count(UpstreamError::reset);
    }
    co_await write_local(make_error(status, detail, ex.version), false, &ex);
    co_return nullptr;
  }
}

asio::awaitable<bool> Session::write_local(LocalResponse response, bool keep_alive, Exchange* ex) {
  Services& services = worker_.services();
  keep_alive = keep_alive && !services.draining.load();
  response.keep_alive(keep_alive);
  response.set("X-Request-Id", ex != nullptr ? ex->request_id : worker_.next_request_id());
  const unsigned status = response.result_int();
  services.count_local_response(status);
  const std::uint64_t bytes = response.body().size();
  write_head(response.base(), head_);
  const std::array<asio::const_buffer, 2> message{asio::buffer(head_),
                                                  asio::buffer(response.body())};
  // Logged before it is written: whoever reads the answer finds the event already recorded.
  if (ex != nullptr) {
    ex->status = status;
    ex->bytes = bytes;
    finish(*ex);
  }
  arm(worker_.runtime()->config->timeouts.client_idle);
  auto [ec, n] = co_await asio::async_write(socket_, message, use_tuple);
  co_return !ec && keep_alive;
}

void Session::finish(Exchange& ex) {
  Services& services = worker_.services();
  const Nanos now = services.clock.now();
  const std::string route = ex.route != nullptr ? ex.route->name : "";
  const std::string decision(limit::to_string(ex.decision.outcome));
  if (ex.decision.throttled()) {
    const auto& limit = ex.route->policy.limits[ex.decision.deciding];
    services.log.throttled({.route = route,
                            .key = ex.logged_key,
                            .decision = decision,
                            .limit = limit.describe(),
                            .weight = limit.weight,
                            .delay_ms = ex.decision.wait / kNanosPerMilli,
                            .retry_after_s = ceil_seconds(ex.decision.retry_after),
                            .status = ex.status,
                            .method = ex.method,
                            .path = ex.logged_path,
                            .client = ex.client,
                            .request_id = ex.request_id});
  }
  if (services.log.access_enabled()) {
    services.log.access({.route = route,
                         .decision = decision,
                         .method = ex.method,
                         .path = ex.logged_path,
                         .client = ex.client,
                         .request_id = ex.request_id,
                         .status = ex.status,
                         .duration_ms = (now - ex.started) / kNanosPerMilli,
                         .upstream_ms = ex.upstream_ns / kNanosPerMilli,
                         .bytes = ex.bytes});
  }
}

}  // namespace sluice::proxy
