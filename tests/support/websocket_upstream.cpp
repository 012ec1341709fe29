#include "support/websocket_upstream.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace sluice::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

WebSocketUpstream::WebSocketUpstream()
    : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
      port_(acceptor_.local_endpoint().port()),
      acceptor_thread_([this] { accept_loop(); }) {}

WebSocketUpstream::~WebSocketUpstream() {
  stopping_ = true;
  boost::system::error_code ec;
  // A blocked accept() is not woken by closing its descriptor: a connection wakes it.
  tcp::socket wake(io_);
  wake.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  acceptor_thread_.join();
  acceptor_.close(ec);
  // The sockets are left to their threads (a shutdown from here would race Beast's own close):
  // each thread ends when its peer, sluice, closes the connection, and sluice is gone by now.
  for (auto& t : threads_) t.join();
}

std::string WebSocketUpstream::last_upgrade() const {
  std::lock_guard guard(mutex_);
  return last_upgrade_;
}

void WebSocketUpstream::accept_loop() {
  for (;;) {
    auto socket = std::make_shared<tcp::socket>(io_);
    boost::system::error_code ec;
    acceptor_.accept(*socket, ec);
    if (ec || stopping_) return;
    std::lock_guard guard(mutex_);
    sockets_.push_back(socket);
    threads_.emplace_back([this, socket] { serve(*socket); });
  }
}

void WebSocketUpstream::serve(tcp::socket& socket) {
  websocket::stream<tcp::socket&> ws(socket);
  ws.read_message_max(8 * 1024 * 1024);
  boost::system::error_code ec;
  beast::flat_buffer buffer;
  http::request<http::string_body> handshake;
  http::read(socket, buffer, handshake, ec);
  if (!ec) {
    std::lock_guard guard(mutex_);
    last_upgrade_ = std::string(handshake[http::field::upgrade]);
  }
  if (!ec) ws.accept(handshake, ec);
  if (!ec) ++handshakes_;
  while (!ec) {
    beast::flat_buffer message;
    ws.read(message, ec);
    if (ec) break;
    if (beast::buffers_to_string(message.data()) == "bye") {
      ws.close(websocket::close_code::normal, ec);
      break;
    }
    ws.text(ws.got_text());
    ws.write(message.data(), ec);
  }
  ++ended_;
}

}  // namespace sluice::testing
