#pragma once
// A real HTTP upstream on 127.0.0.1:0 (plain synchronous Beast on a LoopbackServer) that
// records what it receives. Paths choose the answer:
//   /chunked?bytes=N   a chunked response of N deterministic bytes
//   /slow?ms=N         answers after N ms
//   anything else      200 with the request body echoed back

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/loopback_server.hpp"

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
  TestUpstream() : server_([this](LoopbackServer::Socket& s, int id) { serve(s, id); }) {}

  [[nodiscard]] std::uint16_t port() const { return server_.port(); }
  [[nodiscard]] std::string url() const { return server_.url(); }
  [[nodiscard]] std::vector<ReceivedRequest> requests() const;
  [[nodiscard]] std::size_t request_count() const;
  [[nodiscard]] int connections() const { return server_.connections(); }

 private:
  void serve(LoopbackServer::Socket& socket, int id);

  mutable std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  LoopbackServer server_;  // last: its threads use the members above
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
