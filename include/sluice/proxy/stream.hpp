#pragma once
// A TCP connection that may speak TLS: one type for both, so the session, the upstream pool and
// the tunnel are written once. Plain connections pay one branch per operation; a TLS one goes
// through Asio's ssl::stream layered on the same socket, which stays reachable for what TLS does
// not change: cancelling, shutting down, peeking for a hang-up.

#include <boost/asio/compose.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <span>
#include <type_traits>

#include "sluice/proxy/beast.hpp"

namespace sluice::proxy {

namespace ssl = asio::ssl;
using TlsStream = ssl::stream<TcpSocket&>;

class Stream {
 public:
  using executor_type = TcpSocket::executor_type;

  explicit Stream(TcpSocket socket) : socket_(std::move(socket)) {}
  // The TLS layer refers to the socket: neither may move.
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  [[nodiscard]] TcpSocket& socket() noexcept { return socket_; }
  [[nodiscard]] executor_type get_executor() noexcept { return socket_.get_executor(); }
  // Null on a plain connection.
  [[nodiscard]] TlsStream* tls() noexcept { return tls_.get(); }

  // Every read and write goes through TLS from now on; the handshake is the caller's. The stream
  // holds `context` for its life: a reload may replace the one new connections use.
  TlsStream& start_tls(std::shared_ptr<ssl::context> context) {
    context_ = std::move(context);
    tls_ = std::make_unique<TlsStream>(socket_, *context_);
    return *tls_;
  }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    if (!tls_) return socket_.async_read_some(buffers, std::forward<Token>(token));
    return asio::async_compose<Token, void(error_code, std::size_t)>(
        TlsRead<Buffers>{*tls_, buffers}, token, socket_);
  }

  // Writes what a plain socket takes now, without waiting: the bytes written, 0 when its send
  // buffer is full or the stream speaks TLS. `ec`: the error the write met, as an asynchronous
  // write would report it. A write the socket takes at once needs no reactor operation, which
  // costs ~1 500 instructions (its allocation, the scheduler, the coroutine's resumption).
  std::size_t write_now(std::span<const asio::const_buffer> buffers, error_code& ec);

  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    if (!tls_) return socket_.async_write_some(buffers, std::forward<Token>(token));
    return tls_->async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  // A peer that closes the TCP connection without TLS's close_notify is, to an HTTP reader, a
  // peer that closed: framing (Content-Length, chunks) tells a truncated message anyway, and most
  // servers and clients skip close_notify. Reported as the end of stream that it is for plain
  // TCP, so that one code path reads both.
  template <class Buffers>
  struct TlsRead {
    TlsStream& tls;
    Buffers buffers;
    bool started = false;
    template <class Self>
    void operator()(Self& self, error_code ec = {}, std::size_t n = 0) {
      if (!started) {
        started = true;
        tls.async_read_some(buffers, std::move(self));
        return;
      }
      if (ec == ssl::error::stream_truncated) ec = asio::error::eof;
      self.complete(ec, n);
    }
  };

  TcpSocket socket_;
  std::shared_ptr<ssl::context> context_;
  std::unique_ptr<TlsStream> tls_;  // destroyed first: it refers to the socket and the context
};

// Drops the first `n` bytes of `buffers`, which shrinks from the front (empty buffers included).
void consume(std::span<asio::const_buffer>& buffers, std::size_t n) noexcept;

// Writes what `out` takes of `buffers` now and drops it from them (a plain Stream; any other
// stream leaves it all to the asynchronous write that follows, when `buffers` is not empty). A
// response that fits the socket's buffer, nearly all of them, then needs no reactor operation.
template <class WriteStream>
void write_now(WriteStream& out, std::span<asio::const_buffer>& buffers, error_code& ec) {
  ec = {};
  if constexpr (std::is_same_v<WriteStream, Stream>) consume(buffers, out.write_now(buffers, ec));
}

}  // namespace sluice::proxy
