#pragma once
// The upstream half of an exchange, up to the response head, whatever protocol the client speaks:
// a connection (pooled HTTP/1.1, or a stream on a multiplexed HTTP/2 one), the request sent, the
// response head read. Failures are counted and logged here, and named for the client's connection
// to answer in its own protocol (an HTTP/1.x error page, an HTTP/2 one, a gRPC status).

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/proxy/admission.hpp"
#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/relay.hpp"
#include "sluice/proxy/upstream_pool.hpp"
#include "sluice/proxy/upstream_response.hpp"

namespace sluice::proxy {

class Worker;
struct Exchange;
class Http2Upstream;

// What an upstream exchange needs of the client connection it serves: its deadline, and the
// request's body, which only the connection can read.
class ClientLink {
 public:
  // The deadline over the next operation. disarm(): none, while the pool's connect deadline runs.
  virtual void arm(Nanos timeout) = 0;
  virtual void disarm() = 0;
  [[nodiscard]] virtual bool timed_out() const = 0;
  // The upstream socket the connection's deadline cancels with its own (null: none).
  virtual void watch(TcpSocket* upstream) = 0;
  // Sends `head` and the request's body to `upstream` (a request without a body is sent by the
  // exchange itself). RelayFailure::read: the client's body broke off, or was too large;
  // RelayFailure::write: the upstream's side failed.
  virtual Task<RelayResult> send_with_body(UpstreamConnection& upstream, std::string_view head) = 0;

 protected:
  ClientLink() = default;
  ~ClientLink() = default;
  ClientLink(const ClientLink&) = default;
  ClientLink& operator=(const ClientLink&) = default;
};

// Keeps an upstream socket under the client connection's deadline for as long as it lives, and
// no longer: declared after the connection it names, the watch never outlives the socket.
class WatchedUpstream {
 public:
  WatchedUpstream(ClientLink& client, TcpSocket& socket) : client_(client) {
    client_.watch(&socket);
  }
  ~WatchedUpstream() { client_.watch(nullptr); }
  WatchedUpstream(const WatchedUpstream&) = delete;
  WatchedUpstream& operator=(const WatchedUpstream&) = delete;

 private:
  ClientLink& client_;
};

// What the client is told when no response head came: the status, why in a sentence, and the
// reason (what a gRPC client reads in grpc-status).
struct UpstreamRefusal {
  unsigned status = 502;
  AnswerReason reason = AnswerReason::upstream_failed;
  std::string detail;
};

// No connection could be had: refused, unreachable, or (https://) a handshake that failed, most
// often a certificate that does not verify. Counted and logged.
UpstreamRefusal unreachable(Services& services, const Exchange& ex,
                            const UpstreamPool::Failure& failed);

// A method whose request may be sent twice (RFC 9110 §9.2.2): only those are retried.
[[nodiscard]] bool idempotent(http::verb method) noexcept;

// The request as it goes to an HTTP/1.1 upstream.
struct Http1Request {
  std::string_view head;  // written (wire.hpp)
  bool has_body = false;  // body bytes still to come from the client
  bool idempotent = false;
  bool head_method = false;  // a response to HEAD has no body, whatever it declares
  bool upgrade = false;      // an Upgrade was forwarded: a 101 answers it
};

struct Http1Opened {
  enum class Outcome {
    response,       // the response head is in `response`; `connection` is the one it came on
    client_failed,  // the client's body broke off: `client_error` says how
    refused         // no response head: `refusal` says what to answer
  };
  Outcome outcome = Outcome::response;
  std::unique_ptr<UpstreamConnection> connection;
  error_code client_error;
  UpstreamRefusal refusal;
};

// Sends the request over a pooled (or new) HTTP/1.1 connection and reads the response head,
// skipping interim 1xx responses (but 101, the answer to an Upgrade). A request without a body
// that fails on a reused connection before any response byte is retried once on a fresh
// connection: the upstream may have closed it just as it was taken.
Task<Http1Opened> open_http1(Worker& worker, Exchange& ex, ClientLink& client,
                             const Http1Request& request,
                             std::optional<UpstreamResponseParser>& response);

struct Http2Opened {
  std::shared_ptr<Http2Upstream> connection;  // null: `refusal` says why
  UpstreamRefusal refusal;
};

// The worker's multiplexed HTTP/2 connection to the exchange's upstream with room for one more
// stream, or a new one.
Task<Http2Opened> open_http2(Worker& worker, const Exchange& ex);

// An HTTP/2 upstream refused a stream it had room for (a GOAWAY under way): counted and logged.
UpstreamRefusal stream_refused(Services& services, const Exchange& ex);

// The upstream reset a stream before its response head: counted and logged.
UpstreamRefusal stream_reset(Services& services, const Exchange& ex, std::uint32_t code);

// No response head within upstream_response: counted and logged.
UpstreamRefusal too_slow(Services& services, const Exchange& ex);

}  // namespace sluice::proxy
