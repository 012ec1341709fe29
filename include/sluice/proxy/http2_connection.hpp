#pragma once
// An HTTP/2 connection from a client: h2 chosen by ALPN on the TLS listener, or h2c by prior
// knowledge (the client preface) on the plain one. libnghttp2 does the framing, HPACK and flow
// control; this class feeds it the connection's bytes, writes what it produces, and runs every
// stream as an exchange of its own: admitted, held, forwarded and logged like an HTTP/1.1
// request, while the connection's other streams go on.

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sluice/core/ip.hpp"
#include "sluice/proxy/admission.hpp"
#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/read_buffer.hpp"
#include "sluice/proxy/relay.hpp"
#include "sluice/proxy/stream.hpp"
#include "sluice/proxy/upstream_response.hpp"

struct nghttp2_session;

namespace sluice::proxy {

class Worker;
struct Http2Stream;
class UpstreamConnection;
struct UpstreamRefusal;

class Http2Connection {
 public:
  // Who is at the other end: the session that found HTTP/2 owns both this and what these name.
  struct Client {
    const IpAddress& peer;
    std::string_view peer_text;
    std::string_view client_cert;
  };

  // `buffer` holds what was read so far, the client preface first. `owner` keeps the session
  // that owns this connection alive for as long as one of its streams runs.
  Http2Connection(Worker& worker, Stream& stream, ReadBuffer& buffer, Client client,
                  std::weak_ptr<void> owner);
  ~Http2Connection();
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  // Reads and serves until the connection ends and its streams are done.
  Task<void> run();
  // Shutdown: GOAWAY naming the last stream taken; those open finish, no new one starts.
  void shut_down();
  // Called by the worker's tick: streams and an idle connection past their deadline end.
  void check_deadline(Nanos now);
  [[nodiscard]] bool idle() const noexcept { return streams_.empty(); }

 private:
  [[nodiscard]] std::size_t open_streams() const noexcept;

  friend struct Http2Callbacks;

  // nghttp2's events (http2_connection.cpp, Http2Callbacks).
  int on_begin_headers(std::int32_t stream_id);
  int on_header(Http2Stream& s, std::string_view name, std::string_view value);
  int on_request_head(Http2Stream& s);
  int on_data(Http2Stream& s, const std::uint8_t* data, std::size_t length);
  void on_request_end(Http2Stream& s);
  int on_reset_received();
  void on_stream_close(std::int32_t stream_id);

  // Writes whatever nghttp2 has to send; one writer at a time.
  void flush();
  Task<void> write_loop();
  // Ends the connection: GOAWAY with `code`, counted under `why`.
  void go_away(GoawayReason why, std::uint32_t code);
  void close_socket();

  // One stream, from its head to its log line (http2_exchange.cpp).
  Task<void> serve_stream(std::shared_ptr<Http2Stream> s);
  Task<bool> hold(Http2Stream& s, Exchange& ex);
  Task<void> forward(Http2Stream& s, Exchange& ex);
  Task<void> forward_h2(Http2Stream& s, Exchange& ex);
  // The upstream exchange's view of a stream (http2_exchange.cpp).
  class StreamLink;
  friend class StreamLink;
  Task<RelayResult> send_request_body(Http2Stream& s, UpstreamConnection& upstream, bool chunked);
  Task<void> relay_response(Http2Stream& s, Exchange& ex, UpstreamConnection& upstream,
                            UpstreamResponseParser& response, bool& complete);
  // Sluice's own answer to a stream: as an HTTP/2 response, or a gRPC call's trailers-only one.
  void answer(Http2Stream& s, Exchange& ex, LocalResponse response, AnswerReason reason,
              std::string_view detail);
  // No response head came from the upstream: 502 or 504, in the stream's terms.
  void refuse(Http2Stream& s, Exchange& ex, const UpstreamRefusal& refusal);
  void submit_response(Http2Stream& s, const ResponseHead& head, bool with_body);
  void finish(Http2Stream& s, Exchange& ex);
  void arm(Http2Stream& s, Nanos timeout);

  Worker& worker_;
  Stream& stream_;
  ReadBuffer& buffer_;
  Client client_;
  std::weak_ptr<void> owner_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::shared_ptr<Http2Stream>> streams_;
  std::string out_;  // bytes being written
  bool writing_ = false;
  bool closing_ = false;  // no more reads: GOAWAY sent or the client left
  bool reading_done_ = false;
  bool abandoned_ = false;  // ended by sluice (GOAWAY for an error): its streams are dropped
  Nanos write_deadline_ = std::numeric_limits<Nanos>::max();
  Nanos idle_deadline_ = 0;
  Nanos resets_window_start_ = 0;
  std::uint32_t resets_in_window_ = 0;
  SteadyTimer streams_done_;  // run() waits on it for the last stream to end
};

}  // namespace sluice::proxy
