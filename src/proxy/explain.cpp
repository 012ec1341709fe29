#include "sluice/proxy/explain.hpp"

#include <cmath>
#include <optional>

#include "sluice/config/router.hpp"
#include "sluice/core/json.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/limit/overrides.hpp"
#include "sluice/proxy/request_checks.hpp"

namespace sluice::proxy {
namespace {

void field(std::string& out, std::string_view name) {
  if (out.back() != '{') out += ',';
  append_json_string(out, name);
  out += ':';
}

std::string number(double value) {
  if (value == std::floor(value) && std::abs(value) < 1e15) {
    return std::to_string(static_cast<long long>(value));
  }
  return std::to_string(value);
}

// What a request would meet on one limit, or on them all: the wait its claims need.
struct Verdict {
  std::string decision = "allowed";
  Nanos wait = 0;         // delayed
  Nanos retry_after = 0;  // rejected
};
Verdict verdict_for(Nanos wait, const limit::RoutePolicy& policy) {
  Verdict v;
  if (wait <= 0) return v;
  if (wait <= policy.max_wait()) {
    v.decision = "delayed";
    v.wait = wait;
  } else {
    v.decision = "rejected";
    v.retry_after = wait - policy.max_wait();
  }
  if (policy.dry_run) v.decision = "dry_run_" + v.decision;
  return v;
}

void append_verdict(std::string& out, const Verdict& v) {
  field(out, "decision");
  append_json_string(out, v.decision);
  if (v.wait > 0) {
    field(out, "wait_ms");
    out += std::to_string((v.wait + kNanosPerMilli - 1) / kNanosPerMilli);
  }
  if (v.retry_after > 0) {
    field(out, "retry_after_s");
    out += std::to_string((v.retry_after + kNanosPerSecond - 1) / kNanosPerSecond);
  }
}

// What every item of `limits` starts with; false when its level lives in Redis (the item is then
// closed with null levels).
struct Head {
  std::string_view policy;
  const limit::Override* applied;
  std::string_view logged_key;
  std::string limit;
  bool shared;
};
// `shared_read`: what Redis holds for a shared limit under `live` (nullopt: unknown).
bool append_head(std::string& out, const Head& head, const LiveBuckets* live,
                 const std::optional<std::int64_t>& shared_read) {
  const auto& [policy, applied, logged_key, limit_text, shared] = head;
  out += '{';
  field(out, "policy");
  append_json_string(out, policy);
  field(out, "override");
  if (applied != nullptr) {
    append_json_string(out, applied->label);
  } else {
    out += "null";
  }
  field(out, "key");
  append_json_string(out, logged_key);
  field(out, "limit");
  append_json_string(out, limit_text);
  field(out, "shared");
  out += shared ? "true" : "false";
  if (live != nullptr && shared && !shared_read) {
    out += ",\"level\":null,\"remaining\":null,\"decision\":null}";
    return false;
  }
  return true;
}

std::optional<std::int64_t> read_shared(const LiveBuckets* live, const limit::LimitPolicy& limit,
                                        const std::string& key, bool quota) {
  if (live == nullptr || !limit.shared || !live->shared) return std::nullopt;
  return live->shared(limit, key, quota);
}

// One limit as the request meets it, `key` its rendered key; returns the wait it needs (0 for a
// shared limit under `live`: Redis holds its level).
Nanos append_limit(std::string& out, const limit::RoutePolicy& policy, std::size_t k,
                   const limit::Override* applied, const std::string& key,
                   const std::string& logged_key, const LiveBuckets* live) {
  const limit::LimitPolicy& limit = policy.limits[k];
  const auto shared_backlog = read_shared(live, limit, key, false);
  if (!append_head(out, {limit.policy_name, applied, logged_key, limit.describe(), limit.shared},
                   live, shared_backlog)) {
    return 0;
  }
  Nanos tat = limit::kFreshTat;
  const Nanos now = live != nullptr ? live->now : 0;
  if (shared_backlog) {
    tat = now + *shared_backlog;
  } else if (live != nullptr) {
    tat = live->limiter.table().load(live->limiter.id_of(limit, key));
  }
  const limit::BucketView v = limit::view(tat, now, limit.rate);
  field(out, "level");
  out += number(std::round(v.level * 1000) / 1000);
  field(out, "remaining");
  out += std::to_string(v.remaining);
  const Nanos wait = limit::earliest_fit(tat, now, limit.claim()) - now;
  append_verdict(out, verdict_for(wait, policy));
  out += '}';
  return wait;
}

// A limit's quota as the request meets it: an item of its own, as in RateLimit-Policy. Returns
// the time to the reset when the quota has no room (a quota never delays), else 0.
Nanos append_quota(std::string& out, const limit::RoutePolicy& policy, std::size_t k,
                   const limit::Override* applied, const std::string& key,
                   const std::string& logged_key, const LiveBuckets* live) {
  const limit::LimitPolicy& limit = policy.limits[k];
  const std::int64_t unix_ns = live != nullptr ? live->unix_ns : unix_now_ns();
  const limit::QuotaWindow window = limit::quota_window(limit.quota->per, unix_ns);
  out += ',';
  const std::string policy_name = limit.quota_policy_name();
  const auto shared_used = read_shared(live, limit, key, true);
  if (!append_head(out, {policy_name, applied, logged_key, limit.quota->describe(), limit.shared},
                   live, shared_used)) {
    return 0;
  }
  std::int64_t used = 0;
  if (shared_used) {
    used = *shared_used;
  } else if (live != nullptr) {
    used = live->limiter.quotas().used(live->limiter.quota_id_of(limit, key), window);
  }
  field(out, "level");
  out += number(static_cast<double>(used) / limit::kQuotaScale);
  field(out, "remaining");
  out += std::to_string(limit::quota_remaining(*limit.quota, used));
  field(out, "reset_s");
  out += std::to_string(ceil_seconds(window.end - unix_ns));
  Verdict v;
  if (used + limit::quota_cost(limit.weight) > limit.quota->capacity()) {
    v.decision = policy.dry_run ? "dry_run_rejected" : "rejected";
    v.retry_after = window.end - unix_ns;
  }
  append_verdict(out, v);
  out += '}';
  return v.retry_after;
}

}  // namespace

std::string explain(const config::Config& config, const ExplainRequest& request, std::string& error,
                    const LiveBuckets* live) {
  const auto peer = IpAddress::parse(request.client);
  if (!peer) {
    error = "client " + request.client + " is not an IP address";
    return {};
  }
  ClientHead head;
  head.version(11);
  head.method_string(request.method);
  head.target(request.target);
  for (const auto& [name, value] : request.headers) head.insert(name, value);
  if (head.count(http::field::host) == 0) head.set(http::field::host, "localhost");
  auto reading = read_request(head, false, *peer, peer->to_string(), config);
  if (const auto* refusal = std::get_if<Refusal>(&reading)) {
    error = "sluice would refuse this request (" + std::to_string(refusal->status) +
            "): " + refusal->detail;
    return {};
  }
  const ReadRequest& read = std::get<ReadRequest>(reading);
  const HeadFacts facts(head, read.target.query, {.key = read.client_key, .cert = {}});
  const bool show_keys = config.log.show_keys;

  std::string out = "{";
  field(out, "route");
  if (read.route != nullptr) {
    append_json_string(out, read.route->name);
  } else {
    out += "null";
  }
  field(out, "skipped");
  out += '[';
  for (const config::Route& route : config.routes) {
    if (&route == read.route) break;
    if (out.back() != '[') out += ',';
    out += '{';
    field(out, "route");
    append_json_string(out, route.name);
    field(out, "why");
    append_json_string(out, config::mismatch(route, view(head.method_string()), read.target.path,
                                             read.target.host));
    out += '}';
  }
  out += ']';

  std::string decision = "unlimited";
  std::optional<Verdict> overall;  // set when the request meets limits
  std::string keys = "[";
  std::string limits = "[";
  std::string problem;
  if (read.route != nullptr && !read.route->policy.limits.empty()) {
    const limit::RoutePolicy& configured = read.route->policy;
    problem = limit::key_input_problem(configured, facts);
    limit::ResolvedPolicy resolved;
    const auto kind = problem.empty() ? limit::resolve_overrides(configured, facts, resolved)
                                      : limit::ResolvedPolicy::Kind::as_configured;
    if (!problem.empty()) {
      decision = "refused";
    } else if (kind == limit::ResolvedPolicy::Kind::denied) {
      decision = "denied";
      append_json_string(
          keys, limit::render_key(resolved.denied_on->key, facts,
                                  show_keys ? limit::KeyText::raw : limit::KeyText::digest));
      limits += '{';
      field(limits, "policy");
      append_json_string(limits, resolved.denied_on->policy_name);
      field(limits, "override");
      append_json_string(limits, resolved.denying->label);
      field(limits, "decision");
      limits += "\"denied\"}";
    } else if (kind != limit::ResolvedPolicy::Kind::unlimited) {
      const bool overridden = kind == limit::ResolvedPolicy::Kind::overridden;
      const limit::RoutePolicy& policy = overridden ? resolved.policy : configured;
      Nanos wait = 0;
      Nanos until_reset = 0;  // a quota without room: rejected until its reset
      for (std::size_t k = 0; k < policy.limits.size(); ++k) {
        const limit::LimitPolicy& limit = policy.limits[k];
        const limit::Override* applied = overridden ? resolved.applied[k] : nullptr;
        const std::string key = limit::render_key(limit.key, facts);
        const std::string logged =
            show_keys ? key : limit::render_key(limit.key, facts, limit::KeyText::digest);
        if (limits.back() != '[') limits += ',';
        wait = std::max(wait, append_limit(limits, policy, k, applied, key, logged, live));
        if (limit.quota) {
          until_reset =
              std::max(until_reset, append_quota(limits, policy, k, applied, key, logged, live));
        }
        if (keys.back() != '[') keys += ',';
        append_json_string(keys, logged);
      }
      overall = verdict_for(wait, policy);
      if (until_reset > 0) {
        overall = Verdict{policy.dry_run ? "dry_run_rejected" : "rejected", 0, until_reset};
      }
    }
  }
  limits += ']';
  keys += ']';
  field(out, "keys");
  out += keys;
  field(out, "limits");
  out += limits;
  if (overall) {
    append_verdict(out, *overall);
  } else {
    field(out, "decision");
    append_json_string(out, decision);
  }
  if (!problem.empty()) {
    field(out, "why");
    append_json_string(out, problem);
  }
  out += '}';
  return out;
}

}  // namespace sluice::proxy
