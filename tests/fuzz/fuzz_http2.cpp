// libFuzzer: whole HTTP/2 connections. Each input is a sequence of frames sent after the client
// preface, into one end of an in-memory stream (a socketpair) whose other end an in-process
// sluice (one worker) serves, in front of an in-process upstream; sluice must answer with
// HTTP/2 frames or close, within bounds, and stay up for the next input. The frames go through
// libnghttp2 and every stream through the same exchange as real traffic.
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
        "  - { name: local, match: { path: /local }, respond: { body: hi } }\n"
        "http2: { max_concurrent_streams: 8, max_resets_per_second: 20 }\n");
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
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  if (::send(client, kPreface.data(), kPreface.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(kPreface.size())) {
    __builtin_trap();
  }
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
  // Whatever the frames, sluice's first frame is its SETTINGS.
  if (response.size() < 9 || response[3] != '\x04') __builtin_trap();
  return 0;
}
