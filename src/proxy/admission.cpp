// A request's way from its parsed head to a decision: its facts, its route, its keys and limits,
// and the answers given without the upstream when it is refused or rejected. Protocol-neutral:
// HTTP/1.1 and HTTP/2 connections both run exactly this.
#include "sluice/proxy/admission.hpp"

#include <algorithm>

#include "sluice/core/token.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/proxy/request_checks.hpp"
#include "sluice/proxy/usage.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::proxy {
namespace {

constexpr std::size_t kMaxRequestIdBytes = 128;
constexpr const char* kAllowedMethods = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE";

// A key header or parameter sent twice (or undecodable): which one counts depends on the
// upstream's framework, so neither does. Logged, so operators see the attempts.
Verdict refuse_ambiguous(Services& services, const Exchange& ex, const std::string& problem) {
  services.log.message(observe::Level::warn, "rejected_request",
                       {{"route", ex.route->name},
                        {"reason", problem},
                        {"status", "400", true},
                        {"method", observe::sanitize(ex.method)},
                        {"path", observe::sanitize(ex.logged_path)},
                        {"client", ex.client},
                        {"request_id", observe::sanitize(ex.request_id)}});
  return Verdict::answer(make_error(400, problem, ex.version), AnswerReason::refused, problem);
}

// An override denies the key: 403 whatever the buckets hold, counted and logged as `denied`.
Verdict deny(Exchange& ex, const limit::RequestFacts& facts) {
  const config::Config& config = *ex.runtime->config;
  const limit::LimitPolicy& limit = *ex.resolved->denied_on;
  ex.decision.outcome = limit::Outcome::denied;
  ex.decided_unix_ms = observe::unix_now_ms();
  ex.logged_key = limit::render_key(
      limit.key, facts, config.log.show_keys ? limit::KeyText::raw : limit::KeyText::digest);
  ex.counters->count(ex.decision.outcome);
  const std::string detail = "the key is denied on route " + ex.route->name;
  return Verdict::answer(make_error(403, detail, ex.version), AnswerReason::denied, detail);
}

}  // namespace

Admitting::Admitting(Worker& worker, ClientHead& request, const RequestOrigin& origin, Exchange& ex)
    : worker_(worker), request_(request), origin_(origin), ex_(ex) {}

std::optional<Verdict> Admitting::until_decision() {
  Worker& worker = worker_;
  ClientHead& request = request_;
  const RequestOrigin& origin = origin_;
  Exchange& ex = ex_;
  Services& services = worker.services();
  ex.started = services.clock.now();
  ex.runtime = worker.runtime();
  const config::Config& config = *ex.runtime->config;
  ex.version = request.version() == kHttp10 ? kHttp10 : kHttp11;
  ex.method = std::string(request.method_string());
  ex.client = std::string(origin.peer_text);
  ex.counters = &ex.runtime->unmatched;
  const auto incoming_id = request["X-Request-Id"];
  ex.request_id = incoming_id.size() <= kMaxRequestIdBytes && is_token(incoming_id)
                      ? std::string(incoming_id)
                      : worker.next_request_id();

  auto reading = read_request(request, origin.chunked, origin.peer, origin.peer_text, config);
  if (auto* refusal = std::get_if<Refusal>(&reading)) {
    // Logged as sent (read_request rewrites the target only when it succeeds), and masked: a
    // request refused before its route is known carries key parameters too.
    ex.target = std::string(request.target());
    ex.logged_path = limit::masked_target(ex.runtime->key_parameters, ex.target);
    auto res = make_error(refusal->status, refusal->detail, ex.version);
    if (refusal->status == 405) res.set(http::field::allow, kAllowedMethods);
    return Verdict::answer(std::move(res), AnswerReason::refused, refusal->detail, true);
  }
  read_ = std::move(std::get<ReadRequest>(reading));
  const Target& target = read_.target;
  ex.target = target.forwarded;
  ex.logged_path = limit::masked_target(ex.runtime->key_parameters, ex.target);
  ex.client = read_.client_text;
  ex.route = read_.route;
  ex.counters = &ex.runtime->of(ex.route);
  if (ex.route != nullptr && ex.route->upstream) {
    ex.upstream = &*ex.route->upstream;
  } else if (ex.route == nullptr && config.upstream) {
    ex.upstream = &*config.upstream;
  }

  facts_.emplace(request, target.query,
                 HeadFacts::Client{.key = read_.client_key, .cert = origin.client_cert});
  const HeadFacts& facts = *facts_;
  if (ex.route != nullptr && !ex.route->policy.limits.empty()) {
    if (auto problem = limit::key_input_problem(ex.route->policy, facts); !problem.empty()) {
      return refuse_ambiguous(services, ex, problem);
    }
    ex.policy = &ex.route->policy;
    if (ex.route->policy.any_overrides()) {
      ex.resolved = std::make_unique<limit::ResolvedPolicy>();
      switch (limit::resolve_overrides(ex.route->policy, facts, *ex.resolved)) {
        case limit::ResolvedPolicy::Kind::as_configured:
          break;
        case limit::ResolvedPolicy::Kind::overridden:
          ex.policy = &ex.resolved->policy;
          ex.policy_header = ratelimit_policy_value(ex.resolved->policy, services.clock.unix_ns());
          break;
        case limit::ResolvedPolicy::Kind::unlimited:
          ex.policy = nullptr;
          break;
        case limit::ResolvedPolicy::Kind::denied:
          return deny(ex, facts);
      }
    }
  }
  if (ex.policy != nullptr && ex.policy->any_quota() && ex.policy_header.empty()) {
    ex.route_policy_header = &ex.counters->policy_header_at(services.clock.unix_ns());
  }
  return std::nullopt;
}

bool Admitting::awaits() const {
  return (ex_.policy != nullptr && worker_.limits().waits_for_store(*ex_.policy)) || usage_route();
}

bool Admitting::usage_route() const noexcept {
  return ex_.route != nullptr && ex_.route->respond && ex_.route->respond->usage;
}

Verdict Admitting::now() {
  if (ex_.policy != nullptr) {
    decided(worker_.limits().decide_now(*ex_.policy, *facts_, origin_.max_wait, ex_.ticket));
  }
  return after_decision();
}

Task<Verdict> Admitting::awaiting() {
  if (ex_.policy != nullptr) {
    Limits& limits = worker_.limits();
    if (limits.waits_for_store(*ex_.policy)) {
      decided(co_await limits.decide(*ex_.policy, *facts_, origin_.max_wait, ex_.ticket));
    } else {
      decided(limits.decide_now(*ex_.policy, *facts_, origin_.max_wait, ex_.ticket));
    }
  }
  Verdict verdict = after_decision();
  if (verdict.next == Verdict::Next::forward && usage_route()) {
    const config::Config& config = *ex_.runtime->config;
    Services& services = worker_.services();
    Usage usage(config, *ex_.route, *facts_, services.limiter, services.clock.instant());
    co_await worker_.limits().read(usage);
    ex_.usage = usage.to_json();
  }
  co_return verdict;
}

void Admitting::decided(limit::Decided decided) {
  Exchange& ex = ex_;
  const limit::RoutePolicy& policy = *ex.policy;
  if (ex.ticket.fell_back()) {
    ex.counters->redis_fallbacks->fetch_add(1, std::memory_order_relaxed);
  }
  ex.decided_unix_ms = observe::unix_now_ms();
  ex.ratelimit = ratelimit_value(policy, decided);
  ex.decision = std::move(decided).held();
  if (ex.decision.throttled()) {
    ex.logged_key = ex.runtime->config->log.show_keys
                        ? ex.decision.key
                        : limit::render_key(policy.limits[ex.decision.deciding].key, *facts_,
                                            limit::KeyText::digest);
  }
}

Verdict Admitting::after_decision() {
  Exchange& ex = ex_;
  ex.counters->count(ex.decision.outcome);
  if (ex.decision.outcome != limit::Outcome::rejected) return Verdict::forward();
  if (ex.ticket.store_unavailable()) {
    // Fail closed (redis.on_error: reject): the store of the shared limit is out, not the
    // client over it.
    static constexpr std::string_view kStoreOut = "the shared rate limit store is unavailable";
    auto res = make_error(503, kStoreOut, ex.version);
    res.set(http::field::retry_after, "1");
    return Verdict::answer(std::move(res), AnswerReason::store_unavailable, std::string(kStoreOut));
  }
  const Rejection rejection = rejection_of(ex);
  std::string detail = ex.ticket.past_deadline
                           ? "the call's deadline comes before its turn under rate limit " +
                                 rejection.limit + " of route " + rejection.route
                           : std::string(rejection.what) + " " + rejection.limit + " of route " +
                                 rejection.route + " exceeded";
  return Verdict::answer(make_rejection(rejection, ex.version), AnswerReason::rejected,
                         std::move(detail));
}

Task<Verdict> admit(Worker& worker, ClientHead& request, const RequestOrigin& origin,
                    Exchange& ex) {
  Admitting admitting(worker, request, origin, ex);
  if (auto answered = admitting.until_decision()) co_return std::move(*answered);
  co_return co_await admitting.awaiting();
}

Destination destination_of(const Exchange& ex, bool grpc) noexcept {
  if (ex.route != nullptr && ex.route->respond) return Destination::respond;
  if (ex.upstream == nullptr) return Destination::no_route;
  const config::UpstreamProtocol protocol =
      ex.route != nullptr ? ex.route->upstream_protocol : ex.runtime->config->upstream_protocol;
  const bool over_h2 = protocol == config::UpstreamProtocol::http2 ||
                       (protocol == config::UpstreamProtocol::automatic && grpc);
  return over_h2 ? Destination::http2_upstream : Destination::http1_upstream;
}

Verdict local_answer(const Exchange& ex, Destination destination, bool head_method,
                     unsigned version) {
  if (destination == Destination::respond) {
    const config::Respond& respond = *ex.route->respond;
    auto res = make_text(respond.status, ex.respond_body(), respond.content_type, version);
    if (respond.usage) res.set(http::field::cache_control, "no-store");  // one caller's own
    add_ratelimit_headers(res, ex);
    if (head_method) res.body().clear();
    return Verdict::answer(std::move(res), AnswerReason::refused, {});
  }
  static constexpr std::string_view kNoRoute = "no route matches and no default upstream is set";
  return Verdict::answer(make_error(404, kNoRoute, version), AnswerReason::not_found,
                         std::string(kNoRoute));
}

Rejection rejection_of(const Exchange& ex) {
  return {ex.route->status,
          ex.route->name,
          ex.deciding_limit_text(),
          std::max<std::int64_t>(1, ceil_seconds(ex.decision.retry_after)),
          ex.ratelimit_policy(),
          ex.ratelimit,
          ex.decision.by_quota ? "quota" : "rate limit"};
}

unsigned grpc_status_for(const Exchange& ex, AnswerReason reason) noexcept {
  // gRPC status codes (grpc/status.h): sluice's own answers in the client's terms.
  constexpr unsigned kInvalidArgument = 3, kDeadlineExceeded = 4, kPermissionDenied = 7,
                     kUnimplemented = 12, kUnavailable = 14, kInternal = 13;
  switch (reason) {
    case AnswerReason::rejected:
      return ex.route->grpc_status;
    case AnswerReason::denied:
      return kPermissionDenied;
    case AnswerReason::refused:
      return kInvalidArgument;
    case AnswerReason::not_found:
      return kUnimplemented;
    case AnswerReason::store_unavailable:
    case AnswerReason::upstream_unreachable:
    case AnswerReason::upstream_failed:
      return kUnavailable;
    case AnswerReason::upstream_timeout:
    case AnswerReason::client_timeout:
      return kDeadlineExceeded;
  }
  return kInternal;
}

}  // namespace sluice::proxy
