#pragma once
// What every worker shares: the limiter (bucket table), metrics, the event log, the clock.
// All of it is safe to use from any thread.

#include <array>
#include <atomic>

#include "sluice/core/clock.hpp"
#include "sluice/limit/limiter.hpp"
#include "sluice/observe/event_log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/proxy/client_connections.hpp"
#include "sluice/proxy/tls.hpp"
#include "sluice/redis/health.hpp"

namespace sluice::proxy {

// Why a new connection was turned away before it was served.
enum class ConnectionRefusal { max_connections, per_client };
inline constexpr ConnectionRefusal kConnectionRefusals[] = {ConnectionRefusal::max_connections,
                                                            ConnectionRefusal::per_client};
constexpr std::string_view to_string(ConnectionRefusal why) noexcept {
  return why == ConnectionRefusal::per_client ? "per_client" : "max_connections";
}

// Why sluice ended an HTTP/2 connection with GOAWAY.
enum class GoawayReason { shutdown, rapid_reset, flood, protocol, idle };
struct GoawayReasonName {
  GoawayReason reason;
  std::string_view name;
};
inline constexpr GoawayReasonName kGoawayReasons[] = {{GoawayReason::shutdown, "shutdown"},
                                                      {GoawayReason::rapid_reset, "rapid_reset"},
                                                      {GoawayReason::flood, "flood"},
                                                      {GoawayReason::protocol, "protocol"},
                                                      {GoawayReason::idle, "idle"}};

// The protocols a request can come by, as logs and metrics name them.
inline constexpr std::string_view kProtocols[] = {"http/1.1", "h2", "h2c"};

class Services {
 public:
  Services(limit::Limiter& limiter, observe::Metrics& metrics, observe::EventLog& log,
           const Clock& clock)
      : limiter(limiter),
        metrics(metrics),
        log(log),
        clock(clock),
        downstream_connections(
            metrics.gauge(observe::Family::connections, {{"side", "downstream"}})),
        upstream_connections(metrics.gauge(observe::Family::connections, {{"side", "upstream"}})),
        http2_streams(metrics.counter(observe::Family::http2_streams_total, {})) {
    for (std::size_t i = 0; i < std::size(kProtocols); ++i) {
      protocols_[i] = &metrics.counter(observe::Family::protocol_requests_total,
                                       {{"protocol", std::string(kProtocols[i])}});
    }
    for (const auto& [reason, name] : kGoawayReasons) {
      goaways_[static_cast<std::size_t>(reason)] =
          &metrics.counter(observe::Family::http2_goaways_total, {{"reason", std::string(name)}});
    }
    for (const ConnectionRefusal why : kConnectionRefusals) {
      refused_[static_cast<std::size_t>(why)] = &metrics.counter(
          observe::Family::connections_refused_total, {{"reason", std::string(to_string(why))}});
    }
    for (const Side side : {Side::downstream, Side::upstream}) {
      for (const HandshakeFailure why : kHandshakeFailures) {
        handshake_failures_[static_cast<std::size_t>(side)][static_cast<std::size_t>(why)] =
            &metrics.counter(
                observe::Family::tls_handshake_failures_total,
                {{"side", std::string(to_string(side))}, {"reason", std::string(to_string(why))}});
      }
    }
  }

  // Counted always; logged at most once a second per reason, with the count held back since.
  void count_refused_connection(ConnectionRefusal why, std::string_view client) {
    refused_[static_cast<std::size_t>(why)]->fetch_add(1, std::memory_order_relaxed);
    log.refused_connection(to_string(why), client);
  }

  void count_protocol(std::string_view protocol) {
    for (std::size_t i = 0; i < std::size(kProtocols); ++i) {
      if (kProtocols[i] == protocol) protocols_[i]->fetch_add(1, std::memory_order_relaxed);
    }
  }

  void count_goaway(GoawayReason why) {
    goaways_[static_cast<std::size_t>(why)]->fetch_add(1, std::memory_order_relaxed);
  }

  // Counted, never logged per connection: a scanner's garbage handshakes would flood the log.
  void count_handshake_failure(Side side, HandshakeFailure why) {
    handshake_failures_[static_cast<std::size_t>(side)][static_cast<std::size_t>(why)]->fetch_add(
        1, std::memory_order_relaxed);
  }

  // Lock-free after a status's first response: the series is looked up (under the registry's
  // lock) once and remembered, since a 429 flood is exactly when this runs most.
  void count_local_response(unsigned status) {
    local_response_counter(status).fetch_add(1, std::memory_order_relaxed);
  }

  // The series of `status` exists from now on, at 0 until counted: alerts on increase() and
  // rate() then see the first one (a series that appears at 1 shows no increase).
  observe::Counter& local_response_counter(unsigned status) {
    if (status >= local_responses_.size()) status = 0;
    observe::Counter* counter = local_responses_[status].load(std::memory_order_acquire);
    if (counter == nullptr) {
      counter = &metrics.counter(observe::Family::local_responses_total,
                                 {{"status", std::to_string(status)}});
      local_responses_[status].store(counter, std::memory_order_release);
    }
    return *counter;
  }

  limit::Limiter& limiter;
  observe::Metrics& metrics;
  observe::EventLog& log;
  const Clock& clock;
  observe::Gauge& downstream_connections;
  observe::Gauge& upstream_connections;
  observe::Counter& http2_streams;
  ClientConnections client_connections;   // kept only with http.max_connections_per_client
  redis::Health* redis_health = nullptr;  // set when the config has a redis: block
  std::atomic<bool> draining{false};

 private:
  std::array<std::atomic<observe::Counter*>, 600> local_responses_{};  // by status code
  std::array<std::array<observe::Counter*, std::size(kHandshakeFailures)>, 2> handshake_failures_{};
  std::array<observe::Counter*, std::size(kConnectionRefusals)> refused_{};
  std::array<observe::Counter*, std::size(kGoawayReasons)> goaways_{};
  std::array<observe::Counter*, std::size(kProtocols)> protocols_{};
};

}  // namespace sluice::proxy
