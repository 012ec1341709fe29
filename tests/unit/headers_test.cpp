// The header rules of a forwarding proxy (RFC 9110 §7.6.1) as the request and response heads
// apply them: hop-by-hop fields stay on their hop, the forwarding fields are sluice's.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sluice/proxy/request_head.hpp"
#include "sluice/proxy/response_head.hpp"
#include "sluice/proxy/wire.hpp"

namespace sluice::proxy {
namespace {

// The fields of a Beast header as views, as the heads take them.
HeadFields fields_of(const http::fields& fields) {
  HeadFields out;
  for (const auto& f : fields) out.push_back({f.name(), view(f.name_string()), view(f.value())});
  return out;
}

// The names left after drop_hop_by_hop, in order.
std::vector<std::string> kept(const http::fields& fields) {
  HeadFields head = fields_of(fields);
  drop_hop_by_hop(head);
  std::vector<std::string> names;
  for (const HeadField& f : head) names.emplace_back(f.name_text);
  return names;
}

TEST(DropHopByHop, RemovesTheFixedHopByHopFields) {
  http::fields fields;
  for (const char* name : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
                           "Upgrade", "Proxy-Authorization", "Proxy-Authenticate"}) {
    fields.insert(name, "x");
  }
  fields.insert("Accept", "*/*");
  EXPECT_EQ(kept(fields), std::vector<std::string>{"Accept"});
}

TEST(DropHopByHop, RemovesWhatConnectionNamesWhereverItStandsAndHoweverItIsSpelled) {
  http::fields fields;
  fields.insert("X-Before", "1");  // named by a Connection line that comes later
  fields.insert("Accept", "*/*");
  fields.insert("Connection", "keep-alive, x-before");
  fields.insert("x-AFTER", "2");
  fields.insert("Connection", "X-After");      // a second line adds to the list
  fields.insert("Cache-Control", "no-cache");  // a known field named by a token: dropped too
  fields.insert("Connection", "cache-control");
  EXPECT_EQ(kept(fields), std::vector<std::string>{"Accept"});
}

TEST(DropHopByHop, KeepsFramingFieldsEvenWhenConnectionNamesThem) {
  http::fields fields;
  fields.insert("Content-Length", "5");
  fields.insert("Transfer-Encoding", "chunked");
  fields.insert("Connection", "Content-Length, transfer-encoding");
  EXPECT_EQ(kept(fields), (std::vector<std::string>{"Content-Length", "Transfer-Encoding"}));
}

TEST(DropHopByHop, LeavesEndToEndFieldsInTheirOrder) {
  http::fields fields;
  fields.insert("Accept", "a");
  fields.insert("X-One", "1");
  fields.insert("Set-Cookie", "a=1");
  fields.insert("Set-Cookie", "b=2");
  EXPECT_EQ(kept(fields),
            (std::vector<std::string>{"Accept", "X-One", "Set-Cookie", "Set-Cookie"}));
}

ClientHead request_with(std::initializer_list<std::pair<const char*, const char*>> f) {
  ClientHead request;
  request.method_string("POST");
  request.target("/orders?x=1");
  request.version(kHttp11);
  for (const auto& [name, value] : f) request.insert(name, value);
  return request;
}

std::string http1_head(const UpstreamRequestHead& head, Http1RequestFraming framing = {}) {
  std::string out;
  write_head(head, framing, out);
  return out;
}

TEST(UpstreamRequestHead, CombinesEveryViaAndForwardedForLineWithThisHopLast) {
  const auto request = request_with({{"Host", "example.com"},
                                     {"Via", "1.0 a"},
                                     {"X-Forwarded-For", "10.0.0.1"},
                                     {"Via", "1.1 b"},
                                     {"X-Forwarded-For", "10.0.0.2, 10.0.0.3"},
                                     {"X-Forwarded-Proto", "gopher"},
                                     {"X-Request-Id", "forged"}});
  const UpstreamRequestHead head(
      request,
      {.peer = "127.0.0.1", .version = kHttp10, .tls = true, .request_id = "r1", .authority = {}});
  EXPECT_EQ(
      http1_head(head),
      "POST /orders?x=1 HTTP/1.1\r\nHost: example.com\r\n"
      "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1\r\n"
      "X-Forwarded-Proto: https\r\nVia: 1.0 a, 1.1 b, 1.0 sluice\r\nX-Request-Id: r1\r\n\r\n");
}

TEST(UpstreamRequestHead, DropsHopByHopAndExpectAndGivesTheUpstreamItsHostWhenAsked) {
  const auto request = request_with({{"host", "client.example"},
                                     {"Expect", "100-continue"},
                                     {"Connection", "keep-alive, X-Secret"},
                                     {"X-Secret", "s"},
                                     {"Content-Length", "05"},
                                     {"Accept", "*/*"}});
  UpstreamRequestHead head(request, {.peer = {},
                                     .version = kHttp11,
                                     .tls = false,
                                     .request_id = "r2",
                                     .authority = "api.internal:8443"});
  head.set_content_length(5);
  EXPECT_EQ(http1_head(head, {.chunked = false, .upgrade = "websocket"}),
            "POST /orders?x=1 HTTP/1.1\r\nhost: api.internal:8443\r\nAccept: */*\r\n"
            "X-Forwarded-Proto: http\r\nVia: 1.1 sluice\r\nX-Request-Id: r2\r\n"
            "Content-Length: 5\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
}

TEST(UpstreamRequestHead, AsHttp2HeadersHostBecomesTheAuthorityAndTrailersAreAskedFor) {
  const auto request = request_with(
      {{"Host", "example.com"}, {"TE", "trailers"}, {"Content-Type", "application/grpc"}});
  const UpstreamRequestHead head(
      request,
      {.peer = "::1", .version = kHttp2, .tls = false, .request_id = "r3", .authority = {}});
  const auto headers = http2_request_headers(head, true);
  std::vector<std::string> lines;
  for (const auto& [name, value] : headers) lines.push_back(name + ": " + value);
  EXPECT_EQ(lines,
            (std::vector<std::string>{":method: POST", ":scheme: https", ":authority: example.com",
                                      ":path: /orders?x=1", "content-type: application/grpc",
                                      "x-forwarded-for: ::1", "x-forwarded-proto: http",
                                      "via: 2 sluice", "x-request-id: r3", "te: trailers"}));
}

}  // namespace
}  // namespace sluice::proxy
