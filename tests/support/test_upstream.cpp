#include "support/test_upstream.hpp"

#include <boost/beast/core.hpp>
#include <charconv>

namespace sluice::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

std::size_t query_number(std::string_view target, std::string_view name) {
  const auto pos = target.find(std::string(name) + "=");
  if (pos == std::string_view::npos) return 0;
  std::size_t value = 0;
  const auto digits = target.substr(pos + name.size() + 1);
  std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return value;
}

}  // namespace

std::string ReceivedRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (beast::iequals(n, name)) return v;
  }
  return {};
}

bool ReceivedRequest::has_header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (beast::iequals(n, name)) return true;
  }
  return false;
}

std::string pattern_bytes(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
  return out;
}

void TestUpstream::serve(tcp::socket& socket, int id) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(100 * 1024 * 1024);
    boost::system::error_code ec;
    http::read(socket, buffer, parser, ec);
    if (ec) break;
    auto& req = parser.get();
    ReceivedRequest rec{
        std::string(req.method_string()), std::string(req.target()), {}, req.body(), id};
    for (const auto& f : req)
      rec.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    {
      std::lock_guard guard(mutex_);
      requests_.push_back(rec);
    }
    const std::string_view target = rec.target;
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::server, "test-upstream");
    if (target.starts_with("/chunked")) {
      res.body() = pattern_bytes(query_number(target, "bytes"));
      res.chunked(true);
    } else {
      if (target.starts_with("/slow")) {
        std::this_thread::sleep_for(std::chrono::milliseconds(query_number(target, "ms")));
      }
      res.set(http::field::content_type, "application/octet-stream");
      res.body() = req.body();
      res.prepare_payload();
    }
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::head) {
      http::response_serializer<http::string_body> sr(res);
      http::write_header(socket, sr, ec);
    } else {
      http::write(socket, res, ec);
    }
    if (ec || !req.keep_alive()) break;
  }
  boost::system::error_code ignored;
  socket.close(ignored);
}

std::vector<ReceivedRequest> TestUpstream::requests() const {
  std::lock_guard guard(mutex_);
  return requests_;
}

std::size_t TestUpstream::request_count() const {
  std::lock_guard guard(mutex_);
  return requests_.size();
}

RefusingPort::RefusingPort() : socket_(io_) {
  socket_.open(tcp::v4());
  socket_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
}

std::uint16_t RefusingPort::port() const {
  return socket_.local_endpoint().port();
}

}  // namespace sluice::testing
