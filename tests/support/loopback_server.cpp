#include "support/loopback_server.hpp"

namespace sluice::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

LoopbackServer::LoopbackServer(Serve serve)
    : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
      port_(acceptor_.local_endpoint().port()),
      serve_(std::move(serve)),
      acceptor_thread_([this] { accept_loop(); }) {}

LoopbackServer::~LoopbackServer() {
  stopping_ = true;
  // A blocked accept() is not woken by closing its descriptor: a connection of our own wakes it.
  boost::system::error_code ec;
  Socket waker(io_);
  waker.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  acceptor_thread_.join();
  // The sockets are left to their threads (closing them from here would race the threads' own
  // reads and closes): each ends when sluice, gone by now, has closed its side.
  for (auto& t : connection_threads_) t.join();
}

void LoopbackServer::accept_loop() {
  for (int n = 1;; ++n) {
    auto socket = std::make_shared<Socket>(io_);
    boost::system::error_code ec;
    acceptor_.accept(*socket, ec);
    if (ec || stopping_) return;
    connections_.fetch_add(1);
    std::lock_guard guard(mutex_);
    connection_threads_.emplace_back([this, socket, n] {
      try {
        serve_(*socket, n);
      } catch (const std::exception&) {
        // The peer went away mid-conversation.
      }
    });
  }
}

}  // namespace sluice::testing
