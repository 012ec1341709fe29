#include "sluice/proxy/usage.hpp"

#include "sluice/core/json.hpp"
#include "sluice/limit/key.hpp"

namespace sluice::proxy {
namespace {

void append_optional(std::string& out, const std::optional<std::int64_t>& value) {
  out += value ? std::to_string(*value) : "null";
}

}  // namespace

Usage::Usage(const config::Config& config, const config::Route& usage_route,
             const limit::RequestFacts& request, const limit::Limiter& limiter, Instant now)
    : now_(now) {
  const std::string usage_key = usage_route.respond->usage_key.to_string();
  for (const config::Route& route : config.routes) {
    if (&route == &usage_route || route.policy.limits.empty()) continue;
    const bool keyed_alike =
        std::any_of(route.policy.limits.begin(), route.policy.limits.end(),
                    [&](const limit::LimitPolicy& l) { return l.key.to_string() == usage_key; });
    if (!keyed_alike || !limit::key_input_problem(route.policy, request).empty()) continue;
    const limit::RoutePolicy* policy = &route.policy;
    auto resolved = std::make_unique<limit::ResolvedPolicy>();
    switch (limit::resolve_overrides(route.policy, request, *resolved)) {
      case limit::ResolvedPolicy::Kind::as_configured:
        break;
      case limit::ResolvedPolicy::Kind::overridden:
        policy = &resolved->policy;
        resolved_.push_back(std::move(resolved));
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
                .remaining = {},
                .reset_s = {},
                .source = &l};
      if (l.shared) {
        reads_.push_back({l, key, false});
        read_items_.push_back(items_.size());
      } else {
        const limit::BucketView v =
            limit::view(limiter.table().load(limiter.id_of(l, key)), now.steady, l.rate);
        rate.remaining = v.remaining;
        rate.reset_s = ceil_seconds(v.until_empty);
      }
      items_.push_back(std::move(rate));
      if (!l.quota) continue;
      const limit::QuotaWindow window = limit::quota_window(l.quota->per, now.unix_ns);
      Item quota{.route = route.name,
                 .policy = l.quota_policy_name(),
                 .limit = l.quota->describe(),
                 .period_s = window.length() / kNanosPerSecond,
                 .remaining = {},
                 .reset_s = {},
                 .source = &l,
                 .quota = true};
      quota.reset_s = ceil_seconds(window.end - now.unix_ns);
      if (l.shared) {
        reads_.push_back({l, key, true});
        read_items_.push_back(items_.size());
      } else {
        const std::int64_t used = limiter.quotas().used(limiter.quota_id_of(l, key), window);
        quota.remaining = limit::quota_remaining(*l.quota, used);
      }
      items_.push_back(std::move(quota));
    }
  }
}

void Usage::fill(const std::vector<std::optional<std::int64_t>>& read) {
  for (std::size_t i = 0; i < read.size() && i < read_items_.size(); ++i) {
    Item& item = items_[read_items_[i]];
    if (!read[i]) {
      item.reset_s.reset();
      continue;
    }
    if (item.quota) {
      item.remaining = limit::quota_remaining(*item.source->quota, *read[i]);
    } else {
      // Redis's backlog, taken as of this process's now.
      const limit::BucketView v =
          limit::view(now_.steady + *read[i], now_.steady, item.source->rate);
      item.remaining = v.remaining;
      item.reset_s = ceil_seconds(v.until_empty);
    }
  }
}

std::string Usage::to_json() const {
  std::string out = "{\"limits\":[";
  for (const Item& item : items_) {
    if (out.back() != '[') out += ',';
    out += "{\"route\":";
    append_json_string(out, item.route);
    out += ",\"policy\":";
    append_json_string(out, item.policy);
    out += ",\"limit\":";
    append_json_string(out, item.limit);
    out += ",\"period_s\":" + std::to_string(item.period_s) + ",\"remaining\":";
    append_optional(out, item.remaining);
    out += ",\"reset_s\":";
    append_optional(out, item.reset_s);
    out += '}';
  }
  out += "]}\n";
  return out;
}

}  // namespace sluice::proxy
