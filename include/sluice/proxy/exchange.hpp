#pragma once
// One request's state on its way through a session, and the log lines it ends with.

#include <memory>
#include <string>

#include "sluice/config/config.hpp"
#include "sluice/limit/limiter.hpp"
#include "sluice/limit/overrides.hpp"
#include "sluice/proxy/limits.hpp"
#include "sluice/proxy/request_checks.hpp"
#include "sluice/proxy/request_head.hpp"
#include "sluice/proxy/runtime.hpp"
#include "sluice/proxy/services.hpp"

namespace sluice::proxy {

inline constexpr unsigned kClientClosedRequest = 499;  // nginx's status for a client that left

struct Exchange {
  std::shared_ptr<const Runtime> runtime;
  const config::Route* route = nullptr;
  const config::UpstreamTarget* upstream = nullptr;
  const RouteRuntime* counters = nullptr;
  // The limits this request meets: its route's, or those its key's overrides make of them
  // (in `resolved`); null when an override lifts them all or denies the key.
  const limit::RoutePolicy* policy = nullptr;
  // Only on a route with overrides: inline, it took 168 bytes of every held request.
  std::unique_ptr<limit::ResolvedPolicy> resolved;
  std::string policy_header;  // RateLimit-Policy when overrides apply; else the route's:
  const std::string* route_policy_header = nullptr;  // for the quota period in force, if any
  limit::Decision decision;
  LimitTicket ticket;                // where it was taken, and what giving it back needs
  std::int64_t decided_unix_ms = 0;  // when the decision was taken: the throttled line's ts
  std::string ratelimit;             // RateLimit value; empty when the route is unlimited
  std::string usage;                 // a usage route's answer (proxy/usage.hpp)
  std::string method;
  std::string target;       // as forwarded: the canonical form
  std::string logged_path;  // the target with key parameter values masked
  std::string logged_key;   // the deciding key as logs show it (digests unless show_keys)
  std::string client;
  std::string request_id;
  unsigned version = kHttp11;
  std::string_view protocol = "http/1.1";  // as logs name it: http/1.1, h2 or h2c
  static constexpr unsigned kNoGrpcStatus = ~0U;
  unsigned grpc_status = kNoGrpcStatus;  // what sluice answered a gRPC call itself
  Nanos started = 0;
  Nanos upstream_ns = 0;
  unsigned status = 0;
  std::uint64_t bytes = 0;

  // What the forwarding fields of the upstream's request say: the client reached sluice from
  // `peer` (over TLS or not), and Host is the upstream's own when the route says so
  // (host_header: upstream).
  [[nodiscard]] Forwarding forwarding(std::string_view peer, bool tls) const {
    const auto rule = route != nullptr ? route->host_header : upstream->default_host_header();
    return {.peer = peer,
            .version = version,
            .tls = tls,
            .request_id = request_id,
            .authority = rule == config::HostHeader::upstream ? upstream->authority() : ""};
  }
  // The body of a `respond:` route's answer.
  [[nodiscard]] const std::string& respond_body() const noexcept {
    return route->respond->usage ? usage : route->respond->body;
  }
  [[nodiscard]] const std::string& ratelimit_policy() const noexcept {
    if (!policy_header.empty()) return policy_header;
    return route_policy_header != nullptr ? *route_policy_header : counters->policy_header;
  }
  // The limit that decided a throttled request (for a denied one, the limit the override stands
  // on), and the override applied to it, if any.
  [[nodiscard]] const limit::LimitPolicy& deciding_limit() const noexcept {
    return decision.outcome == limit::Outcome::denied ? *resolved->denied_on
                                                      : policy->limits[decision.deciding];
  }
  // How logs and answers name what decided: "5/10s", or "100000/month" for a quota.
  [[nodiscard]] std::string deciding_limit_text() const {
    const limit::LimitPolicy& limit = deciding_limit();
    return decision.by_quota && limit.quota ? limit.quota->describe() : limit.describe();
  }
  [[nodiscard]] const limit::Override* deciding_override() const noexcept {
    if (decision.outcome == limit::Outcome::denied) return resolved->denying;
    return resolved && resolved->kind == limit::ResolvedPolicy::Kind::overridden
               ? resolved->applied[decision.deciding]
               : nullptr;
  }
};

// The RateLimit-Policy and RateLimit headers of a limited route's response: on a forwarded
// response, a `respond` route's answer and a tunnel's 101 alike (a rejection builds its own).
template <class Fields>
void add_ratelimit_headers(Fields& fields, const Exchange& ex) {
  if (ex.ratelimit.empty()) return;
  fields.set("RateLimit-Policy", ex.ratelimit_policy());
  fields.set("RateLimit", ex.ratelimit);
}

// An upstream exchange that failed: counted always, logged within the log budget of
// upstream_error events, whatever protocol either side speaks.
void report_upstream_error(Services& services, const Exchange& ex, UpstreamError kind,
                           std::string error, unsigned status);

// The end of every exchange: counted by protocol; the `throttled` event of a throttled request
// and, with log.access, its `access` event.
void log_exchange(Services& services, const Exchange& ex);

}  // namespace sluice::proxy
