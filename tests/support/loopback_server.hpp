#pragma once
// The one server every test upstream is built on: it listens on 127.0.0.1:0 and serves each
// accepted connection on a thread of its own with a function the upstream gives it (plain HTTP
// that records requests, a misbehaving script, a WebSocket echo, HTTPS). It stops by itself when
// destroyed: it stops accepting and joins the connection threads, which end when their peer,
// sluice (destroyed first in every test), closes its connections.

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::testing {

class LoopbackServer {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  // `serve(socket, n)` serves the n-th connection (1-based). An exception it throws ends that
  // connection only: the peer going away mid-conversation is what some tests provoke.
  using Serve = std::function<void(Socket&, int)>;

  explicit LoopbackServer(Serve serve);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::string url(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_);
  }
  [[nodiscard]] int connections() const noexcept { return connections_.load(); }

 private:
  void accept_loop();

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_;
  Serve serve_;
  std::mutex mutex_;
  std::vector<std::thread> connection_threads_;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_thread_;  // last: started once everything it uses exists
};

}  // namespace sluice::testing
