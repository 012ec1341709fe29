#include "sluice/proxy/admin.hpp"

#include <charconv>

#include "sluice/config/to_json.hpp"
#include "sluice/core/uri.hpp"
#include "sluice/proxy/accept_backoff.hpp"
#include "sluice/proxy/headers.hpp"
#include "sluice/proxy/request_checks.hpp"

namespace sluice::proxy {
namespace {

constexpr std::size_t kDefaultThrottled = 100;
constexpr std::size_t kMaxThrottled = 1000;
constexpr auto kAdminTimeout = std::chrono::seconds(10);

std::size_t throttled_limit(std::string_view query) {
  const auto text = uri::find_query_param(query, "limit");
  std::size_t n = kDefaultThrottled;
  if (text.state == uri::Lookup::State::found) {
    std::from_chars(text.value.data(), text.value.data() + text.value.size(), n);
  }
  return std::min(n, kMaxThrottled);
}

}  // namespace

LocalResponse admin_response(std::string_view method, std::string_view target,
                             const AdminSources& sources) {
  if (method != "GET" && method != "HEAD") {
    auto res = make_error(405, "the admin endpoints answer GET", kHttp11);
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  const auto [path, query] = split_target(target);
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
    return make_text(200, sources.log.ring().newest(throttled_limit(query)) + "\n",
                     "application/json", kHttp11);
  }
  if (path == "/config") {
    return make_text(200, config::to_json(*sources.config()) + "\n", "application/json", kHttp11);
  }
  return make_error(404, "admin endpoints: /healthz /readyz /metrics /throttled /config", kHttp11);
}

AdminServer::AdminServer(std::unique_ptr<asio::io_context> io, tcp::acceptor acceptor,
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

asio::awaitable<void> AdminServer::accept_loop() {
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

asio::awaitable<void> AdminServer::serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(8192);
    stream.expires_after(kAdminTimeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) break;
    const auto& req = parser.get();
    auto res =
        admin_response(std::string_view(req.method_string().data(), req.method_string().size()),
                       std::string_view(req.target().data(), req.target().size()), sources_);
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
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace sluice::proxy
