// Upstreams that fail: 502/504 while nothing was sent, a closed client connection after that.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/proxy_harness.hpp"
#include "support/raw_upstream.hpp"

namespace sluice::testing {
namespace {

using Socket = RawUpstream::Socket;

std::string config_for(const RawUpstream& upstream) {
  return "version: 1\nupstream: " + upstream.url() +
         "\ntimeouts: { upstream_response: 500ms }\nhttp: { max_header_bytes: 4096 }\n";
}

unsigned status_through(const RawUpstream& upstream) {
  ProxyHarness proxy(config_for(upstream));
  Client client(proxy.port());
  return client.request("GET", "/").status;
}

TEST(BrokenUpstream, ResetBeforeHeadersIs502) {
  RawUpstream upstream([](Socket& s, int) {
    RawUpstream::read_request_head(s);
    RawUpstream::reset(s);
  });
  EXPECT_EQ(status_through(upstream), 502u);
}

TEST(BrokenUpstream, GarbageStatusLineIs502) {
  RawUpstream upstream([](Socket& s, int) {
    RawUpstream::read_request_head(s);
    RawUpstream::write(s, "HTTP/1.1 twohundred OK\r\n\r\n");
  });
  EXPECT_EQ(status_through(upstream), 502u);
}

TEST(BrokenUpstream, OversizedResponseHeadersAre502) {
  RawUpstream upstream([](Socket& s, int) {
    RawUpstream::read_request_head(s);
    RawUpstream::write(s, "HTTP/1.1 200 OK\r\nX-Big: " + std::string(8000, 'x') + "\r\n\r\n");
  });
  EXPECT_EQ(status_through(upstream), 502u);
}

TEST(BrokenUpstream, DripFedResponseHeadIs504) {
  RawUpstream upstream([](Socket& s, int) {
    RawUpstream::read_request_head(s);
    for (char c : std::string("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) {
      RawUpstream::write(s, std::string(1, c));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the upstream's pace
    }
  });
  EXPECT_EQ(status_through(upstream), 504u);
}

TEST(BrokenUpstream, ResetMidBodyClosesTheClientWithATruncatedBody) {
  RawUpstream upstream([](Socket& s, int) {
    RawUpstream::read_request_head(s);
    RawUpstream::write(
        s, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'b'));
    RawUpstream::reset(s);
  });
  ProxyHarness proxy(config_for(upstream));
  Client client(proxy.port());
  client.send("GET", "/");
  // The head and the 1000 bytes arrive, then the connection closes: never a complete message.
  EXPECT_THROW(client.receive(), std::exception);
}

TEST(BrokenUpstream, StalePooledConnectionIsRetriedOnAFreshOne) {
  RawUpstream upstream([](Socket& s, int n) {
    RawUpstream::read_request_head(s);
    RawUpstream::write(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    if (n == 1) {
      // Keep-alive promised, but the connection dies as the next request arrives.
      RawUpstream::read_request_head(s);
      s.close();
      return;
    }
    for (;;) {
      RawUpstream::read_request_head(s);
      RawUpstream::write(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
  });
  ProxyHarness proxy(config_for(upstream));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/1").status, 200u);
  EXPECT_EQ(client.request("GET", "/2").status, 200u);
  EXPECT_EQ(upstream.connections(), 2);
  EXPECT_EQ(client.request("GET", "/3").status, 200u);
}

TEST(BrokenUpstream, PooledConnectionClosedWhileIdleIsNotUsedForARequestThatCannotBeRetried) {
  std::atomic<bool> first_closed{false};
  RawUpstream upstream([&](Socket& s, int n) {
    RawUpstream::read_request_head(s);
    RawUpstream::write(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    if (n == 1) {
      s.close();  // keep-alive promised, then the upstream closes the idle connection
      first_closed = true;
    }
  });
  ProxyHarness proxy(config_for(upstream));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/").status, 200u);
  ASSERT_TRUE(wait_until([&] { return first_closed.load(); }));
  // A POST is not retried on failure, so it must not be sent on the closed connection at all.
  EXPECT_EQ(client.request("POST", "/submit", {}, "data").status, 200u);
  EXPECT_EQ(upstream.connections(), 2);
}

}  // namespace
}  // namespace sluice::testing
