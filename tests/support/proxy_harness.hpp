#pragma once
// sluice running in-process on 127.0.0.1:0 with a JSON log in a temporary file, and a small
// synchronous HTTP client to talk to it.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "sluice/app/server.hpp"
#include "sluice/config/load.hpp"

namespace sluice::testing {

class ProxyHarness {
 public:
  // `yaml` is a config without `listen` and `log`; the harness adds both, the log with
  // `log_options` (flow-mapping items, e.g. "show_keys: true").
  explicit ProxyHarness(const std::string& yaml, const std::string& log_options = "");
  // sluice started from a config file, as the daemon is (reloads read the file again); the file
  // has its own `listen` and a JSON `log.file`.
  struct File {
    std::string path;
  };
  explicit ProxyHarness(const File& file);
  ~ProxyHarness();

  [[nodiscard]] std::uint16_t port() const { return server_->port(); }
  app::Server& server() { return *server_; }
  // Everything logged so far: it waits until every line logged before the call is written, so
  // a line missing from it was not logged.
  std::string log_text();
  // Waits until `count` lines contain `needle` (the log is written on spdlog's thread).
  bool wait_for_log(const std::string& needle, std::uint64_t count = 1);
  std::uint64_t decisions(const std::string& route, const std::string& decision);
  [[nodiscard]] const std::string& log_path() const { return log_path_; }

 private:
  void start(const config::LoadResult& loaded);

  std::string log_path_;
  std::unique_ptr<app::Server> server_;
};

struct Response {
  unsigned status = 0;
  std::map<std::string, std::string, std::less<>> headers;  // lower-cased names
  std::string body;

  [[nodiscard]] std::string header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// A response as the tests compare it: header names lower-cased.
Response to_response(boost::beast::http::response<boost::beast::http::string_body>&& res);

using Headers = std::vector<std::pair<std::string, std::string>>;

class Client {
 public:
  explicit Client(std::uint16_t port);
  ~Client();

  Response request(const std::string& method, const std::string& target,
                   const Headers& headers = {}, const std::string& body = {});
  void send(const std::string& method, const std::string& target, const Headers& headers = {},
            const std::string& body = {});
  Response receive(bool head = false);
  void write_raw(const std::string& bytes);
  // Reads until the server closes the connection.
  std::string read_all();
  void close();

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

// Polls `condition` every millisecond until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

std::uint64_t count_lines_with(const std::string& text, const std::string& needle);

}  // namespace sluice::testing
