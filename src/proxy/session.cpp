#include "sluice/proxy/session.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "sluice/config/router.hpp"
#include "sluice/core/token.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/proxy/exchange.hpp"
#include "sluice/proxy/headers.hpp"
#include "sluice/proxy/request_checks.hpp"
#include "sluice/proxy/wire.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::proxy {
namespace {

using namespace boost::asio::experimental::awaitable_operators;

constexpr std::size_t kMaxRequestIdBytes = 128;
constexpr unsigned kNoAnswer = 1;  // read_head: the client left or sent nothing; close quietly
constexpr const char* kAllowedMethods = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE";

std::string_view view(beast::string_view s) {
  return {s.data(), s.size()};
}

// The client reset or closed its side: nothing more will come, nobody will read an answer.
bool peer_gone(tcp::socket& socket) {
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

}  // namespace

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
    if (policy.any_shared() && worker_.shared() != nullptr) {
      ex.decision = co_await worker_.shared()->decide(policy, facts, ex.shared);
      if (ex.shared.path == redis::SharedTicket::Path::fallback) {
        ex.counters->redis_fallbacks->fetch_add(1, std::memory_order_relaxed);
      }
    } else {
      ex.decision = services.limiter.decide(policy, facts, services.clock.now());
    }
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
    const bool keep = !body_unread && request.keep_alive();
    if (ex.shared.unavailable) {
      // Fail closed (redis.on_error: reject): the store of the shared limit is out, not the
      // client over it.
      auto res = make_error(503, "the shared rate limit store is unavailable", ex.version);
      res.set(http::field::retry_after, "1");
      co_return co_await write_local(std::move(res), keep, &ex);
    }
    Rejection r{ex.route->status,
                ex.route->name,
                limit.describe(),
                std::max<std::int64_t>(1, ceil_seconds(ex.decision.retry_after)),
                ex.counters->policy_header,
                ex.ratelimit};
    co_return co_await write_local(make_rejection(r, ex.version), keep, &ex);
  }
  if (ex.decision.outcome == limit::Outcome::delayed) {
    ex.counters->delay->observe(static_cast<double>(ex.decision.wait) / kNanosPerSecond);
    if (!co_await hold(ex.decision.wait)) {
      if (ex.route->policy.any_shared() && worker_.shared() != nullptr) {
        worker_.shared()->cancel(ex.decision, ex.shared);
      } else {
        services.limiter.cancel(ex.decision, services.clock.now());
      }
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
  log_exchange(worker_.services(), ex);
}

}  // namespace sluice::proxy
