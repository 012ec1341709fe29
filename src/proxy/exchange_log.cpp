#include "sluice/proxy/exchange.hpp"

namespace sluice::proxy {

void report_upstream_error(Services& services, const Exchange& ex, UpstreamError kind,
                           std::string error, unsigned status) {
  ex.counters->count(kind);
  services.log.upstream_error({.route = ex.counters->name,
                               .upstream = ex.upstream->url,
                               .kind = std::string(to_string(kind)),
                               .error = std::move(error),
                               .status = status,
                               .request_id = ex.request_id});
}

void log_exchange(Services& services, const Exchange& ex) {
  services.count_protocol(ex.protocol);
  const Nanos now = services.clock.now();
  const std::string route = ex.route != nullptr ? ex.route->name : "";
  const std::string decision(limit::to_string(ex.decision.outcome));
  const int grpc_status =
      ex.grpc_status == Exchange::kNoGrpcStatus ? -1 : static_cast<int>(ex.grpc_status);
  if (ex.decision.throttled()) {
    const auto& limit = ex.deciding_limit();
    const limit::Override* applied = ex.deciding_override();
    services.log.throttled({.route = route,
                            .key = ex.logged_key,
                            .decision = decision,
                            .limit = ex.deciding_limit_text(),
                            .weight = limit.weight,
                            .delay_ms = ex.decision.wait / kNanosPerMilli,
                            .retry_after_s = ceil_seconds(ex.decision.retry_after),
                            .status = ex.status,
                            .method = ex.method,
                            .path = ex.logged_path,
                            .client = ex.client,
                            .request_id = ex.request_id,
                            .protocol = std::string(ex.protocol),
                            .grpc_status = grpc_status,
                            .store = std::string(ex.ticket.store),
                            .override_label = applied != nullptr ? applied->label : "",
                            .decided_unix_ms = ex.decided_unix_ms});
  }
  if (services.log.access_enabled()) {
    services.log.access({.route = route,
                         .decision = decision,
                         .method = ex.method,
                         .path = ex.logged_path,
                         .client = ex.client,
                         .request_id = ex.request_id,
                         .protocol = std::string(ex.protocol),
                         .grpc_status = grpc_status,
                         .status = ex.status,
                         .duration_ms = (now - ex.started) / kNanosPerMilli,
                         .upstream_ms = ex.upstream_ns / kNanosPerMilli,
                         .bytes = ex.bytes});
  }
}

}  // namespace sluice::proxy
