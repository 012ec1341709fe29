#pragma once
// A real WebSocket upstream on 127.0.0.1:0 (Beast's websocket stream, a thread per connection):
// it echoes every message, except that a message "bye" makes it close the connection. It counts
// the connections that ended, so tests can see a close travel through sluice.

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::testing {

class WebSocketUpstream {
 public:
  WebSocketUpstream();
  ~WebSocketUpstream();

  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] int handshakes() const { return handshakes_.load(); }
  [[nodiscard]] int ended() const { return ended_.load(); }
  // The Upgrade header of the last handshake the upstream saw.
  [[nodiscard]] std::string last_upgrade() const;

 private:
  void accept_loop();
  void serve(boost::asio::ip::tcp::socket& socket);

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread acceptor_thread_;
  mutable std::mutex mutex_;
  std::string last_upgrade_;
  std::vector<std::thread> threads_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;
  std::atomic<int> handshakes_{0};
  std::atomic<int> ended_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace sluice::testing
