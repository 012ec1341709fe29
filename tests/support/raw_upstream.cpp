#include "support/raw_upstream.hpp"

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace sluice::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

RawUpstream::RawUpstream(std::function<void(Socket&, int)> script)
    : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
      port_(acceptor_.local_endpoint().port()),
      script_(std::move(script)) {
  thread_ = std::thread([this] {
    for (int n = 1;; ++n) {
      auto socket = std::make_shared<Socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec || stopping_) return;
      connections_.fetch_add(1);
      std::lock_guard guard(mutex_);
      sockets_.push_back(socket);
      workers_.emplace_back([this, socket, n] {
        try {
          script_(*socket, n);
        } catch (const std::exception&) {
          // The peer (sluice) went away mid-script: that is what some scripts provoke.
        }
      });
    }
  });
}

RawUpstream::~RawUpstream() {
  stopping_ = true;
  boost::system::error_code ec;
  Socket waker(io_);
  waker.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  thread_.join();
  // Scripts end when sluice (destroyed first in every test) closes its connections; touching
  // their sockets from here would race with the scripts' own close().
  for (auto& w : workers_) w.join();
}

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
