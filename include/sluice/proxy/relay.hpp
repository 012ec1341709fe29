#pragma once
// Streams a message body from a parser to a serializer in bounded pieces (Beast's relay pattern,
// made asynchronous): nothing is buffered beyond one piece, whatever the body's size.

#include <array>

#include "sluice/proxy/beast.hpp"

namespace sluice::proxy {

inline constexpr std::size_t kRelayPiece = 16 * 1024;

enum class RelayFailure { none, read, write };

struct RelayResult {
  RelayFailure failure = RelayFailure::none;
  error_code ec;
  std::uint64_t bytes = 0;  // body bytes relayed
};

// Deadlines apply to streams that have them (tcp_stream); in-memory test streams have none.
template <class Stream>
void set_deadline(Stream& stream, Nanos timeout) {
  if constexpr (requires { stream.expires_after(std::chrono::nanoseconds(1)); }) {
    stream.expires_after(to_duration(timeout));
  }
}

// The parser's header has been read and the serializer wraps the parser's message (its header
// possibly edited). Relays the body until the serializer is done; the header goes out with the
// first write.
template <class ReadStream, class WriteStream, bool isRequest>
asio::awaitable<RelayResult> relay_body(ReadStream& in, beast::flat_buffer& in_buffer,
                                        http::parser<isRequest, http::buffer_body>& parser,
                                        WriteStream& out,
                                        http::serializer<isRequest, http::buffer_body>& serializer,
                                        Nanos read_timeout, Nanos write_timeout) {
  std::array<char, kRelayPiece> piece;
  RelayResult result;
  auto& body = parser.get().body();
  do {
    if (!parser.is_done()) {
      body.data = piece.data();
      body.size = piece.size();
      set_deadline(in, read_timeout);
      auto [ec, n] = co_await http::async_read_some(in, in_buffer, parser, use_tuple);
      if (ec == http::error::need_buffer ||
          (ec == http::error::end_of_stream && parser.is_done())) {
        ec = {};
      }
      if (ec) {
        result.failure = RelayFailure::read;
        result.ec = ec;
        co_return result;
      }
      body.size = piece.size() - body.size;
      body.data = piece.data();
      body.more = !parser.is_done();
      // Parsing only framing (a chunk header) yields no body bytes; an empty piece must not be
      // written, as a chunked serializer would turn it into the last chunk.
      if (body.size == 0 && body.more) continue;
    } else {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
    }
    result.bytes += body.size;
    set_deadline(out, write_timeout);
    auto [ec, n] = co_await http::async_write(out, serializer, use_tuple);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      result.failure = RelayFailure::write;
      result.ec = ec;
      co_return result;
    }
  } while (!serializer.is_done());
  co_return result;
}

}  // namespace sluice::proxy
