// Upgraded connections (README, "WebSocket and other upgrades") end to end: a real WebSocket
// upstream, a real WebSocket client, sluice between them.
#include <gtest/gtest.h>

#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <thread>

#include "support/configs.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"
#include "support/websocket_upstream.hpp"

namespace sluice::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

std::string ws_config(const std::string& upstream_url, const std::string& extra = "") {
  return "version: 1\nupstream: " + upstream_url + "\n" + extra + R"(routes:
  - { name: ws, match: { path_prefix: /ws }, key: global, max_rate: 1, time_period: 60s }
)";
}

class WsClient {
 public:
  // Connects and performs the handshake; the response is kept whatever its status.
  explicit WsClient(std::uint16_t port, const std::string& target = "/ws") {
    ws_.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    ws_.read_message_max(8 * 1024 * 1024);
    ws_.handshake(response_, "localhost", target, handshake_error_);
  }
  [[nodiscard]] unsigned status() const { return response_.result_int(); }
  [[nodiscard]] const websocket::response_type& response() const { return response_; }
  [[nodiscard]] bool open() const { return !handshake_error_; }

  std::string echo(const std::string& message, bool binary = false) {
    ws_.binary(binary);
    ws_.write(asio::buffer(message));
    beast::flat_buffer buffer;
    ws_.read(buffer);
    return beast::buffers_to_string(buffer.data());
  }
  void send(const std::string& message) { ws_.write(asio::buffer(message)); }
  // Reads until the connection ends; the error it ended with.
  boost::system::error_code read_until_closed() {
    for (;;) {
      beast::flat_buffer buffer;
      boost::system::error_code ec;
      ws_.read(buffer, ec);
      if (ec) return ec;
    }
  }
  void drop() {
    boost::system::error_code ec;
    ws_.next_layer().close(ec);
  }

 private:
  asio::io_context io_;
  websocket::stream<tcp::socket> ws_{io_};
  websocket::response_type response_;
  boost::system::error_code handshake_error_;
};

std::int64_t open_tunnels(ProxyHarness& proxy) {
  return proxy.server().metrics().gauge(observe::Family::tunnels, {{"route", "ws"}}).load();
}

TEST(WebSocket, SmallAndOneMegabyteMessagesEchoThroughATunnel) {
  WebSocketUpstream upstream;
  ProxyHarness proxy(ws_config(upstream.url()));
  {
    WsClient client(proxy.port());
    ASSERT_TRUE(client.open());
    EXPECT_EQ(client.status(), 101u);
    EXPECT_EQ(client.response()["RateLimit-Policy"], "\"ws\";q=1;w=60");
    EXPECT_FALSE(client.response()["X-Request-Id"].empty());
    EXPECT_EQ(client.echo("hello"), "hello");
    std::string big(1024 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 251);
    EXPECT_EQ(client.echo(big, true), big);
    EXPECT_EQ(client.echo("again"), "again");
    EXPECT_EQ(open_tunnels(proxy), 1);
  }
  EXPECT_TRUE(wait_until([&] { return open_tunnels(proxy) == 0; }));
  EXPECT_EQ(upstream.last_upgrade(), "websocket");
}

TEST(WebSocket, HandshakesAreLimitedLikeAnyRequest) {
  WebSocketUpstream upstream;
  ProxyHarness proxy(ws_config(upstream.url()));
  WsClient first(proxy.port());
  EXPECT_EQ(first.status(), 101u);
  WsClient second(proxy.port());
  EXPECT_FALSE(second.open());
  EXPECT_EQ(second.status(), 429u);
  EXPECT_FALSE(second.response()["Retry-After"].empty());
  EXPECT_EQ(upstream.handshakes(), 1);
  EXPECT_EQ(first.echo("still open"), "still open");
}

TEST(WebSocket, AnAnswerOtherThan101IsRelayedAsAResponse) {
  TestUpstream upstream;  // plain HTTP: answers the handshake with a 200
  ProxyHarness proxy(ws_config(upstream.url()));
  Client client(proxy.port());
  const Response r =
      client.request("GET", "/ws", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}});
  EXPECT_EQ(r.status, 200u);
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests()[0].header("Upgrade"), "websocket");
  EXPECT_EQ(upstream.requests()[0].header("Connection"), "Upgrade");
  // The connection stays HTTP: a second request is served (and limited) on it.
  EXPECT_EQ(client.request("GET", "/ws").status, 429u);
}

TEST(WebSocket, H2cUpgradesAreNotForwarded) {
  TestUpstream upstream;
  ProxyHarness proxy(ws_config(upstream.url()));
  Client client(proxy.port());
  const Response r = client.request("GET", "/other",
                                    {{"Connection", "Upgrade, HTTP2-Settings"},
                                     {"Upgrade", "h2c"},
                                     {"HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"}});
  EXPECT_EQ(r.status, 200u);
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_FALSE(upstream.requests()[0].has_header("Upgrade"));
  EXPECT_FALSE(upstream.requests()[0].has_header("HTTP2-Settings"));
}

TEST(WebSocket, ATunnelWithNothingMovingIsClosedAfterTunnelIdle) {
  WebSocketUpstream upstream;
  ProxyHarness proxy(ws_config(upstream.url(), "timeouts: { tunnel_idle: 300ms }\n"));
  WsClient client(proxy.port());
  ASSERT_TRUE(client.open());
  EXPECT_EQ(client.echo("ping"), "ping");
  const auto started = SteadyClock::now();
  EXPECT_TRUE(client.read_until_closed());
  const double waited = std::chrono::duration<double>(SteadyClock::now() - started).count();
  EXPECT_GE(waited, 0.25);
  EXPECT_LT(waited, 5.0);
  EXPECT_TRUE(wait_until([&] { return upstream.ended() == 1; }));
  EXPECT_TRUE(wait_until([&] { return open_tunnels(proxy) == 0; }));
}

TEST(WebSocket, AClientThatLeavesClosesTheUpstreamSide) {
  WebSocketUpstream upstream;
  ProxyHarness proxy(ws_config(upstream.url()));
  WsClient client(proxy.port());
  ASSERT_TRUE(client.open());
  EXPECT_EQ(client.echo("x"), "x");
  client.drop();
  EXPECT_TRUE(wait_until([&] { return upstream.ended() == 1; }));
  EXPECT_TRUE(wait_until([&] { return open_tunnels(proxy) == 0; }));
}

TEST(WebSocket, AnUpstreamThatClosesClosesTheClientSide) {
  WebSocketUpstream upstream;
  ProxyHarness proxy(ws_config(upstream.url()));
  WsClient client(proxy.port());
  ASSERT_TRUE(client.open());
  client.send("bye");
  // The upstream's close frame arrives through the tunnel, then the connection ends.
  EXPECT_EQ(client.read_until_closed(), websocket::error::closed);
  EXPECT_TRUE(wait_until([&] { return open_tunnels(proxy) == 0; }));
}

TEST(WebSocket, OpenTunnelsAreClosedAtTheEndOfShutdownGrace) {
  WebSocketUpstream upstream;
  ProxyHarness proxy(ws_config(upstream.url(), "timeouts: { shutdown_grace: 500ms }\n"));
  WsClient client(proxy.port());
  ASSERT_TRUE(client.open());
  const auto started = SteadyClock::now();
  std::thread stopping([&] { proxy.server().shutdown(); });
  EXPECT_EQ(client.echo("during the drain"), "during the drain");
  EXPECT_TRUE(client.read_until_closed());
  const double waited = std::chrono::duration<double>(SteadyClock::now() - started).count();
  stopping.join();
  EXPECT_GE(waited, 0.4);
  EXPECT_LT(waited, 5.0);
}

}  // namespace
}  // namespace sluice::testing
