// An upstream's response head, parsed without Beast's field tree, passed on under the rules of a
// forwarding proxy and written for HTTP/1.x clients.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sluice/proxy/exchange.hpp"
#include "sluice/proxy/response_head.hpp"
#include "sluice/proxy/upstream_response.hpp"
#include "sluice/proxy/wire.hpp"

namespace sluice::proxy {
namespace {

constexpr std::size_t kHeaderLimit = 8192;

// Feeds `bytes` to the parser as Beast's reads do: the unconsumed rest is offered again.
std::size_t feed(UpstreamResponseParser& parser, std::string_view bytes, error_code& ec) {
  std::size_t used = 0;
  while (used < bytes.size() && !parser.is_done()) {
    const std::size_t n = parser.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec || n == 0) break;
  }
  return used;
}

std::string written(const ResponseHead& head, const Http1Framing& framing) {
  std::string out;
  write_head(head, framing, out);
  return out;
}

Http1Framing framing(unsigned version, bool keep_alive,
                     Http1Framing::Body body = Http1Framing::Body::as_sent) {
  return {.version = version, .keep_alive = keep_alive, .body = body, .upgrade = {}};
}

Exchange exchange_with(std::string ratelimit) {
  Exchange ex;
  ex.request_id = "ours";
  ex.ratelimit = std::move(ratelimit);
  ex.policy_header = "\"api\";q=10;w=1";
  return ex;
}

TEST(UpstreamResponseParser, ReadsStatusReasonAndFieldsInOrder) {
  UpstreamResponseParser parser(kHeaderLimit, false);
  error_code ec;
  feed(parser, "HTTP/1.1 201 Made It\r\nServer: up\r\nx-custom:  a b \r\nContent-Length: 0\r\n\r\n",
       ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.is_done());
  EXPECT_EQ(parser.status(), 201u);
  EXPECT_EQ(parser.version(), kHttp11);
  ResponseHead head;
  parser.head(head);
  EXPECT_EQ(head.reason, "Made It");
  ASSERT_EQ(head.fields.size(), 3u);
  EXPECT_EQ(head.fields[0].name, http::field::server);
  EXPECT_EQ(head.fields[1].name_text, "x-custom");
  EXPECT_EQ(head.fields[1].value, "a b");
  EXPECT_EQ(parser.first(http::field::content_length), "0");
}

TEST(UpstreamResponseParser, FillsTheBodyPiecePieceByPieceAndKeepsTrailersApart) {
  UpstreamResponseParser parser(kHeaderLimit, false);
  const std::string_view bytes =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\nabcdef\r\n0\r\ngrpc-status: 0\r\nX-Trace: t\r\n\r\n";
  error_code ec;
  std::size_t used = feed(parser, bytes, ec);
  ASSERT_TRUE(parser.is_header_done());
  ASSERT_TRUE(parser.chunked());
  std::string body;
  while (!parser.is_done()) {
    char piece[4];
    parser.body() = {.data = piece, .size = sizeof piece};
    ec = {};
    used += parser.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    ASSERT_TRUE(!ec || ec == http::error::need_buffer) << ec.message();
    body.append(piece, sizeof piece - parser.body().size);
  }
  EXPECT_EQ(body, "abcdef");
  ResponseHead head;
  parser.head(head);
  EXPECT_EQ(head.fields.size(), 1u);  // the trailers are not the head's
  std::vector<std::string> trailers;
  parser.for_each_trailer([&trailers](const HeadField& f) {
    trailers.push_back(std::string(f.name_text) + "=" + std::string(f.value));
  });
  EXPECT_EQ(trailers, (std::vector<std::string>{"grpc-status=0", "X-Trace=t"}));
}

TEST(UpstreamResponseParser, WithoutAPieceTheBodyWaits) {
  UpstreamResponseParser parser(kHeaderLimit, false);
  error_code ec;
  const std::string_view bytes = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
  const std::size_t used = feed(parser, bytes, ec);
  EXPECT_EQ(ec, http::error::need_buffer);
  EXPECT_EQ(used, bytes.size() - 3);
}

TEST(ResponseHeadForwardRules, DropHopByHopFieldsAndThoseConnectionNames) {
  UpstreamResponseParser parser(kHeaderLimit, false);
  error_code ec;
  feed(parser,
       "HTTP/1.1 200 OK\r\nX-Hop: 1\r\nConnection: keep-alive, x-hop, Content-Length\r\n"
       "Keep-Alive: timeout=5\r\nContent-Length: 0\r\nTrailer: x\r\nX-Kept: k\r\n\r\n",
       ec);
  ResponseHead head;
  parser.head(head);
  head.forward_rules(kHttp11, exchange_with(""));
  std::vector<std::string> names;
  for (const HeadField& f : head.fields) names.emplace_back(f.name_text);
  EXPECT_EQ(names, (std::vector<std::string>{"Content-Length", "X-Kept", "Via", "X-Request-Id"}));
}

TEST(ResponseHeadForwardRules, OneViaLineThisHopLastAndSluicesOwnIdAndLimits) {
  UpstreamResponseParser parser(kHeaderLimit, false);
  error_code ec;
  feed(parser,
       "HTTP/1.0 200 OK\r\nVia: 1.0 a\r\nX-Request-Id: theirs\r\nratelimit: r=1\r\n"
       "Via: 1.1 b\r\nRateLimit-Policy: p\r\nContent-Length: 0\r\n\r\n",
       ec);
  ResponseHead head;
  parser.head(head);
  const Exchange ex = exchange_with("\"api\";r=9;t=1");
  head.forward_rules(parser.version(), ex);
  EXPECT_EQ(head.first(http::field::via), "1.0 a, 1.1 b, 1.0 sluice");
  std::vector<std::string> lines;
  for (const HeadField& f : head.fields) {
    lines.push_back(std::string(f.name_text) + ": " + std::string(f.value));
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"Content-Length: 0", "Via: 1.0 a, 1.1 b, 1.0 sluice",
                                             "RateLimit-Policy: \"api\";q=10;w=1",
                                             "RateLimit: \"api\";r=9;t=1", "X-Request-Id: ours"}));
}

TEST(ResponseHeadForwardRules, AnUnlimitedRouteLeavesTheUpstreamsRateLimitFields) {
  ResponseHead head;
  head.status = 200;
  head.add(http::field::unknown, "RateLimit", "theirs");
  head.forward_rules(kHttp11, exchange_with(""));
  EXPECT_EQ(head.fields.front().value, "theirs");
}

TEST(WriteResponseHead, StatusLineReasonAndKeepAliveByVersion) {
  ResponseHead head;
  head.status = 404;
  head.add(http::field::content_length, "0");
  EXPECT_EQ(written(head, framing(kHttp11, true)),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(written(head, framing(kHttp11, false)),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(written(head, framing(kHttp10, true)),
            "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
  head.reason = "Gone Fishing";
  EXPECT_EQ(written(head, framing(kHttp10, false)),
            "HTTP/1.0 404 Gone Fishing\r\nContent-Length: 0\r\n\r\n");
}

TEST(WriteResponseHead, ReframesACloseDelimitedBody) {
  ResponseHead head;
  head.status = 200;
  EXPECT_EQ(written(head, framing(kHttp11, true, Http1Framing::Body::chunked)),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  head.add(http::field::transfer_encoding, "gzip");
  EXPECT_EQ(written(head, framing(kHttp11, true, Http1Framing::Body::chunked)),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  EXPECT_EQ(written(head, framing(kHttp10, false, Http1Framing::Body::close_delimited)),
            "HTTP/1.0 200 OK\r\n\r\n");
}

TEST(WriteResponseHead, ASwitchNamesItsProtocol) {
  ResponseHead head;
  head.status = 101;
  EXPECT_EQ(
      written(head, {.version = kHttp11,
                     .keep_alive = true,
                     .body = Http1Framing::Body::as_sent,
                     .upgrade = "websocket"}),
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
}

TEST(WriteHead, ALocalAnswerAsBeastHoldsIt) {
  std::string out = "left over from the last response";
  http::response_header<> response;
  response.result(429);
  response.version(kHttp10);
  response.insert("Retry-After", "1");
  write_head(response, out);
  EXPECT_EQ(out, "HTTP/1.0 429 Too Many Requests\r\nRetry-After: 1\r\n\r\n");
}

}  // namespace
}  // namespace sluice::proxy
