#pragma once
// One HTTP/2 stream's state, shared by the connection (which feeds it nghttp2's events) and the
// stream's exchange coroutine (which waits on `wake` for any of them).

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/client_head.hpp"

namespace sluice::proxy {

struct Http2Stream {
  static constexpr Nanos kNoDeadline = std::numeric_limits<Nanos>::max();

  Http2Stream(std::int32_t id, const Executor& executor)
      : id(id), wake(executor, SteadyTimer::time_point::max()) {}

  // A header of the request's block: pseudo-headers kept apart, the rest as HTTP/1.1 fields
  // (cookies, which HTTP/2 splits, joined again as RFC 9113 §8.2.3 says).
  void add_header(std::string_view name, std::string_view value) {
    if (name == ":method") {
      method = value;
    } else if (name == ":path") {
      path = value;
    } else if (name == ":authority") {
      authority = value;
    } else if (name == ":scheme") {
      scheme = value;
    } else if (name == "cookie" && head.count(http::field::cookie) > 0) {
      head.set(http::field::cookie,
               std::string(view(head[http::field::cookie])) + "; " + std::string(value));
    } else {
      head.insert(name, value);
    }
  }

  // Waits until the connection signals a change (data, room, reset, a deadline).
  Task<void> changed() {
    wake.expires_at(SteadyTimer::time_point::max());
    co_await wake.async_wait(use_tuple);
  }

  std::int32_t id;
  ClientHead head;
  std::string method, path, authority, scheme;
  std::size_t header_bytes = 0;
  bool head_done = false;  // the header block is in: what follows is trailers
  std::vector<std::pair<std::string, std::string>> trailers_in;  // the request's trailers
  bool grpc = false;                                             // content-type application/grpc…
  bool request_complete = false;                                 // END_STREAM received
  bool closed = false;           // reset, or the connection ended: nobody reads an answer
  bool answered = false;         // a response was submitted: later request bytes are dropped
  std::uint64_t body_bytes = 0;  // request body received so far (http.max_body_bytes)
  bool body_too_large = false;
  std::string body_in;   // request body received, not yet passed upstream
  std::string body_out;  // response body nghttp2 has not taken yet, from out_taken
  std::size_t out_taken = 0;
  bool out_done = false;  // the whole response body is in body_out
  std::vector<std::pair<std::string, std::string>> trailers_out;  // sent after the body
  SteadyTimer wake;
  Nanos deadline = kNoDeadline;  // of the operation under way; the worker's tick checks it
  bool timed_out = false;
  TcpSocket* upstream_socket = nullptr;  // cancelled with the deadline
};

}  // namespace sluice::proxy
