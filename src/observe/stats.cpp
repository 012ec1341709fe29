#include "sluice/observe/stats.hpp"

#include <cstdio>
#include <vector>

#include "sluice/core/json.hpp"
#include "sluice/observe/events.hpp"

namespace sluice::observe {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// {"a":1,"b":2} from the series of `family`, keyed by `label`, of those whose `by` label is `of`.
std::string object_of(const std::vector<Metrics::Value>& values, std::string_view by,
                      std::string_view of, std::string_view label) {
  std::string out = "{";
  for (const Metrics::Value& v : values) {
    if (v.label(by) != of) continue;
    if (out.size() > 1) out += ',';
    append_json_string(out, v.label(label));
    out += ':' + number(v.value);
  }
  return out + "}";
}

double value_of(const std::vector<Metrics::Value>& values, std::string_view label,
                std::string_view is) {
  for (const Metrics::Value& v : values) {
    if (v.label(label) == is) return v.value;
  }
  return 0;
}

}  // namespace

void StatsHistory::sample(Metrics& metrics, std::int64_t now_ms) {
  Sample s{now_ms, {}};
  for (const Metrics::Value& v : metrics.values(Family::requests_total)) {
    s.counts[{std::string(v.label("route")), std::string(v.label("decision"))}] =
        static_cast<std::uint64_t>(v.value);
  }
  std::lock_guard guard(mutex_);
  samples_.push_back(std::move(s));
  while (samples_.size() > kSamples) samples_.pop_front();
}

std::string StatsHistory::json() const {
  std::lock_guard guard(mutex_);
  std::string out = "{\"interval_s\":" + number(kIntervalMs / 1000.0) + ",\"ts_ms\":[";
  for (std::size_t i = 1; i < samples_.size(); ++i) {
    if (i > 1) out += ',';
    out += std::to_string(samples_[i].ts_ms);
  }
  out += "],\"routes\":{";
  // Series of the newest sample (a route a reload removed drops out of the chart).
  std::map<std::string, std::vector<std::string>> decisions;
  if (!samples_.empty()) {
    for (const auto& [series, n] : samples_.back().counts) {
      decisions[series.first].push_back(series.second);
    }
  }
  bool first_route = true;
  for (const auto& entry : decisions) {
    const std::string& route = entry.first;
    const std::vector<std::string>& names = entry.second;
    if (!first_route) out += ',';
    first_route = false;
    append_json_string(out, route);
    out += ":{";
    for (std::size_t d = 0; d < names.size(); ++d) {
      if (d > 0) out += ',';
      append_json_string(out, names[d]);
      out += ":[";
      for (std::size_t i = 1; i < samples_.size(); ++i) {
        const auto count = [&](const Sample& s) {
          const auto it = s.counts.find({route, names[d]});
          return it == s.counts.end() ? 0.0 : static_cast<double>(it->second);
        };
        const double seconds =
            static_cast<double>(samples_[i].ts_ms - samples_[i - 1].ts_ms) / 1000.0;
        const double delta = count(samples_[i]) - count(samples_[i - 1]);
        if (i > 1) out += ',';
        // A counter never goes down; a series that appeared midway starts from its first value.
        out += number(seconds > 0 && delta > 0 ? delta / seconds : 0);
      }
      out += ']';
    }
    out += '}';
  }
  return out + "}}";
}

std::string stats_json(Metrics& metrics, const StatsHistory& history, std::int64_t now_ms,
                       const std::optional<std::string>& redis_address) {
  metrics.refresh();
  const auto requests = metrics.values(Family::requests_total);
  const auto errors = metrics.values(Family::upstream_errors_total);
  std::vector<std::string> routes;
  for (const Metrics::Value& v : requests) {
    const std::string route(v.label("route"));
    if (routes.empty() || routes.back() != route) routes.push_back(route);
  }
  std::string out = "{\"ts\":";
  append_json_string(out, utc_timestamp(now_ms));
  out += ",\"ts_ms\":" + std::to_string(now_ms);
  out += ",\"routes\":[";
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"route\":";
    append_json_string(out, routes[i]);
    out += ",\"requests\":" + object_of(requests, "route", routes[i], "decision");
    out += ",\"upstream_errors\":" + object_of(errors, "route", routes[i], "kind");
    out += '}';
  }
  const auto buckets = metrics.values(Family::buckets);
  const auto evictions = metrics.values(Family::bucket_evictions_total);
  const auto connections = metrics.values(Family::connections);
  out += "],\"buckets\":{\"live\":" + number(value_of(buckets, "state", "active"));
  out += ",\"evictions\":" + object_of(evictions, "", "", "kind");
  out += "},\"connections\":" + object_of(connections, "", "", "side");
  out += ",\"protocols\":" +
         object_of(metrics.values(Family::protocol_requests_total), "", "", "protocol");
  out += ",\"redis\":";
  if (redis_address) {
    const auto up = metrics.values(Family::redis_up);
    out += "{\"address\":";
    append_json_string(out, *redis_address);
    out += ",\"up\":";
    out += !up.empty() && up.front().value > 0 ? "true" : "false";
    out += ",\"commands\":" +
           object_of(metrics.values(Family::redis_commands_total), "", "", "result");
    out += '}';
  } else {
    out += "null";
  }
  out += ",\"history\":" + history.json();
  return out + "}";
}

}  // namespace sluice::observe
