// relay(): a parsed head plus a streamed body, re-framed, over in-memory streams that read and
// write 3 bytes at a time (Beast's relay test, made asynchronous).
#include "sluice/proxy/relay.hpp"

#include <gtest/gtest.h>

#include <boost/beast/_experimental/test/stream.hpp>

#include "sluice/proxy/request_parser.hpp"
#include "sluice/proxy/upstream_response.hpp"

namespace sluice::proxy {
namespace {

using TestStream = beast::test::stream;

struct Relayed {
  RelayResult result;
  std::string wire;  // what the far side received
  unsigned arms = 0;
};

// Parses the head of `input`, writes it out again and relays the body with `framing`, through a
// piece of `piece_size` bytes.
template <bool isRequest>
Relayed relay_message(const std::string& input, Framing framing, std::size_t piece_size = 5,
                      bool skip_body = false) {
  asio::io_context io;
  TestStream in(io);
  TestStream out(io);
  TestStream far_side(io);
  out.connect(far_side);
  in.append(input);
  in.close_remote();  // after the input, the peer is gone (end of stream)
  in.read_size(3);
  out.write_size(3);
  Relayed relayed;
  asio::co_spawn(
      io,
      [&]() -> Task<> {
        beast::flat_buffer buffer;
        constexpr std::size_t kHeaderLimit = 8192;
        auto parser = [&] {
          if constexpr (isRequest) {
            return RequestParser({.max_header_bytes = kHeaderLimit, .max_body_bytes = 1 << 20});
          } else {
            return UpstreamResponseParser(kHeaderLimit, skip_body);
          }
        }();
        auto [ec, n] = co_await http::async_read_header(in, buffer, parser, use_tuple);
        EXPECT_FALSE(ec) << ec.message();
        // The head goes out as it came, chunked when the test asks for a chunked relay.
        std::string head = input.substr(0, input.find("\r\n\r\n") + 2);
        if (framing == Framing::chunked && !parser.chunked())
          head += "Transfer-Encoding: chunked\r\n";
        head += "\r\n";
        std::vector<char> piece(piece_size);
        relayed.result = co_await relay(in, buffer, parser, out,
                                        {.head = head,
                                         .framing = framing,
                                         .piece = std::span(piece),
                                         .read_timeout = kNanosPerSecond,
                                         .write_timeout = kNanosPerSecond},
                                        [&](Nanos) { ++relayed.arms; });
      },
      asio::detached);
  io.run();
  relayed.wire = far_side.str();
  return relayed;
}

// The far side's view: the message parsed back.
template <bool isRequest>
http::message<isRequest, http::string_body> parse(const std::string& wire, bool head = false) {
  http::parser<isRequest, http::string_body> parser;
  parser.eager(true);
  parser.skip(head);
  error_code ec;
  parser.put(asio::buffer(wire), ec);
  EXPECT_FALSE(ec) << ec.message() << " in: " << wire;
  EXPECT_TRUE(parser.is_done()) << wire;
  return parser.release();
}

TEST(Relay, ContentLengthBodyPassesByteForByte) {
  const std::string message =
      "POST /submit?x=1 HTTP/1.1\r\nHost: api\r\nContent-Length: 26\r\n\r\n"
      "abcdefghijklmnopqrstuvwxyz";
  const auto relayed = relay_message<true>(message, Framing::none);
  EXPECT_EQ(relayed.result.failure, RelayFailure::none);
  EXPECT_EQ(relayed.wire, message);
  EXPECT_EQ(relayed.result.bytes, 26u);
}

TEST(Relay, ChunkedBodyIsReChunkedWithTheSameContent) {
  const std::string message =
      "POST / HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n1;ext=1\r\n \r\nb\r\nwide world!\r\n0\r\n\r\n";
  const auto relayed = relay_message<true>(message, Framing::chunked);
  EXPECT_EQ(relayed.result.failure, RelayFailure::none);
  EXPECT_EQ(relayed.result.bytes, 17u);
  EXPECT_TRUE(relayed.wire.ends_with("\r\n0\r\n\r\n"));
  const auto back = parse<true>(relayed.wire);
  EXPECT_EQ(back.body(), "hello wide world!");
  EXPECT_EQ(back[http::field::transfer_encoding], "chunked");
}

TEST(Relay, EmptyChunkedBodyIsTheLastChunkAlone) {
  const std::string head = "POST / HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n";
  const auto relayed = relay_message<true>(head + "0\r\n\r\n", Framing::chunked);
  EXPECT_EQ(relayed.result.failure, RelayFailure::none);
  EXPECT_EQ(relayed.wire, head + "0\r\n\r\n");
}

TEST(Relay, BodyDelimitedByCloseIsChunkedForTheClient) {
  const auto relayed = relay_message<false>("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n0123456789abcdef",
                                            Framing::chunked);
  EXPECT_EQ(relayed.result.failure, RelayFailure::none);
  const auto back = parse<false>(relayed.wire);
  EXPECT_EQ(back.body(), "0123456789abcdef");
  EXPECT_EQ(back.result_int(), 200u);
  EXPECT_EQ(back[http::field::server], "x");
}

TEST(Relay, MessageWithoutBodyIsItsHeadAlone) {
  const std::string message = "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n";
  const auto relayed = relay_message<false>(message, Framing::none);
  EXPECT_EQ(relayed.result.failure, RelayFailure::none);
  EXPECT_EQ(relayed.wire, message);
  EXPECT_EQ(relayed.arms, 1u);  // one write, no read
}

TEST(Relay, HeadResponseKeepsItsLengthButSendsNoBody) {
  const std::string message = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  const auto relayed = relay_message<false>(message, Framing::none, 5, /*skip_body=*/true);
  EXPECT_EQ(relayed.wire, message);
}

TEST(Relay, TruncatedBodyIsAReadFailureAfterWhatArrived) {
  const auto relayed = relay_message<false>(
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this much", Framing::none);
  EXPECT_EQ(relayed.result.failure, RelayFailure::read);
  EXPECT_EQ(relayed.result.ec, http::error::partial_message);
  EXPECT_EQ(relayed.result.bytes, 14u);  // relayed, but never passed off as complete
}

TEST(Relay, MalformedChunkIsAReadFailure) {
  const auto relayed = relay_message<true>(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
      Framing::chunked);
  EXPECT_EQ(relayed.result.failure, RelayFailure::read);
  EXPECT_EQ(relayed.result.ec, http::error::bad_chunk);
}

TEST(Relay, EveryReadAndWriteIsPrecededByADeadline) {
  // 12 body bytes through a 5-byte piece: at least three reads and three writes.
  const auto relayed = relay_message<true>(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n123456789012", Framing::none);
  EXPECT_EQ(relayed.result.failure, RelayFailure::none);
  EXPECT_GE(relayed.arms, 6u);
}

TEST(Relay, ChunkSizeLinesAreLowercaseHex) {
  std::array<char, 20> line;
  EXPECT_EQ(detail::chunk_size_line(0, line), "0\r\n");
  EXPECT_EQ(detail::chunk_size_line(16 * 1024, line), "4000\r\n");
  EXPECT_EQ(detail::chunk_size_line(0xabcdef, line), "abcdef\r\n");
}

}  // namespace
}  // namespace sluice::proxy
