#include "support/proxy_harness.hpp"

#include <unistd.h>

#include <boost/beast/core.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "sluice/config/load.hpp"

namespace sluice::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

ProxyHarness::ProxyHarness(const std::string& yaml, const std::string& log_options) {
  static std::atomic<int> counter{0};
  log_path_ =
      "/tmp/sluice-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".log";
  const std::string full =
      "listen: 127.0.0.1:0\nlog: { file: " + log_path_ + ", level: debug" +
      (log_options.find("format:") == std::string::npos ? ", format: json" : "") +
      (log_options.empty() ? "" : ", " + log_options) + " }\n" + yaml;
  start(config::load_string(full, "test.yaml"));
}

ProxyHarness::ProxyHarness(const File& file) {
  const auto loaded = config::load_file(file.path);
  if (loaded.config) log_path_ = loaded.config->log.file;
  start(loaded);
}

void ProxyHarness::start(const config::LoadResult& loaded) {
  if (!loaded.config) {
    std::string all;
    for (const auto& e : loaded.errors) all += e + "\n";
    throw std::runtime_error("test config does not load:\n" + all);
  }
  std::string error;
  auto log = observe::EventLog::open(loaded.config->log, error);
  if (!log) throw std::runtime_error(error);
  server_ = std::make_unique<app::Server>(loaded.config, std::move(log));
  server_->start();
}

ProxyHarness::~ProxyHarness() {
  server_.reset();
  ::unlink(log_path_.c_str());
}

std::string ProxyHarness::log_text() {
  // Waits: a check that a line is absent must not pass only because it is still queued.
  server_->log().sync();
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool ProxyHarness::wait_for_log(const std::string& needle, std::uint64_t count) {
  return wait_until([&] { return count_lines_with(log_text(), needle) >= count; });
}

std::uint64_t ProxyHarness::decisions(const std::string& route, const std::string& decision) {
  return server_->metrics()
      .counter(observe::Family::requests_total, {{"route", route}, {"decision", decision}})
      .load();
}

Client::Client(std::uint16_t port) : socket_(io_) {
  socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
}

Client::~Client() {
  close();
}

void Client::send(const std::string& method, const std::string& target, const Headers& headers,
                  const std::string& body) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.method_string(method);
  req.set(http::field::host, "localhost");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  if (!body.empty() || method == "POST" || method == "PUT") req.prepare_payload();
  http::write(socket_, req);
}

Response Client::receive(bool head) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(200 * 1024 * 1024);
  parser.skip(head);
  http::read(socket_, buffer_, parser);
  return to_response(parser.release());
}

Response to_response(http::response<http::string_body>&& res) {
  Response out;
  out.status = res.result_int();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(f.value());
  }
  out.body = std::move(res.body());
  return out;
}

Response Client::request(const std::string& method, const std::string& target,
                         const Headers& headers, const std::string& body) {
  send(method, target, headers, body);
  return receive(method == "HEAD");
}

void Client::write_raw(const std::string& bytes) {
  asio::write(socket_, asio::buffer(bytes));
}

std::string Client::read_all() {
  std::string out(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  buffer_.consume(buffer_.size());
  char chunk[4096];
  for (;;) {
    boost::system::error_code ec;
    const auto n = socket_.read_some(asio::buffer(chunk), ec);
    out.append(chunk, n);
    if (ec) break;
  }
  return out;
}

void Client::close() {
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::uint64_t count_lines_with(const std::string& text, const std::string& needle) {
  std::uint64_t n = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) n += line.find(needle) != std::string::npos;
  return n;
}

}  // namespace sluice::testing
