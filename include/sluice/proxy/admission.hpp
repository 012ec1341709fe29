#pragma once
// The first half of an exchange, whatever protocol brought the request: its facts read, its
// route matched, its limits decided. The connection that read the request is told what is left:
// forward it, or write the answer given here in its own protocol.

#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/core/ip.hpp"
#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/exchange.hpp"
#include "sluice/proxy/local_response.hpp"
#include "sluice/proxy/request_checks.hpp"

namespace sluice::proxy {

class Worker;

// Who sent a request and how far its body has come.
struct RequestOrigin {
  const IpAddress& peer;
  std::string_view peer_text;
  std::string_view client_cert;  // the verified client certificate's subject CN (mTLS)
  bool chunked = false;          // HTTP/1.1 framing; HTTP/2 requests are never chunked
  // The longest a request may be held (a gRPC call's deadline): if its turn comes later, it is
  // rejected at once and charged nothing, rather than timing out in the queue.
  static constexpr Nanos kNoMaxWait = std::numeric_limits<Nanos>::max();
  Nanos max_wait = kNoMaxWait;
};

// Why sluice answered a request itself: what a gRPC client is told depends on it.
enum class AnswerReason {
  refused,
  rejected,
  denied,
  store_unavailable,
  not_found,
  upstream_unreachable,
  upstream_timeout,
  upstream_failed,
  client_timeout  // the client's body stalled past client_idle
};

struct Verdict {
  enum class Next { forward, answer };
  Next next = Next::forward;
  // answer: the response, and whether the connection must close after it whatever the client
  // asked (a request sluice could not read cannot be followed by another on the same bytes).
  LocalResponse response;
  AnswerReason reason = AnswerReason::refused;
  std::string detail;  // why, in a sentence (a gRPC answer's grpc-message)
  bool close_connection = false;

  static Verdict forward() { return {}; }
  static Verdict answer(LocalResponse response, AnswerReason reason, std::string detail,
                        bool close = false) {
    return {Next::answer, std::move(response), reason, std::move(detail), close};
  }
};

// Reads the request's facts into `ex`, matches its route and decides on its limits. `request` is
// rewritten to the form it is forwarded in. An admitted request (allowed or delayed) is to be
// forwarded; any other gets its answer, which the connection writes and logs with `ex`.
Task<Verdict> admit(Worker& worker, ClientHead& request, const RequestOrigin& origin, Exchange& ex);

// admit() in its two halves, for a caller that runs a request without a coroutine when nothing
// needs awaiting (a local limit, no usage answer): an awaited admission cost ~400 instructions
// per request. `request`, `origin` and `ex` must outlive it.
class Admitting {
 public:
  Admitting(Worker& worker, ClientHead& request, const RequestOrigin& origin, Exchange& ex);
  Admitting(const Admitting&) = delete;
  Admitting& operator=(const Admitting&) = delete;

  // Facts, route, keys and overrides: the answer when the request gets one before its decision
  // (refused, ambiguous keys, denied); none when it goes on to be decided.
  std::optional<Verdict> until_decision();
  // Whether the rest must be awaited: a shared limit's store, or a usage answer to read.
  [[nodiscard]] bool awaits() const;
  // The decision and its answer, when awaits() is false.
  Verdict now();
  // The same, whatever awaits() says.
  Task<Verdict> awaiting();

 private:
  [[nodiscard]] bool usage_route() const noexcept;
  void decided(limit::Decided decided);
  Verdict after_decision();

  Worker& worker_;
  ClientHead& request_;
  const RequestOrigin& origin_;
  Exchange& ex_;
  ReadRequest read_;
  std::optional<HeadFacts> facts_;  // views read_ and request_
};

// Where an admitted request goes: its route's fixed response or a 404 when no route takes it
// (both in local_answer()), or an upstream over HTTP/1.1 or HTTP/2. `grpc`: a gRPC call, which
// an `upstream_protocol: auto` route sends over HTTP/2, the only protocol gRPC runs on.
enum class Destination { respond, no_route, http1_upstream, http2_upstream };
[[nodiscard]] Destination destination_of(const Exchange& ex, bool grpc) noexcept;

// The answer to an admitted request bound for `respond` or `no_route`, in HTTP/`version` terms.
Verdict local_answer(const Exchange& ex, Destination destination, bool head_method,
                     unsigned version);

// The rejection of a request its deciding limit rejected.
Rejection rejection_of(const Exchange& ex);

// What a request answered by sluice carries in grpc-status when it is a gRPC call.
unsigned grpc_status_for(const Exchange& ex, AnswerReason reason) noexcept;

}  // namespace sluice::proxy
