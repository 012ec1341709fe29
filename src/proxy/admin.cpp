#include "sluice/proxy/admin.hpp"

#include <algorithm>
#include <charconv>

#include "sluice/config/to_json.hpp"
#include "sluice/core/uri.hpp"
#include "sluice/dashboard_html.hpp"
#include "sluice/proxy/accept_backoff.hpp"
#include "sluice/proxy/explain.hpp"
#include "sluice/proxy/headers.hpp"
#include "sluice/proxy/request_checks.hpp"

namespace sluice::proxy {
namespace {

constexpr std::size_t kDefaultThrottled = 100;
constexpr std::size_t kDefaultTop = 20;
constexpr std::size_t kMaxThrottled = 1000;
constexpr std::int64_t kDefaultTopWindowMs = std::int64_t{5} * 60 * 1000;
constexpr auto kAdminTimeout = std::chrono::seconds(10);

std::size_t limit_param(std::string_view query, std::size_t fallback) {
  const auto text = uri::find_query_param(query, "limit");
  std::size_t n = fallback;
  if (text.state == uri::Lookup::State::found) {
    std::from_chars(text.value.data(), text.value.data() + text.value.size(), n);
  }
  return std::min(n, kMaxThrottled);
}

// `window=` as 90s, 5m or 1h (at most observe::TopThrottled::kMaxWindowMs); nullopt if malformed.
std::optional<std::int64_t> window_param(std::string_view query) {
  const auto text = uri::find_query_param(query, "window");
  if (text.state != uri::Lookup::State::found) return kDefaultTopWindowMs;
  const std::string_view v = text.value;
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || n <= 0 || end + 1 != v.data() + v.size()) return std::nullopt;
  std::int64_t unit_ms = 0;
  switch (*end) {
    case 's':
      unit_ms = 1000;
      break;
    case 'm':
      unit_ms = std::int64_t{60} * 1000;
      break;
    case 'h':
      unit_ms = std::int64_t{3600} * 1000;
      break;
    default:
      return std::nullopt;
  }
  if (n > observe::TopThrottled::kMaxWindowMs / unit_ms) return std::nullopt;
  return n * unit_ms;
}

std::optional<std::string> redis_address(const config::Config& config) {
  if (!config.redis) return std::nullopt;
  return config.redis->address();
}

// /explain?method=GET&path=/api/x&header=X-Api-Key:abc&client=203.0.113.7 (header repeats).
LocalResponse explain_response(std::string_view query, const AdminSources& sources,
                               SharedPass shared) {
  ExplainRequest request;
  request.target.clear();
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    const auto name = uri::form_decode(pair.substr(0, eq));
    const auto value =
        uri::form_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!name || !value) return make_error(400, "the query string is malformed", kHttp11);
    if (*name == "method") {
      request.method = *value;
    } else if (*name == "path") {
      request.target = *value;
    } else if (*name == "client") {
      request.client = *value;
    } else if (*name == "header") {
      const auto colon = value->find(':');
      if (colon == std::string::npos || colon == 0) {
        return make_error(400, "header wants Name:value", kHttp11);
      }
      std::string_view v = std::string_view(*value).substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      request.headers.emplace_back(value->substr(0, colon), std::string(v));
    } else {
      return make_error(400, "explain takes method, path, header (repeated) and client", kHttp11);
    }
  }
  if (request.target.empty()) return make_error(400, "explain needs path", kHttp11);
  std::string error;
  std::string answer;
  if (sources.limiter != nullptr && sources.clock != nullptr) {
    LiveBuckets live{*sources.limiter, sources.clock->now(), sources.clock->unix_ns(), {}};
    std::size_t next = 0;
    if (shared.wanted != nullptr) {
      live.shared = [&](const limit::LimitPolicy& limit, const std::string& key, bool quota) {
        shared.wanted->push_back({limit, key, quota});
        return std::optional<std::int64_t>();
      };
    } else if (shared.read != nullptr) {
      live.shared = [&](const limit::LimitPolicy&, const std::string&, bool) {
        return next < shared.read->size() ? (*shared.read)[next++] : std::nullopt;
      };
    }
    answer = explain(*sources.config(), request, error, &live);
  } else {
    answer = explain(*sources.config(), request, error);
  }
  if (answer.empty()) return make_error(400, error, kHttp11);
  return make_text(200, answer + "\n", "application/json", kHttp11);
}

}  // namespace

bool admin_host_allowed(std::string_view host_header, const config::Config& config) {
  if (host_header.empty()) return true;  // HTTP/1.0 without Host: no browser sends that
  std::string host = uri::canonical_host(host_header);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  if (host == "localhost" || IpAddress::parse(host)) return true;
  return std::find(config.admin_hosts.begin(), config.admin_hosts.end(), host) !=
         config.admin_hosts.end();
}

LocalResponse admin_response(std::string_view method, std::string_view target,
                             std::string_view host_header, const AdminSources& sources,
                             SharedPass shared) {
  if (!admin_host_allowed(host_header, *sources.config())) {
    return make_error(421,
                      "the admin listener answers IP addresses, localhost and the names in "
                      "admin_hosts",
                      kHttp11);
  }
  if (method != "GET" && method != "HEAD") {
    auto res = make_error(405, "the admin endpoints answer GET", kHttp11);
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  const auto [path, query] = split_target(target);
  if (path == "/") {
    auto res = make_text(200, std::string(kDashboardHtml), "text/html; charset=utf-8", kHttp11);
    // The page is self-contained: nothing may come from anywhere but this listener.
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src data:");
    res.set(http::field::cache_control, "no-store");
    return res;
  }
  if (path == "/stats") {
    return make_text(200,
                     observe::stats_json(sources.metrics, sources.history, observe::unix_now_ms(),
                                         redis_address(*sources.config())) +
                         "\n",
                     "application/json", kHttp11);
  }
  if (path == "/throttled/top") {
    const auto window = window_param(query);
    if (!window) {
      return make_error(400, "window must be a duration of at most 1h, such as 90s, 5m or 1h",
                        kHttp11);
    }
    return make_text(200,
                     observe::to_json(sources.log.top().top(observe::unix_now_ms(),
                                                            std::chrono::milliseconds(*window),
                                                            limit_param(query, kDefaultTop))) +
                         "\n",
                     "application/json", kHttp11);
  }
  if (path == "/healthz") return make_text(200, "ok\n", "text/plain; charset=utf-8", kHttp11);
  if (path == "/readyz") {
    return sources.draining.load()
               ? make_text(503, "shutting down\n", "text/plain; charset=utf-8", kHttp11)
               : make_text(200, "ready\n", "text/plain; charset=utf-8", kHttp11);
  }
  if (path == "/metrics") {
    return make_text(200, sources.metrics.render(), "text/plain; version=0.0.4; charset=utf-8",
                     kHttp11);
  }
  if (path == "/throttled") {
    return make_text(200, sources.log.ring().newest(limit_param(query, kDefaultThrottled)) + "\n",
                     "application/json", kHttp11);
  }
  if (path == "/config") {
    return make_text(200, config::to_json(*sources.config()) + "\n", "application/json", kHttp11);
  }
  if (path == "/explain") return explain_response(query, sources, shared);
  return make_error(404,
                    "admin endpoints: / /healthz /readyz /metrics /stats /throttled "
                    "/throttled/top /config /explain",
                    kHttp11);
}

AdminServer::AdminServer(std::unique_ptr<asio::io_context> io, TcpAcceptor acceptor,
                         AdminSources sources)
    : io_(std::move(io)),
      acceptor_(std::move(acceptor)),
      sources_(std::move(sources)),
      port_(acceptor_.local_endpoint().port()) {}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::start() {
  asio::co_spawn(*io_, accept_loop(), asio::detached);
  asio::co_spawn(*io_, sample_stats(), asio::detached);
  thread_ = std::thread([this] { io_->run(); });
}

void AdminServer::stop() {
  if (!thread_.joinable()) return;
  asio::post(*io_, [this] {
    error_code ec;
    acceptor_.close(ec);
    io_->stop();
  });
  thread_.join();
}

Task<void> AdminServer::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      co_await back_off_after_accept_failure(ec, sources_.log, "admin");
      continue;
    }
    asio::co_spawn(*io_, serve(std::move(socket)), asio::detached);
  }
}

Task<void> AdminServer::sample_stats() {
  SteadyTimer timer(*io_);
  for (;;) {
    sources_.history.sample(sources_.metrics, observe::unix_now_ms());
    timer.expires_after(std::chrono::milliseconds(observe::StatsHistory::kIntervalMs));
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec) co_return;  // the io_context stopped
  }
}

Task<void> AdminServer::serve(TcpSocket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(8192);
    stream.expires_after(kAdminTimeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) break;
    const auto& req = parser.get();
    std::vector<redis::SharedLimiter::Peek> wanted;
    auto res = admin_response(view(req.method_string()), view(req.target()),
                              view(req[http::field::host]), sources_, {&wanted, nullptr});
    if (!wanted.empty() && sources_.peek_shared) {
      // Shared limits' levels are in Redis: read on a worker's thread, then answer again.
      const AdminSources::SharedReads read = co_await sources_.peek_shared(std::move(wanted));
      res = admin_response(view(req.method_string()), view(req.target()),
                           view(req[http::field::host]), sources_, {nullptr, &read});
    }
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::head) {
      http::response_serializer<http::string_body> sr(res);
      co_await http::async_write_header(stream, sr, use_tuple);
    } else {
      auto [write_ec, written] = co_await http::async_write(stream, res, use_tuple);
      if (write_ec) break;
    }
    if (!req.keep_alive()) break;
  }
  error_code ec;
  stream.socket().shutdown(TcpSocket::shutdown_send, ec);
}

}  // namespace sluice::proxy
