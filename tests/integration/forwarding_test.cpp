// sluice in front of a real upstream: what arrives is what was sent.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {
namespace {

std::string config_for(const TestUpstream& upstream, const std::string& extra = "") {
  return "version: 1\nupstream: " + upstream.url() + "\n" + extra;
}

TEST(Forwarding, RequestArrivesIntactWithForwardingHeaders) {
  TestUpstream upstream;
  ProxyHarness proxy(config_for(upstream));
  Client client(proxy.port());
  const Response res = client.request(
      "PATCH", "/a/b%20c?x=1&y=two",
      {{"X-Custom", "kept"}, {"X-Drop-Me", "hop"}, {"Connection", "keep-alive, X-Drop-Me"}},
      "payload");
  EXPECT_EQ(res.status, 200u);
  EXPECT_EQ(res.body, "payload");
  EXPECT_NE(res.header("via").find("1.1 sluice"), std::string::npos);
  ASSERT_EQ(upstream.request_count(), 1u);
  const ReceivedRequest got = upstream.requests()[0];
  EXPECT_EQ(got.method, "PATCH");
  EXPECT_EQ(got.target, "/a/b%20c?x=1&y=two");
  EXPECT_EQ(got.header("X-Custom"), "kept");
  EXPECT_EQ(got.header("Host"), "localhost");
  EXPECT_FALSE(got.has_header("X-Drop-Me"));
  EXPECT_EQ(got.header("X-Forwarded-For"), "127.0.0.1");
  EXPECT_EQ(got.header("X-Forwarded-Proto"), "http");
  EXPECT_EQ(got.header("Via"), "1.1 sluice");
  EXPECT_FALSE(got.header("X-Request-Id").empty());
}

TEST(Forwarding, FiveMegabyteBodiesStreamBothWays) {
  TestUpstream upstream;
  ProxyHarness proxy(config_for(upstream));
  Client client(proxy.port());
  const std::string body = pattern_bytes(5 * 1024 * 1024);
  const Response echoed = client.request("POST", "/upload", {}, body);
  EXPECT_EQ(echoed.status, 200u);
  EXPECT_TRUE(echoed.body == body) << "echoed body differs";
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_TRUE(upstream.requests()[0].body == body) << "upstream saw a different body";

  const Response chunked = client.request("GET", "/chunked?bytes=5242880");
  EXPECT_EQ(chunked.status, 200u);
  EXPECT_EQ(chunked.header("transfer-encoding"), "chunked");
  EXPECT_TRUE(chunked.body == pattern_bytes(5242880)) << "chunked response differs";
}

TEST(Forwarding, ChunkedRequestBodyIsForwarded) {
  TestUpstream upstream;
  ProxyHarness proxy(config_for(upstream));
  Client client(proxy.port());
  client.write_raw(
      "POST /chunky HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  const Response res = client.receive();
  EXPECT_EQ(res.status, 200u);
  EXPECT_EQ(res.body, "hello world");
}

TEST(Forwarding, HeadAndEmptyResponsesKeepTheConnectionUsable) {
  TestUpstream upstream;
  ProxyHarness proxy(config_for(upstream));
  Client client(proxy.port());
  const Response head = client.request("HEAD", "/chunked?bytes=100");
  EXPECT_EQ(head.status, 200u);
  EXPECT_TRUE(head.body.empty());
  const Response after = client.request("POST", "/next", {}, "still here");
  EXPECT_EQ(after.body, "still here");
}

TEST(Forwarding, SequentialRequestsReuseUpstreamConnections) {
  TestUpstream upstream;
  ProxyHarness proxy(config_for(upstream));
  Client client(proxy.port());
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(client.request("GET", "/r/" + std::to_string(i)).status, 200u);
  }
  EXPECT_EQ(upstream.request_count(), 20u);
  EXPECT_LE(upstream.connections(), 2);
}

TEST(Forwarding, UnreachableUpstreamIs502) {
  const RefusingPort refusing;  // a port freed at once could become sluice's own listener
  ProxyHarness proxy("version: 1\nupstream: http://127.0.0.1:" + std::to_string(refusing.port()) +
                     "\n");
  Client client(proxy.port());
  const Response res = client.request("GET", "/x");
  EXPECT_EQ(res.status, 502u);
  EXPECT_EQ(res.header("content-type"), "application/problem+json");
}

TEST(Forwarding, SlowUpstreamIs504) {
  TestUpstream upstream;
  ProxyHarness proxy(config_for(upstream, "timeouts: { upstream_response: 200ms }\n"));
  Client client(proxy.port());
  const Response res = client.request("GET", "/slow?ms=1500");
  EXPECT_EQ(res.status, 504u);
}

TEST(Forwarding, RespondRouteAnswersWithoutUpstream) {
  ProxyHarness proxy(
      "version: 1\nroutes:\n  - name: hello\n    match: { path: /hello }\n"
      "    respond: { status: 201, body: \"hi\\n\" }\n");
  Client client(proxy.port());
  const Response res = client.request("GET", "/hello");
  EXPECT_EQ(res.status, 201u);
  EXPECT_EQ(res.body, "hi\n");
  EXPECT_EQ(client.request("GET", "/other").status, 404u);
}

TEST(Forwarding, AdoptedConnectionIsServedLikeAnAcceptedOne) {
  TestUpstream upstream;
  ProxyHarness proxy(config_for(upstream));
  int ends[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
  proxy.server().adopt(ends[1]);
  const std::string request = "GET /adopted HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(ends[0], request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = ::read(ends[0], buf, sizeof buf)) > 0;) response.append(buf, n);
  ::close(ends[0]);
  EXPECT_EQ(response.substr(0, response.find("\r\n")), "HTTP/1.1 200 OK");
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests()[0].target, "/adopted");
}

}  // namespace
}  // namespace sluice::testing
