// libFuzzer: whole downstream sessions. Each input is written to a running sluice (in-process,
// loopback, one worker) in front of an in-process upstream; sluice must answer or close, and stay
// up for the next input. Real sockets stand in for an in-memory stream: the session is written
// against tcp_stream, and this exercises exactly the code that runs in production.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <memory>

#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace {

namespace asio = boost::asio;

struct World {
  sluice::testing::TestUpstream upstream;
  std::unique_ptr<sluice::testing::ProxyHarness> proxy;
  asio::io_context io;

  World() {
    proxy = std::make_unique<sluice::testing::ProxyHarness>(
        "version: 1\nupstream: " + upstream.url() +
        "\ntimeouts: { client_header: 200ms, client_idle: 200ms, upstream_response: 1s }\n"
        "http: { max_header_bytes: 4096, max_body_bytes: 65536 }\n"
        "routes:\n"
        "  - { name: d, match: { path_prefix: /d }, max_rate: 1000, time_period: 1s, action: "
        "delay, max_delay: 10ms }\n"
        "  - { name: r, match: { path_prefix: /r }, max_rate: 2, time_period: 1s }\n"
        "  - { name: local, match: { path: /local }, respond: { body: hi } }\n");
  }
};

World& world() {
  static World w;
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = world();
  asio::ip::tcp::socket socket(w.io);
  boost::system::error_code ec;
  // libFuzzer's timer signal can interrupt a system call; that is not sluice's doing.
  do {
    socket.close(ec);
    socket.connect({asio::ip::make_address("127.0.0.1"), w.proxy->port()}, ec);
  } while (ec == asio::error::interrupted);
  if (ec) __builtin_trap();  // sluice no longer accepts connections
  asio::write(socket, asio::buffer(data, size), ec);
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  // sluice must finish the exchange by itself (answer and close, or time out) within bounds.
  std::string response;
  char buf[4096];
  for (;;) {
    const auto n = socket.read_some(asio::buffer(buf), ec);
    response.append(buf, n);
    if (ec == asio::error::interrupted) continue;
    if (ec) break;
  }
  if (!response.empty() && response.rfind("HTTP/1.", 0) != 0) __builtin_trap();
  return 0;
}
