#pragma once
// The schema's sections, read from the YAML tree into a Config: load.cpp has the document and
// the process-wide sections, load_routes.cpp the routes and their limits.

#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "config/reader.hpp"
#include "sluice/config/load.hpp"

namespace sluice::config {

class Loader : public Reader {
 public:
  using Reader::Reader;
  LoadResult load(const Node& root);

 private:
  static constexpr long long kNoMaximum = std::numeric_limits<long long>::max();

  LoadResult finish(std::shared_ptr<Config> config);
  void load_listener_tls(const Node& node, Config& config);
  // An upstream_tls block over `inherited` (the top-level one, or the defaults); the place of
  // its CA file goes to config.file_positions.
  std::optional<UpstreamTls> upstream_tls(const Node& node, const std::string& path,
                                          const UpstreamTls& inherited, Config& config);
  void load_route_upstream(const Node& node, const std::string& path, Config& config, Route& route);
  void load_trusted_proxies(const Node& node, Config& config);
  // A list of names compared case-insensitively (admin_hosts, upgrades), lower-cased.
  std::vector<std::string> lower_case_names(const Node& node, const std::string& path,
                                            std::string_view what);
  void load_timeouts(const Node& node, Timeouts& t);
  void set_duration(const Node& map, const std::string& path, const char* key, Nanos& out);
  void load_http(const Node& node, HttpLimits& h);
  void load_http2(const Node& node, Http2Settings& h2);
  std::optional<UpstreamProtocol> upstream_protocol(const Node& node, const std::string& path);
  void set_size(const Node& map, const char* key, long long min, std::size_t& out);
  void load_log(const Node& node, LogConfig& log);
  void load_redis(const Node& node, Config& config);
  void load_redis_tls(const Node& node, Config& config, RedisConfig& redis);
  void load_redis_sentinel(const Node& node, RedisConfig& redis);
  void load_redis_cluster(const Node& node, RedisConfig& redis);
  void load_buckets(const Node& node, Config& config);
  // `shared` of `map` (or `inherited`); true without a redis: block is an error.
  bool shared_flag(const Node& map, const std::string& path, const Config& config, bool inherited);

  void load_routes(const Node& node, Config& config);
  std::optional<Route> load_route(const Node& node, const std::string& path, Config& config);
  void load_match(const Node& node, const std::string& path, const uri::PathOptions& path_options,
                  Match& match);
  // `usage_route`: the route answers usage (respond.usage), so its `key:` names whose.
  void load_limits(const Node& node, const std::string& path, const Config& config,
                   bool usage_route, limit::RoutePolicy& policy);
  // `overrides:` on the limit `base` (whose policy name and owner are set); `route`: the route's
  // map, for its action.
  void load_overrides(const Node& node, const std::string& path, const Node& route,
                      limit::LimitPolicy& base);
  std::optional<limit::LimitPolicy> named_bucket_limit(const Node& node, const std::string& path,
                                                       const Config& config, double weight);
  // max_rate and time_period from `map`, each falling back to `inherited`.
  std::optional<limit::Rate> rate_of(const Node& map, const std::string& path,
                                     std::optional<limit::Rate> inherited);
  std::optional<double> weight_of(const Node& map, const std::string& path, double fallback);
  // `quota:` of `map`, else `inherited`; nullopt too after an error (reported).
  std::optional<limit::Quota> quota_of(const Node& map, const std::string& path,
                                       std::optional<limit::Quota> inherited, double weight);
  void check_weight(const Node& at, const std::string& path, double weight,
                    const limit::Rate& rate);
  void load_action(const Node& node, const std::string& path, Route& route);
  std::optional<Respond> load_respond(const Node& node, const std::string& path);

  bool upstream_given_ = false;  // set even when invalid: routes are then not told none is set
};

}  // namespace sluice::config
