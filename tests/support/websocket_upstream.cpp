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

std::string WebSocketUpstream::last_upgrade() const {
  std::lock_guard guard(mutex_);
  return last_upgrade_;
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
  // Counted before the 101 goes out: a client that reads it may ask for the count at once.
  if (!ec) ++handshakes_;
  if (!ec) ws.accept(handshake, ec);
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
