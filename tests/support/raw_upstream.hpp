#pragma once
// An upstream that misbehaves on purpose: each accepted connection runs a script of raw socket
// operations (a LoopbackServer with the script as its connection handler).

#include <functional>
#include <string>

#include "support/loopback_server.hpp"

namespace sluice::testing {

class RawUpstream {
 public:
  using Socket = LoopbackServer::Socket;
  // `script(socket, n)` serves the n-th connection (1-based).
  explicit RawUpstream(std::function<void(Socket&, int)> script) : server_(std::move(script)) {}

  [[nodiscard]] std::string url() const { return server_.url(); }
  [[nodiscard]] int connections() const { return server_.connections(); }

  // Script helpers.
  static std::string read_request_head(Socket& socket);  // up to the blank line
  static void write(Socket& socket, const std::string& bytes);
  static void reset(Socket& socket);  // close with RST

 private:
  LoopbackServer server_;
};

}  // namespace sluice::testing
