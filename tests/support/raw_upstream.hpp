#pragma once
// An upstream that misbehaves on purpose: each accepted connection runs a script of raw socket
// operations on its own thread.

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::testing {

class RawUpstream {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  // `script(socket, n)` serves the n-th connection (1-based).
  explicit RawUpstream(std::function<void(Socket&, int)> script);
  ~RawUpstream();

  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] int connections() const { return connections_.load(); }

  // Script helpers.
  static std::string read_request_head(Socket& socket);  // up to the blank line
  static void write(Socket& socket, const std::string& bytes);
  static void reset(Socket& socket);  // close with RST

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_;
  std::function<void(Socket&, int)> script_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::vector<std::shared_ptr<Socket>> sockets_;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace sluice::testing
