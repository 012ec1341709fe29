#pragma once
// One downstream connection: read a request, match its route, decide, wait, forward, relay the
// response, log; repeat while the connection is kept alive.

#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "sluice/core/ip.hpp"
#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/client_connections.hpp"
#include "sluice/proxy/local_response.hpp"
#include "sluice/proxy/peer_address.hpp"
#include "sluice/proxy/read_buffer.hpp"
#include "sluice/proxy/request_parser.hpp"
#include "sluice/proxy/runtime.hpp"
#include "sluice/proxy/stream.hpp"
#include "sluice/proxy/upstream_pool.hpp"
#include "sluice/proxy/upstream_response.hpp"

namespace sluice::proxy {

class Worker;
struct Exchange;
class Http2Connection;
struct UpstreamRefusal;
class ClientLink;

class Session : public std::enable_shared_from_this<Session> {
 public:
  static constexpr Nanos kNoDeadline = std::numeric_limits<Nanos>::max();

  // `peer`: the client's address (peer_address()); `slot`: its place under
  // max_connections_per_client, held for as long as the connection is open.
  Session(Worker& worker, TcpSocket socket, std::optional<IpAddress> peer,
          ClientConnections::Slot slot);
  ~Session();

  // Serves the connection until it closes; the session keeps itself alive meanwhile.
  void start();
  // Shutdown: a connection waiting for its next request is closed; one serving a request is not.
  void close_if_idle();
  void close();
  // Called by the worker's tick: an operation past its deadline is cancelled.
  void check_deadline(Nanos now);

 private:
  // How reading a request head ended: a head to serve, a refusal to answer (status and why),
  // or a client that left or sent nothing, closed without an answer.
  struct HeadResult {
    // http2: the client preface, HTTP/2 by prior knowledge; the buffer still holds it.
    // incomplete: the rest of the head must be waited for.
    enum class Outcome { ready, refused, gone, http2, incomplete };
    Outcome outcome = Outcome::ready;
    unsigned status = 0;  // refused
    std::string detail;   // refused
    static HeadResult refuse(unsigned status, std::string detail) {
      return {Outcome::refused, status, std::move(detail)};
    }
    static HeadResult gone() { return {Outcome::gone, 0, {}}; }
    static HeadResult http2() { return {Outcome::http2, 0, {}}; }
    static HeadResult incomplete() { return {Outcome::incomplete, 0, {}}; }
  };
  // What admission left to do: forward the admitted request, or nothing (it was answered here),
  // keeping the connection or closing it.
  enum class Admission { forward, answered_keep_alive, answered_close };
  static Admission answered(bool keep_alive) noexcept {
    return keep_alive ? Admission::answered_keep_alive : Admission::answered_close;
  }
  // Runs `task` on the connection's executor, keeping the session alive meanwhile; an exception
  // that escapes it is logged as session_failed.
  void spawn(Task<void> task);

  // A TLS listener: the handshake within client_header, then the first request.
  Task<void> handshake();
  void await_request(bool first);
  // On TLS a readiness wait says nothing (the TLS layer may hold decrypted bytes, or bytes that
  // decrypt to nothing): the wait for the next request is a read.
  Task<void> read_next_request();
  Task<void> serve_ready();
  // The rest of the connection is HTTP/2 (ALPN h2, or the client preface in clear text).
  Task<void> serve_http2();
  Task<void> refuse_head(HeadResult head);
  void release_buffers();
  void end();
  Task<void> close_tls();
  void failed(const std::exception_ptr& e);
  // A request head from what has arrived, without waiting: woken by readiness, the bytes are
  // there. Not a coroutine: an awaited one cost ~400 instructions per request.
  HeadResult read_head_now(RequestParser& parser);
  // The rest of a head that has not all arrived, within client_header.
  Task<HeadResult> read_head(RequestParser& parser);
  // The size of the head the buffer holds, once it holds all of it (else 0), or its refusal.
  // `scanned`: how far an earlier look found no end.
  std::variant<std::size_t, HeadResult> find_head(std::size_t& scanned);
  HeadResult parse_head(RequestParser& parser, std::size_t head_size);
  Task<Admission> admit(RequestParser& parser, Exchange& ex);
  Task<bool> deliver(RequestParser& parser, Exchange& ex);
  Task<std::tuple<error_code>> hold(SteadyTimer& timer, Nanos wait);
  // Whether the hold ended with the request's turn, not the client's hang-up.
  bool end_hold(const error_code& ec);
  void watch_for_hang_up();
  Task<bool> forward(RequestParser& parser, Exchange& ex);
  // upstream_protocol: http2 — the request over the worker's HTTP/2 connection to the upstream
  // (session_h2_upstream.cpp).
  Task<bool> forward_h2(RequestParser& parser, Exchange& ex);
  // The upstream exchange's view of this session (session_forward.cpp).
  class Link;
  friend class Link;
  // Answers the client's `Expect: 100-continue` once its request is admitted: the upstream sees
  // a plain request, and a rejected client never sent its body.
  static bool awaits_continue(const RequestParser& parser);
  Task<bool> write_continue();
  // The request body was too large (413), malformed (400), stalled (408), or broke off (a 499
  // with nobody to tell).
  Task<void> refuse_body(Exchange& ex, const error_code& ec);
  // No response head came from the upstream: 502 or 504, and the connection closes.
  Task<void> refuse(Exchange& ex, const UpstreamRefusal& refusal);
  // After a 101: the client and the upstream connection joined until either closes or
  // tunnel_idle passes with no bytes either way (session_tunnel.cpp).
  Task<bool> open_tunnel(Exchange& ex, ClientLink& client,
                         std::unique_ptr<UpstreamConnection> upstream,
                         UpstreamResponseParser& response);
  // One direction of a tunnel, named at the call site: a swapped pair would be a silent bug.
  struct Pipe {
    Stream& from;
    Stream& to;
    std::span<char> piece;
  };
  Task<void> pump(Pipe pipe, Nanos idle);
  Task<bool> write_local(LocalResponse response, bool keep_alive, Exchange* ex);
  void finish(Exchange& ex);

  // Every read and write is preceded by arming the deadline for it. A deadline is a number the
  // worker's tick compares, not a timer per operation: per-operation timers cost 12 % of a
  // forwarded request's CPU (docs/BENCHMARKS.md). An operation it cancels fails with
  // `timed_out()` set.
  void arm(Nanos timeout);
  // arm() as a callable, for relay().
  [[nodiscard]] auto arming() {
    return [this](Nanos timeout) { arm(timeout); };
  }
  [[nodiscard]] bool timed_out() const noexcept { return timed_out_; }
  // operation_aborted caused by the deadline becomes beast::error::timeout.
  [[nodiscard]] error_code timeout_or(error_code ec) const;

  Worker& worker_;
  Stream stream_;
  TcpSocket& socket_;                     // stream_'s, for what TLS does not change
  TcpSocket* upstream_socket_ = nullptr;  // watched through our ClientLink; cancelled with ours
  Nanos deadline_ = kNoDeadline;
  bool timed_out_ = false;
  SteadyTimer* hold_timer_ = nullptr;     // while a delayed request waits
  SteadyTimer* upstream_wait_ = nullptr;  // while waiting on an HTTP/2 upstream
  bool hung_up_ = false;                  // the client left during that wait
  ReadBuffer buffer_;
  std::string head_;  // the head being written
  IpAddress peer_;
  std::string peer_text_;
  ClientConnections::Slot client_slot_;
  std::string client_cert_;  // the verified client certificate's subject CN (mTLS)
  bool idle_ = true;
  std::unique_ptr<Http2Connection> http2_;  // once the connection speaks HTTP/2
};

}  // namespace sluice::proxy
