// libFuzzer: whole downstream sessions. Each input is written into one end of an in-memory
// stream (a socketpair) whose other end an in-process sluice (one worker) serves as a client
// connection, in front of an in-process fake upstream; sluice must answer or close, and stay up
// for the next input. No ports and no TCP on the client side: only the session's code.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace {

struct World {
  sluice::testing::TestUpstream upstream;
  std::unique_ptr<sluice::testing::ProxyHarness> proxy;

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
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) __builtin_trap();
  const int client = ends[0];
  w.proxy->server().adopt(ends[1]);
  // libFuzzer's timer signal can interrupt a system call (EINTR): that is not sluice's doing.
  for (std::size_t sent = 0; sent < size;) {
    const auto n = ::send(client, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // sluice closed early (it answered a bad head at once)
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(client, SHUT_WR);
  // sluice must finish the exchange by itself (answer and close, or time out) within bounds.
  std::string response;
  char buf[4096];
  for (;;) {
    const auto n = ::read(client, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(client);
  // HTTP/1.x answers, or HTTP/2 frames (a SETTINGS frame first) after the client preface.
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\n";
  const bool http2 =
      std::string_view(reinterpret_cast<const char*>(data), size).starts_with(kPreface);
  if (!response.empty() && !http2 && response.rfind("HTTP/1.", 0) != 0) __builtin_trap();
  if (!response.empty() && http2 && (response.size() < 9 || response[3] != '\x04'))
    __builtin_trap();
  return 0;
}
