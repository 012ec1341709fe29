#pragma once
// Streams a message from a parser whose head has been read to another stream, in bounded pieces
// (Beast's relay pattern, made asynchronous): nothing is buffered beyond one piece, whatever the
// body's size. The head goes out in the same write as the first piece; chunked framing is
// written here, so a body can be re-framed (an EOF-delimited response becomes chunked).

#include <array>
#include <span>
#include <string_view>

#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/piece_parser.hpp"
#include "sluice/proxy/stream.hpp"

namespace sluice::proxy {

inline constexpr std::size_t kRelayPiece = std::size_t{16} * 1024;

// How the body is delimited on the way out.
enum class Framing {
  none,    // no body, or a Content-Length the head already carries, or the close delimits it
  chunked  // chunks written here, then the last chunk
};

enum class RelayFailure { none, read, write };

struct RelayResult {
  RelayFailure failure = RelayFailure::none;
  error_code ec;
  std::uint64_t bytes = 0;  // body bytes relayed
};

namespace detail {

// "1a2b\r\n": the chunk-size line of a chunk of `size` bytes.
inline std::string_view chunk_size_line(std::size_t size, std::array<char, 20>& line) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto end = line.end();
  *--end = '\n';
  *--end = '\r';
  auto begin = end;
  do {
    *--begin = kHex[size & 15];
    size >>= 4;
  } while (size != 0);
  return {begin, static_cast<std::size_t>(line.end() - begin)};
}

}  // namespace detail

// How a message goes out: written by name at the call sites, since two adjacent timeouts are
// easily swapped.
struct RelayOptions {
  std::string_view head;  // sent with the first piece of the body
  Framing framing = Framing::none;
  std::span<char> piece;  // the one buffer the body passes through
  Nanos read_timeout = 0;
  Nanos write_timeout = 0;
};

// `arm(timeout)` is called before every read and every write: the caller's deadline.
template <class ReadStream, class ReadBuffer, class WriteStream, class Parser, class Arm>
Task<RelayResult> relay(ReadStream& in, ReadBuffer& in_buffer, Parser& parser, WriteStream& out,
                        RelayOptions options, Arm arm) {
  const auto [head, framing, piece, read_timeout, write_timeout] = options;
  static constexpr std::string_view kCrlf = "\r\n";
  static constexpr std::string_view kCrlfLastChunk = "\r\n0\r\n\r\n";
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";
  RelayResult result;
  auto& body = body_of(parser);
  for (bool head_sent = false;;) {
    std::size_t n = 0;
    if (!parser.is_done()) {
      body.data = piece.data();
      body.size = piece.size();
      error_code ec = http::error::need_more;
      if (in_buffer.size() > 0) {
        // Bytes that came with the head, or with an earlier piece, are parsed here: Beast's read
        // would parse them as well, then post its completion (~1 500 instructions).
        in_buffer.consume(parser.put(in_buffer.data(), ec));
      }
      if (ec == http::error::need_more) {
        arm(read_timeout);
        std::tie(ec, std::ignore) =
            co_await http::async_read_some(in, in_buffer, parser, use_tuple);
      }
      if (ec == http::error::need_buffer ||
          (ec == http::error::end_of_stream && parser.is_done())) {
        ec = {};
      }
      if (ec) {
        result.failure = RelayFailure::read;
        result.ec = ec;
        co_return result;
      }
      n = piece.size() - body.size;
      // Parsing framing alone (a chunk header) yields no body bytes: read on.
      if (n == 0 && !parser.is_done()) continue;
    }
    const bool last = parser.is_done();
    std::array<asio::const_buffer, 4> pieces;
    std::size_t count = 0;
    if (!head_sent) pieces[count++] = asio::buffer(head);
    std::array<char, 20> size_line;
    if (framing == Framing::chunked && n > 0) {
      pieces[count++] = asio::buffer(detail::chunk_size_line(n, size_line));
    }
    if (n > 0) pieces[count++] = asio::buffer(piece.data(), n);
    if (framing == Framing::chunked) {
      if (n > 0) {
        pieces[count++] = asio::buffer(last ? kCrlfLastChunk : kCrlf);
      } else if (last) {
        pieces[count++] = asio::buffer(kLastChunk);
      }
    }
    arm(write_timeout);
    std::span<asio::const_buffer> unsent(pieces.data(), count);
    error_code ec;
    write_now(out, unsent, ec);
    if (!ec && !unsent.empty()) {
      std::tie(ec, std::ignore) = co_await asio::async_write(out, unsent, use_tuple);
    }
    if (ec) {
      result.failure = RelayFailure::write;
      result.ec = ec;
      co_return result;
    }
    head_sent = true;
    result.bytes += n;
    if (last) co_return result;
  }
}

}  // namespace sluice::proxy
