#include "sluice/proxy/runtime.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "sluice/limit/key.hpp"
#include "sluice/limit/quota.hpp"

namespace sluice::proxy {
namespace {

constexpr limit::Outcome kOutcomes[] = {
    limit::Outcome::unlimited, limit::Outcome::allowed,         limit::Outcome::delayed,
    limit::Outcome::rejected,  limit::Outcome::dry_run_delayed, limit::Outcome::dry_run_rejected,
    limit::Outcome::denied};

bool monthly_quota(const limit::RoutePolicy& policy) noexcept {
  return std::any_of(policy.limits.begin(), policy.limits.end(), [](const limit::LimitPolicy& l) {
    return l.quota && l.quota->per == limit::QuotaPeriod::month;
  });
}

constexpr std::int64_t kMonthsFrom = std::int64_t{1767225600} * kNanosPerSecond;  // 2026-01-01

// 0 to 3 for a month of 28 to 31 days.
std::size_t month_length_index(const limit::QuotaWindow& month) noexcept {
  constexpr std::int64_t kDay = std::int64_t{24} * 3600 * kNanosPerSecond;
  return static_cast<std::size_t>(month.length() / kDay - 28);
}

RouteRuntime make_route(const config::Route* route, std::string name, observe::Metrics& metrics) {
  using observe::Family;
  RouteRuntime rt;
  rt.route = route;
  rt.name = std::move(name);
  if (route != nullptr && !route->policy.limits.empty()) {
    rt.policy_header = ratelimit_policy_value(route->policy, unix_now_ns());
    if (monthly_quota(route->policy)) {
      // Months from a fixed start until each length has come by (a leap February within 26).
      std::int64_t at = kMonthsFrom;
      for (int found = 0; found < 4;) {
        const limit::QuotaWindow month = limit::quota_window(limit::QuotaPeriod::month, at);
        std::string& value = rt.policy_by_month_length[month_length_index(month)];
        if (value.empty()) {
          value = ratelimit_policy_value(route->policy, at);
          ++found;
        }
        at = month.end;
      }
    }
  }
  for (limit::Outcome o : kOutcomes) {
    rt.decisions[static_cast<std::size_t>(o)] =
        &metrics.counter(Family::requests_total,
                         {{"route", rt.name}, {"decision", std::string(limit::to_string(o))}});
  }
  rt.delay = &metrics.histogram(Family::delay_seconds, {{"route", rt.name}});
  rt.tunnels = &metrics.gauge(Family::tunnels, {{"route", rt.name}});
  if (route != nullptr && route->policy.any_shared()) {
    rt.redis_fallbacks = &metrics.counter(Family::redis_fallbacks_total, {{"route", rt.name}});
  }
  for (int c = 0; c < 5; ++c) {
    rt.responses[c] =
        &metrics.counter(Family::upstream_responses_total,
                         {{"route", rt.name}, {"code", std::to_string(c + 1) + "xx"}});
  }
  for (std::size_t k = 0; k < kUpstreamErrorKinds; ++k) {
    rt.errors[k] = &metrics.counter(
        Family::upstream_errors_total,
        {{"route", rt.name}, {"kind", std::string(to_string(static_cast<UpstreamError>(k)))}});
  }
  return rt;
}

}  // namespace

std::string_view to_string(UpstreamError e) noexcept {
  switch (e) {
    case UpstreamError::connect:
      return "connect";
    case UpstreamError::timeout:
      return "timeout";
    case UpstreamError::reset:
      return "reset";
    case UpstreamError::protocol:
      return "protocol";
    case UpstreamError::tls:
      return "tls";
  }
  return "reset";
}

void RouteRuntime::count_response(unsigned status) const noexcept {
  const unsigned cls = status / 100;
  if (cls >= 1 && cls <= 5) responses[cls - 1]->fetch_add(1, std::memory_order_relaxed);
}

std::shared_ptr<const Runtime> Runtime::build(std::shared_ptr<const config::Config> config,
                                              std::shared_ptr<const TlsContexts> tls,
                                              observe::Metrics& metrics) {
  auto rt = std::make_shared<Runtime>();
  rt->tls = std::move(tls);
  rt->routes.reserve(config->routes.size());
  for (const config::Route& route : config->routes) {
    rt->routes.push_back(make_route(&route, route.name, metrics));
  }
  rt->unmatched = make_route(nullptr, "", metrics);
  for (const config::Route& route : config->routes) {
    for (std::string& name : limit::key_parameters(route.policy)) {
      if (std::find(rt->key_parameters.begin(), rt->key_parameters.end(), name) ==
          rt->key_parameters.end()) {
        rt->key_parameters.push_back(std::move(name));
      }
    }
  }
  rt->config = std::move(config);
  return rt;
}

const std::string& RouteRuntime::policy_header_at(std::int64_t unix_ns) const {
  if (policy_by_month_length[0].empty()) return policy_header;  // no monthly quota
  return policy_by_month_length[month_length_index(
      limit::quota_window(limit::QuotaPeriod::month, unix_ns))];
}

const RouteRuntime& Runtime::of(const config::Route* route) const noexcept {
  if (route == nullptr) return unmatched;
  return routes[static_cast<std::size_t>(route - config->routes.data())];
}

std::string ratelimit_policy_value(const limit::RoutePolicy& policy, std::int64_t unix_ns) {
  std::string out;
  for (const limit::LimitPolicy& l : policy.limits) {
    if (!out.empty()) out += ", ";
    out += '"' + l.policy_name +
           "\";q=" + std::to_string(static_cast<long long>(std::floor(l.rate.max_rate))) +
           ";w=" + std::to_string(ceil_seconds(l.rate.period));
    if (l.quota) {
      // A calendar period's length changes (months, leap days): w is this period's.
      const limit::QuotaWindow window = limit::quota_window(l.quota->per, unix_ns);
      out += ", \"" + l.quota_policy_name() + "\";q=" + std::to_string(l.quota->limit) +
             ";w=" + std::to_string(window.length() / kNanosPerSecond);
    }
  }
  return out;
}

namespace {

// `"name";r=<remaining>;t=<seconds>` appended to a RateLimit value, numbers written in place.
void append_item(std::string& out, std::string_view name, std::int64_t remaining,
                 std::int64_t seconds) {
  if (!out.empty()) out += ", ";
  out += '"';
  out += name;
  out += "\";r=";
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, remaining).ptr);
  out += ";t=";
  out.append(digits, std::to_chars(digits, digits + sizeof digits, seconds).ptr);
}

}  // namespace

// Built once per forwarded request: appended in place into one string sized up front, where
// string concatenation made a temporary per piece (900 instructions per request).
std::string ratelimit_value(const limit::RoutePolicy& policy, const limit::Decided& decision) {
  std::string out;
  out.reserve(64 * policy.limits.size());
  for (std::size_t k = 0; k < policy.limits.size(); ++k) {
    const limit::BucketView& v = decision.views[k];
    const limit::LimitPolicy& l = policy.limits[k];
    append_item(out, l.policy_name, v.remaining, ceil_seconds(v.until_empty));
    if (l.quota) {
      const limit::QuotaState& quota = decision.quota(k);
      append_item(out, l.quota_policy_name(), limit::quota_remaining(*l.quota, quota.used),
                  ceil_seconds(quota.window.end - quota.window.at));
    }
  }
  return out;
}

}  // namespace sluice::proxy
