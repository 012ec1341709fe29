#pragma once
// A real HTTP upstream on 127.0.0.1:0, one thread per connection (plain synchronous Beast), that
// records what it receives. Paths choose the answer:
//   /chunked?bytes=N   a chunked response of N deterministic bytes
//   /slow?ms=N         answers after N ms
//   anything else      200 with the request body echoed back

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int connection = 0;  // which upstream connection carried it (1-based)

  [[nodiscard]] std::string header(std::string_view name) const;
  [[nodiscard]] bool has_header(std::string_view name) const;
};

// The pattern /chunked answers with, so tests can compare byte for byte.
std::string pattern_bytes(std::size_t n);

class TestUpstream {
 public:
  TestUpstream();
  ~TestUpstream();

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::vector<ReceivedRequest> requests() const;
  [[nodiscard]] std::size_t request_count() const;
  [[nodiscard]] int connections() const { return connections_.load(); }

 private:
  void accept_loop();
  void serve(boost::asio::ip::tcp::socket& socket, int id);

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread acceptor_thread_;
  mutable std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  std::vector<std::thread> connection_threads_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
};

// A loopback port that refuses connections: bound but not listening, and held for the lifetime
// of this object, so nothing else (sluice's own listener, say) can be given it meanwhile.
class RefusingPort {
 public:
  RefusingPort();
  [[nodiscard]] std::uint16_t port() const;

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
};

}  // namespace sluice::testing
