#pragma once
// One downstream connection: read a request, match its route, decide, wait, forward, relay the
// response, log; repeat while the connection is kept alive.

#include <memory>
#include <optional>
#include <string>

#include "sluice/core/ip.hpp"
#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/local_response.hpp"
#include "sluice/proxy/runtime.hpp"

namespace sluice::proxy {

class Worker;
class UpstreamConnection;

using RequestParser = http::request_parser<http::buffer_body>;
using ResponseParser = http::response_parser<http::buffer_body>;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& worker, tcp::socket socket);
  ~Session();

  asio::awaitable<void> run();
  // Shutdown: a connection waiting for its next request is closed; one serving a request is not.
  void close_if_idle();
  void close();

 private:
  struct Exchange;  // one request's state

  // A request head that could not be read: the status to answer (0: none needed), and why.
  struct HeadResult {
    unsigned status = 0;
    std::string detail;
  };

  asio::awaitable<bool> await_request(bool first);
  asio::awaitable<HeadResult> read_head(RequestParser& parser);
  asio::awaitable<bool> serve(RequestParser& parser);
  asio::awaitable<bool> hold(Nanos wait);
  asio::awaitable<bool> forward(RequestParser& parser, Exchange& ex);
  asio::awaitable<std::unique_ptr<UpstreamConnection>> send_upstream(
      RequestParser& parser, Exchange& ex, std::optional<ResponseParser>& response);
  asio::awaitable<bool> write_local(LocalResponse response, bool keep_alive, Exchange* ex);
  void finish(Exchange& ex);

  Worker& worker_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  IpAddress peer_;
  std::string peer_text_;
  bool idle_ = true;
};

}  // namespace sluice::proxy
