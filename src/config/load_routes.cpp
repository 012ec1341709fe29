// Routes (README, "Configuration"): match, limits (inline, a named bucket, or a list), action and
// respond.
#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include "config/loader.hpp"
#include "config/text_parsers.hpp"
#include "sluice/limit/overrides.hpp"
#include "sluice/limit/reservation.hpp"

namespace sluice::config {

using limit::KeyKind;
using limit::KeySpec;
using limit::LimitPolicy;
using limit::Rate;

// max_rate and time_period from `map`, each falling back to `inherited`.
std::optional<Rate> Loader::rate_of(const Node& map, const std::string& path,
                                    std::optional<Rate> inherited) {
  Rate rate = inherited.value_or(Rate{0, 0});
  bool ok = true;
  if (const auto& node = map["max_rate"]) {
    const auto value = number(node, join_path(path, "max_rate"));
    if (value && *value <= 0) error(node, join_path(path, "max_rate"), "must be > 0");
    ok = ok && value && *value > 0;
    if (ok) rate.max_rate = *value;
  } else if (!inherited) {
    error(map, join_path(path, "max_rate"), "is required");
    ok = false;
  }
  if (const auto& node = map["time_period"]) {
    const auto value = positive_duration(node, join_path(path, "time_period"));
    ok = ok && value;
    if (ok) rate.period = *value;
  } else if (!inherited) {
    error(map, join_path(path, "time_period"), "is required");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return rate;
}

std::optional<double> Loader::weight_of(const Node& map, const std::string& path, double fallback) {
  const auto& node = map["weight"];
  if (!node) return fallback;
  auto w = number(node, join_path(path, "weight"));
  if (w && *w <= 0) {
    error(node, join_path(path, "weight"), "must be > 0");
    return std::nullopt;
  }
  return w;
}

std::optional<limit::Quota> Loader::quota_of(const Node& map, const std::string& path,
                                             std::optional<limit::Quota> inherited, double weight) {
  const auto& node = map["quota"];
  if (!node) return inherited;
  const std::string qpath = join_path(path, "quota");
  if (!map_or_error(node, qpath)) return std::nullopt;
  check_keys(node, qpath, {"limit", "per"});
  limit::Quota quota;
  bool ok = true;
  // Counted in thousandths of a unit in 64 bits (and in Redis's integers).
  constexpr long long kLargestQuota = 1'000'000'000'000;
  if (auto n = required(node, qpath, "limit")) {
    auto value = bounded_integer(n, join_path(qpath, "limit"), 1, kLargestQuota);
    ok = ok && value.has_value();
    if (value) quota.limit = *value;
  } else {
    ok = false;
  }
  if (auto per = required(node, qpath, "per")) {
    auto text = scalar(per, join_path(qpath, "per"));
    if (text && !limit::parse_quota_period(*text, quota.per)) {
      error(per, join_path(qpath, "per"), "must be day, week or month");
      ok = false;
    }
    ok = ok && text.has_value();
  } else {
    ok = false;
  }
  if (ok && limit::quota_cost(weight) > quota.capacity()) {
    error(node, qpath,
          "limit " + std::to_string(quota.limit) + " is below the weight of one request");
    ok = false;
  }
  return ok ? std::optional(quota) : std::nullopt;
}

void Loader::check_weight(const Node& at, const std::string& path, double weight,
                          const Rate& rate) {
  if (weight > rate.max_rate) {
    std::ostringstream m;
    m << "weight " << weight << " exceeds max_rate " << rate.max_rate
      << ": such a request could never be admitted";
    error(at, path, m.str());
  }
}

void Loader::load_routes(const Node& node, Config& config) {
  if (!node) return;
  if (!node.is_sequence()) {
    error(node, "routes", "must be a list");
    return;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string path = index_path("routes", i);
    if (!map_or_error(node[i], path)) continue;
    // Checked on every route, valid or not: an error in one must not hide a duplicate.
    if (const Node& name = node[i]["name"];
        name.is_scalar() && !names.insert(name.scalar()).second) {
      error(name, join_path(path, "name"), "duplicate route name \"" + name.scalar() + "\"");
    }
    if (auto route = load_route(node[i], path, config)) config.routes.push_back(std::move(*route));
  }
}

std::optional<Route> Loader::load_route(const Node& node, const std::string& path, Config& config) {
  check_keys(node, path, {"name",    "match",    "key",          "max_rate",    "time_period",
                          "weight",  "shared",   "bucket",       "limits",      "overrides",
                          "quota",   "action",   "max_delay",    "status",      "grpc_status",
                          "dry_run", "upstream", "upstream_tls", "host_header", "upstream_protocol",
                          "respond"});
  Route route;
  const std::size_t errors_before = errors().size();
  if (auto name = required(node, path, "name")) {
    if (auto text = scalar(name, join_path(path, "name"))) {
      if (!is_plain_name(*text)) {
        error(name, join_path(path, "name"),
              "must be non-empty printable text without spaces, quotes or backslashes");
      }
      route.name = *text;
    }
  }
  load_match(node["match"], join_path(path, "match"), config.http.paths, route.match);
  if (const auto& respond = node["respond"]) {
    route.respond = load_respond(respond, join_path(path, "respond"));
  }
  load_limits(node, path, config, route.respond && route.respond->usage, route.policy);
  route.policy.route = route.name;
  load_action(node, path, route);
  if (const auto& respond = node["respond"]) {
    if (node["upstream"]) {
      error(respond, join_path(path, "respond"), "a route either responds or has an upstream");
    }
    if (route.respond && route.respond->usage) {
      if (const auto& key = node["key"]) {
        if (auto spec = key_spec(key, join_path(path, "key"))) route.respond->usage_key = *spec;
      } else {
        error(respond["usage"], join_path(path, "respond.usage"),
              "a usage route needs key: the key whose usage it reports");
      }
    }
  }
  if (!route.respond) load_route_upstream(node, path, config, route);
  if (errors().size() != errors_before) return std::nullopt;
  return route;
}

void Loader::load_match(const Node& node, const std::string& path,
                        const uri::PathOptions& path_options, Match& match) {
  if (!node) return;
  if (!map_or_error(node, path)) return;
  check_keys(node, path, {"path", "path_prefix", "path_regex", "methods", "host", "ignore_case"});
  if (const auto& ignore_case = node["ignore_case"]) {
    if (auto b = boolean(ignore_case, join_path(path, "ignore_case"))) match.ignore_case = *b;
  }
  int kinds = 0;
  auto path_field = [&](const char* key, PathKind kind) {
    if (const auto& p = node[key]) {
      ++kinds;
      if (auto text = scalar(p, join_path(path, key))) {
        match.kind = kind;
        match.path = *text;
        if (kind != PathKind::regex && !text->starts_with("/")) {
          error(p, join_path(path, key), "must start with /");
        } else if (kind != PathKind::regex) {
          // Requests are matched in canonical form: any other spelling could never match.
          std::string why;
          const auto canonical = uri::normalize_path(*text, path_options, why);
          if (!canonical) {
            error(p, join_path(path, key), why);
          } else if (*canonical != *text) {
            error(p, join_path(path, key),
                  "requests are matched in canonical form, write it " + *canonical);
          }
        }
        if (kind == PathKind::regex) {
          std::string why;
          match.regex = PathRegex::compile(*text, match.ignore_case, why);
          if (!match.regex) error(p, join_path(path, key), "invalid regex: " + why);
        }
      }
    }
  };
  path_field("path", PathKind::exact);
  path_field("path_prefix", PathKind::prefix);
  path_field("path_regex", PathKind::regex);
  if (kinds > 1) error(node, path, "use one of path, path_prefix, path_regex");
  if (const auto& methods = node["methods"]) {
    const std::string mpath = join_path(path, "methods");
    if (!methods.is_sequence() || methods.size() == 0) {
      error(methods, mpath, "must be a non-empty list of methods");
    } else {
      for (std::size_t i = 0; i < methods.size(); ++i) {
        auto text = scalar(methods[i], index_path(mpath, i));
        if (!text) continue;
        if (auto why = method_problem(*text)) {
          error(methods[i], index_path(mpath, i), *why);
        } else {
          match.methods.push_back(*text);
        }
      }
    }
  }
  if (const auto& host = node["host"]) {
    if (auto text = scalar(host, join_path(path, "host"))) {
      match.host = uri::canonical_host(*text);
      const bool has_port = !text->starts_with('[') && text->find(':') != std::string::npos;
      if (match.host.empty() || has_port) {
        error(host, join_path(path, "host"),
              "must be a host name without port, e.g. api.example.com");
      }
    }
  }
  if (match.ignore_case && match.kind != PathKind::regex) {
    for (char& c : match.path) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
}

void Loader::load_limits(const Node& node, const std::string& path, const Config& config,
                         bool usage_route, limit::RoutePolicy& policy) {
  const bool inline_rate = node["max_rate"] || node["time_period"];
  const auto& bucket = node["bucket"];
  const auto& limits = node["limits"];
  if (bucket && (inline_rate || node["key"])) {
    error(bucket, join_path(path, "bucket"),
          "a named bucket has its own key, max_rate and time_period: drop them from the route");
    return;
  }
  if (bucket && limits) {
    error(limits, join_path(path, "limits"), "use either bucket or limits");
    return;
  }
  const std::string route_name =
      node["name"] && node["name"].is_scalar() ? node["name"].scalar() : "";
  const auto route_weight = weight_of(node, path, 1);
  if (!route_weight) return;
  const bool route_shared = shared_flag(node, path, config, false);
  if (node["shared"] && (bucket || (!inline_rate && !limits))) {
    error(node["shared"], join_path(path, "shared"),
          bucket ? "a named bucket says itself whether it is shared: set it under buckets:"
                 : "needs max_rate/time_period or limits");
  }

  // The route's own fields are the defaults of its limits: parse them once.
  KeySpec route_key{{{KeyKind::client_ip, {}}}};
  if (const auto& key = node["key"]) {
    auto spec = key_spec(key, join_path(path, "key"));
    if (!spec) return;
    route_key = *spec;
  }
  std::optional<Rate> route_rate;
  if (inline_rate) {
    route_rate = rate_of(node, path, std::nullopt);
    if (!route_rate) return;
  }

  if (const auto& quota = node["quota"]; quota && (limits || (!bucket && !route_rate))) {
    error(quota, join_path(path, "quota"),
          limits ? "with limits:, a quota goes on the item it counts"
                 : "stands on a limit: the route needs max_rate/time_period or bucket");
  }
  if (const auto& overrides = node["overrides"]; overrides && (bucket || limits || !route_rate)) {
    error(overrides, join_path(path, "overrides"),
          bucket   ? "put overrides on the bucket itself, under buckets:"
          : limits ? "with limits:, overrides go on the item they change"
                   : "stand on a limit: the route needs max_rate/time_period");
  }
  if (bucket) {
    if (auto l = named_bucket_limit(bucket, join_path(path, "bucket"), config, *route_weight)) {
      l->policy_name = route_name;
      l->set_quota(quota_of(node, path, std::nullopt, l->weight));
      policy.limits.push_back(std::move(*l));
    }
    return;
  }
  if (!limits) {
    if (node["weight"] && !route_rate) {
      error(node["weight"], join_path(path, "weight"),
            "needs max_rate/time_period, bucket or limits");
    }
    if (node["key"] && !route_rate && !usage_route) {
      error(node["key"], join_path(path, "key"), "needs max_rate/time_period or limits");
    }
    if (!route_rate) return;
    check_weight(node["weight"] ? node["weight"] : node, join_path(path, "weight"), *route_weight,
                 *route_rate);
    policy.limits.push_back(LimitPolicy::make(route_name, "route:" + route_name + "#0", route_key,
                                              *route_rate, *route_weight));
    policy.limits.back().shared = route_shared;
    policy.limits.back().set_quota(quota_of(node, path, std::nullopt, *route_weight));
    if (const auto& overrides = node["overrides"]) {
      load_overrides(overrides, join_path(path, "overrides"), node, policy.limits.back());
    }
    return;
  }

  const std::string lpath = join_path(path, "limits");
  if (!limits.is_sequence() || limits.size() == 0) {
    error(limits, lpath, "must be a non-empty list");
    return;
  }
  if (limits.size() > limit::kMaxLimitsPerRoute) {
    error(limits, lpath,
          "at most " + std::to_string(limit::kMaxLimitsPerRoute) + " limits per route");
    return;
  }
  for (std::size_t i = 0; i < limits.size(); ++i) {
    const Node& item = limits[i];
    const std::string ipath = index_path(lpath, i);
    if (!map_or_error(item, ipath)) continue;
    std::optional<LimitPolicy> l;
    if (const auto& named = item["bucket"]) {
      check_keys(item, ipath, {"bucket", "weight", "quota"});
      auto weight = weight_of(item, ipath, *route_weight);
      if (weight) l = named_bucket_limit(named, join_path(ipath, "bucket"), config, *weight);
    } else {
      check_keys(item, ipath,
                 {"key", "max_rate", "time_period", "weight", "shared", "quota", "overrides"});
      KeySpec key = route_key;
      if (const auto& k = item["key"]) {
        auto spec = key_spec(k, join_path(ipath, "key"));
        if (!spec) continue;
        key = *spec;
      }
      auto rate = rate_of(item, ipath, route_rate);
      auto weight = weight_of(item, ipath, *route_weight);
      if (!rate || !weight) continue;
      check_weight(item["weight"] ? item["weight"] : item, join_path(ipath, "weight"), *weight,
                   *rate);
      l = LimitPolicy::make("", "route:" + route_name + "#" + std::to_string(i), key, *rate,
                            *weight);
      l->shared = shared_flag(item, ipath, config, route_shared);
    }
    if (!l) continue;
    l->policy_name = limits.size() == 1 ? route_name : route_name + "-" + std::to_string(i + 1);
    l->set_quota(quota_of(item, ipath, std::nullopt, l->weight));
    if (const auto& overrides = item["overrides"]) {
      load_overrides(overrides, join_path(ipath, "overrides"), node, *l);
    }
    policy.limits.push_back(std::move(*l));
  }
}

std::optional<LimitPolicy> Loader::named_bucket_limit(const Node& node, const std::string& path,
                                                      const Config& config, double weight) {
  auto name = scalar(node, path);
  if (!name) return std::nullopt;
  const auto it = std::find_if(config.buckets.begin(), config.buckets.end(),
                               [&](const NamedBucket& b) { return b.name == *name; });
  if (it == config.buckets.end()) {
    error(node, path, "no bucket named \"" + *name + "\" under buckets:");
    return std::nullopt;
  }
  check_weight(node, path, weight, it->rate);
  auto l = LimitPolicy::make("", "bucket:" + it->name, it->key, it->rate, weight);
  l.shared = it->shared;
  l.overrides = it->overrides;
  if (it->overrides) {
    for (const limit::Override& o : it->overrides->list) {
      if (o.effect == limit::Override::Effect::limit && !o.sets_weight) {
        check_weight(node, path, weight, o.limit.rate);
      }
    }
  }
  return l;
}

bool Loader::shared_flag(const Node& map, const std::string& path, const Config& config,
                         bool inherited) {
  const auto& node = map["shared"];
  if (!node) return inherited;
  const auto shared = boolean(node, join_path(path, "shared"));
  if (shared.value_or(false) && !config.redis) {
    error(node, join_path(path, "shared"), "needs a redis: block saying where buckets are shared");
  }
  return shared.value_or(false);
}

void Loader::load_action(const Node& node, const std::string& path, Route& route) {
  auto& policy = route.policy;
  if (const auto& action = node["action"]) {
    if (auto text = scalar(action, join_path(path, "action"))) {
      if (*text == "reject") {
        policy.action = limit::Action::reject;
      } else if (*text == "delay") {
        policy.action = limit::Action::delay;
      } else {
        error(action, join_path(path, "action"), "must be reject or delay");
      }
    }
  }
  Nanos longest_period = 0;
  for (const auto& l : policy.limits) longest_period = std::max(longest_period, l.rate.period);
  policy.max_delay = longest_period;
  if (const auto& max_delay = node["max_delay"]) {
    if (policy.action != limit::Action::delay) {
      error(max_delay, join_path(path, "max_delay"), "only applies to action: delay");
    } else if (auto d = duration(max_delay, join_path(path, "max_delay"))) {
      policy.max_delay = *d;
    }
  }
  // Redis's Lua counts in doubles: nanoseconds stay exact up to 2^53 (104 days), and a bucket
  // reaches period plus max_delay ahead.
  constexpr Nanos kLongestShared = 45LL * 24 * 3600 * kNanosPerSecond;
  if (policy.any_shared() &&
      (longest_period > kLongestShared || policy.max_delay > kLongestShared)) {
    error(node, path, "a shared limit's time_period and max_delay must be at most 45 days");
  }
  if (const auto& status = node["status"]) {
    if (auto n = bounded_integer(status, join_path(path, "status"), 400, 599)) {
      route.status = static_cast<unsigned>(*n);
    }
  }
  if (const auto& status = node["grpc_status"]) {
    // 0 (OK) would tell the client its call succeeded.
    if (auto n = bounded_integer(status, join_path(path, "grpc_status"), 1, 16)) {
      route.grpc_status = static_cast<unsigned>(*n);
    }
  }
  if (const auto& dry_run = node["dry_run"]) {
    if (auto b = boolean(dry_run, join_path(path, "dry_run"))) policy.dry_run = *b;
  }
}

std::optional<Respond> Loader::load_respond(const Node& node, const std::string& path) {
  if (!map_or_error(node, path)) return std::nullopt;
  check_keys(node, path, {"status", "body", "content_type", "usage"});
  Respond respond;
  if (const auto& usage = node["usage"]) {
    if (auto b = boolean(usage, join_path(path, "usage"))) respond.usage = *b;
    if (respond.usage && (node["body"] || node["content_type"])) {
      error(usage, join_path(path, "usage"),
            "a usage route's body is the usage: drop body and content_type");
    }
    if (respond.usage) respond.content_type = "application/json";
  }
  if (const auto& status = node["status"]) {
    if (auto n = bounded_integer(status, join_path(path, "status"), 200, 599)) {
      respond.status = static_cast<unsigned>(*n);
    }
  }
  if (const auto& body = node["body"]) {
    if (auto text = scalar(body, join_path(path, "body"))) respond.body = *text;
  }
  if (const auto& type = node["content_type"]) {
    if (auto text = scalar(type, join_path(path, "content_type"))) respond.content_type = *text;
  }
  return respond;
}

}  // namespace sluice::config
