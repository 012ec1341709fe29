// A client's request head kept as views of one arena: parsed from HTTP/1.x bytes by
// RequestParser, or built field by field (an HTTP/2 header block, an explain query).
#include "sluice/proxy/client_head.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sluice/proxy/request_parser.hpp"

namespace sluice::proxy {
namespace {

constexpr std::size_t kHeaderLimit = 8192;
constexpr std::uint64_t kBodyLimit = 1 << 20;

std::vector<std::string> lines(const ClientHead& head) {
  std::vector<std::string> out;
  for (const auto field : head) {
    out.push_back(std::string(field.name_string()) + ": " + std::string(field.value()));
  }
  return out;
}

// Parses `bytes` to the end of the message; `ec` is what the parser said last.
std::size_t parse(RequestParser& parser, std::string_view bytes, error_code& ec) {
  std::size_t used = 0;
  while (used < bytes.size() && !parser.is_done()) {
    if (parser.is_header_done()) {
      static char sink[64];
      parser.body() = {sink, sizeof sink};
    }
    const std::size_t n = parser.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_buffer) ec = {};
    if (ec || n == 0) break;
  }
  return used;
}

TEST(RequestParser, KeepsTheRequestLineAndFieldsAsSentInOrder) {
  RequestParser parser({.max_header_bytes = kHeaderLimit, .max_body_bytes = kBodyLimit});
  const std::string long_value(300, 'v');  // beyond the arena's inline bytes
  const std::string bytes =
      "PATCH /a/b?c=1 HTTP/1.0\r\nhost: example.com\r\nX-Long: " + long_value +
      "\r\nAccept:  */* \r\n\r\n";
  error_code ec;
  EXPECT_EQ(parse(parser, bytes, ec), bytes.size());
  ASSERT_FALSE(ec) << ec.message();
  const ClientHead& head = parser.get();
  EXPECT_EQ(head.method(), http::verb::patch);
  EXPECT_EQ(head.method_string(), "PATCH");
  EXPECT_EQ(head.target(), "/a/b?c=1");
  EXPECT_EQ(head.version(), kHttp10);
  EXPECT_EQ(lines(head), (std::vector<std::string>{"host: example.com", "X-Long: " + long_value,
                                                   "Accept: */*"}));
  EXPECT_EQ(head[http::field::host], "example.com");
  EXPECT_EQ(head["x-long"], long_value);
  EXPECT_EQ(head.count(http::field::accept), 1u);
  EXPECT_EQ(head[http::field::cookie], "");
}

TEST(RequestParser, TrailersOfAChunkedBodyStayOutOfTheHead) {
  RequestParser parser({.max_header_bytes = kHeaderLimit, .max_body_bytes = kBodyLimit});
  const std::string bytes =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n";
  error_code ec;
  EXPECT_EQ(parse(parser, bytes, ec), bytes.size());
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(lines(parser.get()),
            (std::vector<std::string>{"Host: h", "Transfer-Encoding: chunked"}));
}

TEST(ClientHead, KeepAliveAsBeastReadsIt) {
  ClientHead head;
  EXPECT_TRUE(head.keep_alive());
  head.set(http::field::connection, "foo, Close");
  EXPECT_FALSE(head.keep_alive());
  head.version(kHttp10);
  head.set(http::field::connection, "keep-alive");
  EXPECT_TRUE(head.keep_alive());
  head.erase(http::field::connection);
  EXPECT_FALSE(head.keep_alive());
}

TEST(ClientHead, SetReplacesEveryLineOfThatName) {
  ClientHead head;
  head.insert("Cookie", "a=1");
  head.insert("X-Other", "x");
  head.insert("cookie", "b=2");
  head.set(http::field::cookie, "c=3");
  EXPECT_EQ(lines(head), (std::vector<std::string>{"X-Other: x", "Cookie: c=3"}));
  head.set("x-other", "y");
  EXPECT_EQ(lines(head), (std::vector<std::string>{"Cookie: c=3", "x-other: y"}));
}

// A value that views the head itself (HTTP/2 joins cookies so) is copied before the arena grows
// and frees its old storage: ASan sees a stale read otherwise.
TEST(ClientHead, AValueViewingTheHeadSurvivesItsGrowth) {
  ClientHead head;
  head.insert("Cookie", std::string(100, 'a'));
  for (int i = 0; i < 6; ++i) {
    const std::string_view cookie = head[http::field::cookie];
    head.insert("X-Copy", cookie);
    EXPECT_EQ(head[http::field::cookie], std::string(100, 'a'));
  }
  EXPECT_EQ(head.count("x-copy"), 6u);
  for (const auto field : head) EXPECT_EQ(field.value(), std::string(100, 'a'));
  head.target(head[http::field::cookie]);
  EXPECT_EQ(head.target(), std::string(100, 'a'));
}

// A name and a value both viewing the head: the name's copy alone outgrows the arena's room.
TEST(ClientHead, ANameAndAValueViewingTheHeadSurviveItsGrowth) {
  const std::string long_text(400, 'b');
  ClientHead head;
  head.insert("X-Long", long_text);
  head.insert(head["x-long"], head["x-long"]);
  EXPECT_EQ(head.count(long_text), 1u);
  EXPECT_EQ(head[long_text], long_text);
}

}  // namespace
}  // namespace sluice::proxy
