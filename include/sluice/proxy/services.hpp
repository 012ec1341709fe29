#pragma once
// What every worker shares: the limiter (bucket table), metrics, the event log, the clock.
// All of it is safe to use from any thread.

#include <atomic>

#include "sluice/core/clock.hpp"
#include "sluice/limit/limiter.hpp"
#include "sluice/observe/event_log.hpp"
#include "sluice/observe/metrics.hpp"

namespace sluice::proxy {

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
        upstream_connections(metrics.gauge(observe::Family::connections, {{"side", "upstream"}})) {}

  void count_local_response(unsigned status) {
    metrics.counter(observe::Family::local_responses_total, {{"status", std::to_string(status)}})
        .fetch_add(1, std::memory_order_relaxed);
  }

  limit::Limiter& limiter;
  observe::Metrics& metrics;
  observe::EventLog& log;
  const Clock& clock;
  observe::Gauge& downstream_connections;
  observe::Gauge& upstream_connections;
  std::atomic<bool> draining{false};
};

}  // namespace sluice::proxy
