#include "support/raw_upstream.hpp"

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace sluice::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string RawUpstream::read_request_head(Socket& socket) {
  asio::streambuf buf;
  asio::read_until(socket, buf, "\r\n\r\n");
  return {asio::buffers_begin(buf.data()), asio::buffers_end(buf.data())};
}

void RawUpstream::write(Socket& socket, const std::string& bytes) {
  asio::write(socket, asio::buffer(bytes));
}

void RawUpstream::reset(Socket& socket) {
  socket.set_option(asio::socket_base::linger(true, 0));
  socket.close();
}

}  // namespace sluice::testing
