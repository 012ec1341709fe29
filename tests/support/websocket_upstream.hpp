#pragma once
// A real WebSocket upstream on 127.0.0.1:0 (Beast's websocket stream on a LoopbackServer):
// it echoes every message, except that a message "bye" makes it close the connection. It counts
// the connections that ended, so tests can see a close travel through sluice.

#include <atomic>
#include <mutex>
#include <string>

#include "support/loopback_server.hpp"

namespace sluice::testing {

class WebSocketUpstream {
 public:
  WebSocketUpstream() : server_([this](LoopbackServer::Socket& s, int) { serve(s); }) {}

  [[nodiscard]] std::string url() const { return server_.url(); }
  [[nodiscard]] int handshakes() const { return handshakes_.load(); }
  [[nodiscard]] int ended() const { return ended_.load(); }
  // The Upgrade header of the last handshake the upstream saw.
  [[nodiscard]] std::string last_upgrade() const;

 private:
  void serve(LoopbackServer::Socket& socket);

  mutable std::mutex mutex_;
  std::string last_upgrade_;
  std::atomic<int> handshakes_{0};
  std::atomic<int> ended_{0};
  LoopbackServer server_;  // last: its threads use the members above
};

}  // namespace sluice::testing
