// A request's way from its parsed head to a decision: its facts, its route, its keys and limits,
// and the answers given without the upstream when it is refused or rejected.
#include <algorithm>

#include "sluice/core/token.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/proxy/exchange.hpp"
#include "sluice/proxy/request_checks.hpp"
#include "sluice/proxy/session.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::proxy {
namespace {

constexpr std::size_t kMaxRequestIdBytes = 128;
constexpr const char* kAllowedMethods = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE";

}  // namespace

// Reads the request's facts into `ex`, matches its route and decides on its limits. A request
// answered here (refused, or rejected by a limit) says whether the connection is kept; an
// admitted one (allowed or delayed) is to be forwarded. Its own coroutine so that the responses it
// may build are not in the frame of serve(), which a delayed request keeps while it waits.
asio::awaitable<Session::Admission> Session::admit(RequestParser& parser, Exchange& ex) {
  Services& services = worker_.services();
  ex.started = services.clock.now();
  ex.runtime = worker_.runtime();
  const config::Config& config = *ex.runtime->config;
  auto& request = parser.get();
  ex.version = request.version() == kHttp10 ? kHttp10 : kHttp11;
  ex.method = std::string(view(request.method_string()));
  ex.client = peer_text_;
  ex.counters = &ex.runtime->unmatched;
  const auto incoming_id = view(request["X-Request-Id"]);
  ex.request_id = incoming_id.size() <= kMaxRequestIdBytes && is_token(incoming_id)
                      ? std::string(incoming_id)
                      : worker_.next_request_id();

  auto reading = read_request(request, parser.chunked(), peer_, config);
  if (auto* refusal = std::get_if<Refusal>(&reading)) {
    // Logged as sent (read_request rewrites the target only when it succeeds), and masked: a
    // request refused before its route is known carries key parameters too.
    ex.target = std::string(view(request.target()));
    ex.logged_path = limit::masked_target(ex.runtime->key_parameters, ex.target);
    auto res = make_error(refusal->status, refusal->detail, ex.version);
    if (refusal->status == 405) res.set(http::field::allow, kAllowedMethods);
    co_await write_local(std::move(res), false, &ex);
    co_return Admission::answered_close;
  }
  const ReadRequest& read = std::get<ReadRequest>(reading);
  const Target& target = read.target;
  const std::string& client_key = read.client_key;
  ex.target = target.forwarded;
  ex.logged_path = limit::masked_target(ex.runtime->key_parameters, ex.target);
  ex.client = read.client.to_string();
  ex.route = read.route;
  ex.counters = &ex.runtime->of(ex.route);
  if (ex.route != nullptr && ex.route->upstream) {
    ex.upstream = &*ex.route->upstream;
  } else if (ex.route == nullptr && config.upstream) {
    ex.upstream = &*config.upstream;
  }

  if (ex.route != nullptr && !ex.route->policy.limits.empty()) {
    const limit::RoutePolicy& policy = ex.route->policy;
    const HeadFacts facts(request, target.query, {.key = client_key, .cert = client_cert_});
    if (auto problem = limit::key_input_problem(policy, facts); !problem.empty()) {
      co_return answered(
          co_await refuse_ambiguous(ex, problem, parser.is_done() && request.keep_alive()));
    }
    if (policy.any_shared() && worker_.shared() != nullptr) {
      ex.decision = co_await worker_.shared()->decide(policy, facts, ex.shared);
      ex.store = redis::store_name(ex.shared.path, worker_.shared()->on_error());
      if (ex.shared.path == redis::SharedTicket::Path::fallback) {
        ex.counters->redis_fallbacks->fetch_add(1, std::memory_order_relaxed);
      }
    } else {
      ex.decision = services.limiter.decide(policy, facts, services.clock.now());
    }
    ex.decided_unix_ms = observe::unix_now_ms();
    ex.ratelimit = ratelimit_value(policy, ex.decision);
    if (ex.decision.throttled()) {
      ex.logged_key = config.log.show_keys
                          ? ex.decision.key
                          : limit::render_key(policy.limits[ex.decision.deciding].key, facts,
                                              limit::KeyText::digest);
    }
  }
  ex.counters->count(ex.decision.outcome);

  if (ex.decision.outcome == limit::Outcome::rejected) {
    const auto& limit = ex.route->policy.limits[ex.decision.deciding];
    const bool keep = parser.is_done() && request.keep_alive();
    if (ex.shared.unavailable) {
      // Fail closed (redis.on_error: reject): the store of the shared limit is out, not the
      // client over it.
      auto res = make_error(503, "the shared rate limit store is unavailable", ex.version);
      res.set(http::field::retry_after, "1");
      co_return answered(co_await write_local(std::move(res), keep, &ex));
    }
    Rejection r{ex.route->status,
                ex.route->name,
                limit.describe(),
                std::max<std::int64_t>(1, ceil_seconds(ex.decision.retry_after)),
                ex.counters->policy_header,
                ex.ratelimit};
    co_return answered(co_await write_local(make_rejection(r, ex.version), keep, &ex));
  }
  co_return Admission::forward;
}

// A key header or parameter sent twice (or undecodable): which one counts depends on the upstream's
// framework, so neither does. Logged, so operators see the attempts.
asio::awaitable<bool> Session::refuse_ambiguous(Exchange& ex, const std::string& problem,
                                                bool keep_alive) {
  worker_.services().log.message(observe::Level::warn, "rejected_request",
                                 {{"route", ex.route->name},
                                  {"reason", problem},
                                  {"status", "400", true},
                                  {"method", observe::sanitize(ex.method)},
                                  {"path", observe::sanitize(ex.logged_path)},
                                  {"client", ex.client},
                                  {"request_id", observe::sanitize(ex.request_id)}});
  co_return co_await write_local(make_error(400, problem, ex.version), keep_alive, &ex);
}

}  // namespace sluice::proxy
