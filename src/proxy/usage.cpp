#include "sluice/proxy/usage.hpp"

#include "sluice/core/json.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/limit/overrides.hpp"

namespace sluice::proxy {
namespace {

struct Item {
  std::string_view route;
  std::string policy;
  std::string limit;
  std::int64_t period_s = 0;
  bool known = true;  // false: a shared limit, whose level is in Redis
  std::int64_t remaining = 0;
  std::int64_t reset_s = 0;
};

void append(std::string& out, const Item& item) {
  if (out.back() != '[') out += ',';
  out += "{\"route\":";
  append_json_string(out, item.route);
  out += ",\"policy\":";
  append_json_string(out, item.policy);
  out += ",\"limit\":";
  append_json_string(out, item.limit);
  out += ",\"period_s\":" + std::to_string(item.period_s);
  if (item.known) {
    out += ",\"remaining\":" + std::to_string(item.remaining) +
           ",\"reset_s\":" + std::to_string(item.reset_s) + '}';
  } else {
    out += ",\"remaining\":null,\"reset_s\":null}";
  }
}

}  // namespace

std::string usage_json(const config::Config& config, const config::Route& usage_route,
                       const limit::RequestFacts& request, const limit::Limiter& limiter,
                       Instant now) {
  const std::string usage_key = usage_route.respond->usage_key.to_string();
  std::string out = "{\"limits\":[";
  limit::ResolvedPolicy resolved;
  for (const config::Route& route : config.routes) {
    if (&route == &usage_route || route.policy.limits.empty()) continue;
    const bool keyed_alike =
        std::any_of(route.policy.limits.begin(), route.policy.limits.end(),
                    [&](const limit::LimitPolicy& l) { return l.key.to_string() == usage_key; });
    if (!keyed_alike || !limit::key_input_problem(route.policy, request).empty()) continue;
    const limit::RoutePolicy* policy = &route.policy;
    switch (limit::resolve_overrides(route.policy, request, resolved)) {
      case limit::ResolvedPolicy::Kind::as_configured:
        break;
      case limit::ResolvedPolicy::Kind::overridden:
        policy = &resolved.policy;
        break;
      case limit::ResolvedPolicy::Kind::unlimited:
      case limit::ResolvedPolicy::Kind::denied:
        continue;  // nothing to spend there
    }
    for (const limit::LimitPolicy& l : policy->limits) {
      if (l.key.to_string() != usage_key) continue;
      const std::string key = limit::render_key(l.key, request);
      Item rate{.route = route.name,
                .policy = l.policy_name,
                .limit = l.describe(),
                .period_s = ceil_seconds(l.rate.period),
                .known = !l.shared};
      if (rate.known) {
        const limit::BucketView v =
            limit::view(limiter.table().load(limiter.id_of(l, key)), now.steady, l.rate);
        rate.remaining = v.remaining;
        rate.reset_s = ceil_seconds(v.until_empty);
      }
      append(out, rate);
      if (!l.quota) continue;
      const limit::QuotaWindow window = limit::quota_window(l.quota->per, now.unix_ns);
      Item quota{.route = route.name,
                 .policy = l.quota_policy_name(),
                 .limit = l.quota->describe(),
                 .period_s = window.length() / kNanosPerSecond,
                 .known = !l.shared};
      if (quota.known) {
        const std::int64_t used = limiter.quotas().used(limiter.quota_id_of(l, key), window);
        quota.remaining = limit::quota_remaining(*l.quota, used);
        quota.reset_s = ceil_seconds(window.end - now.unix_ns);
      }
      append(out, quota);
    }
  }
  out += "]}\n";
  return out;
}

}  // namespace sluice::proxy
