// The YAML schema (README, "Configuration"), top to bottom: the document, then the process-wide
// sections. Routes and their limits are in load_routes.cpp; the YAML itself is read by
// yaml_tree.cpp.
#include "sluice/config/load.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "config/environment.hpp"
#include "config/loader.hpp"
#include "config/text_parsers.hpp"
#include "sluice/core/ascii.hpp"
#include "sluice/limit/overrides.hpp"

namespace sluice::config {

LoadResult Loader::load(const Node& root) {
  auto config = std::make_shared<Config>();
  config->source = file_;
  if (!root.is_map()) {
    error(root, "", "the file must be a YAML mapping");
    return finish(nullptr);
  }
  check_keys(root, "", {"version",      "listen",
                        "upstream",     "tls",
                        "upstream_tls", "admin",
                        "admin_hosts",  "upgrades",
                        "workers",      "trusted_proxies",
                        "timeouts",     "http",
                        "http2",        "max_keys",
                        "ipv6_prefix",  "watch_config",
                        "state_file",   "log",
                        "redis",        "buckets",
                        "routes",       "upstream_protocol"});
  if (const auto& v = required(root, "", "version"); v && integer(v, "version") != 1) {
    error(v, "version", "must be 1");
  }
  if (const auto& listen = required(root, "", "listen")) {
    if (auto e = endpoint(listen, "listen")) config->listen = *e;
  }
  load_listener_tls(root["tls"], *config);
  if (const auto& tls = root["upstream_tls"]) {
    if (auto settings = upstream_tls(tls, "upstream_tls", config->upstream_tls, *config)) {
      config->upstream_tls = *settings;
    }
  }
  if (const auto& upstream = root["upstream"]) {
    upstream_given_ = true;  // when it is invalid, routes are not told that none is set
    config->upstream = upstream_target(upstream, "upstream");
    if (config->upstream && config->upstream->tls) config->upstream->tls = config->upstream_tls;
  }
  if (const auto& admin = root["admin"]) config->admin = endpoint(admin, "admin");
  if (const auto& hosts = root["admin_hosts"]) {
    config->admin_hosts = lower_case_names(hosts, "admin_hosts", "a list of host names");
  }
  if (const auto& upgrades = root["upgrades"]) {
    config->upgrades =
        lower_case_names(upgrades, "upgrades", "a list of protocols, e.g. [websocket]");
    for (std::size_t i = 0; i < config->upgrades.size(); ++i) {
      const std::string& p = config->upgrades[i];
      if (p == "h2c" || p == "h2" || p == "http") {
        error(
            upgrades[i], index_path("upgrades", i),
            "HTTP/2 upgrades (h2c) are never forwarded: the proxy could not read that connection");
      }
    }
  }
  if (const auto& workers = root["workers"]) {
    if (auto n = bounded_integer(workers, "workers", 0, 256)) {
      config->workers = static_cast<unsigned>(*n);
    }
  }
  if (config->workers == 0) config->workers = std::max(1u, std::thread::hardware_concurrency());
  load_trusted_proxies(root["trusted_proxies"], *config);
  load_timeouts(root["timeouts"], config->timeouts);
  load_http(root["http"], config->http);
  load_http2(root["http2"], config->http2);
  if (const auto& protocol = root["upstream_protocol"]) {
    if (auto p = upstream_protocol(protocol, "upstream_protocol")) {
      config->upstream_protocol = *p;
    }
  }
  if (const auto& max_keys = root["max_keys"]) {
    if (auto n = bounded_integer(max_keys, "max_keys", 1, kNoMaximum)) {
      config->max_keys = static_cast<std::size_t>(*n);
    }
  }
  if (const auto& prefix = root["ipv6_prefix"]) {
    if (auto n = bounded_integer(prefix, "ipv6_prefix", 48, 128)) {
      config->ipv6_prefix = static_cast<int>(*n);
    }
  }
  if (const auto& watch = root["watch_config"]) {
    if (auto b = boolean(watch, "watch_config")) config->watch_config = *b;
  }
  if (const auto& state = root["state_file"]) {
    if (auto path = scalar(state, "state_file")) {
      if (path->empty()) {
        error(state, "state_file", "must be a file path");
      } else {
        config->state_file = *path;
        // Found now, not at the first shutdown, which would lose the buckets it exists to keep.
        if (auto why = unwritable_directory_of(*path)) error(state, "state_file", *why);
      }
    }
  }
  load_log(root["log"], config->log);
  load_redis(root["redis"], *config);
  load_buckets(root["buckets"], *config);
  load_routes(root["routes"], *config);
  return finish(std::move(config));
}

void Loader::load_trusted_proxies(const Node& node, Config& config) {
  if (!node) return;
  if (!node.is_sequence()) {
    error(node, "trusted_proxies", "must be a list of CIDRs");
    return;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string path = index_path("trusted_proxies", i);
    auto text = scalar(node[i], path);
    if (!text) continue;
    if (auto cidr = Cidr::parse(*text)) {
      config.trusted_proxies.push_back(*cidr);
      config.trusted_proxies_text.push_back(*text);
    } else {
      error(node[i], path, "must be an address or CIDR, e.g. 10.0.0.0/8");
    }
  }
}

std::vector<std::string> Loader::lower_case_names(const Node& node, const std::string& path,
                                                  std::string_view what) {
  std::vector<std::string> out;
  if (!node.is_sequence()) {
    error(node, path, "must be " + std::string(what));
    return out;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    auto text = scalar(node[i], index_path(path, i));
    if (!text) continue;
    if (text->empty()) {
      error(node[i], index_path(path, i), "must not be empty");
      continue;
    }
    out.push_back(ascii_lower(*text));
  }
  return out;
}

void Loader::load_timeouts(const Node& node, Timeouts& t) {
  if (!node) return;
  if (!map_or_error(node, "timeouts")) return;
  check_keys(node, "timeouts",
             {"client_header", "client_idle", "upstream_connect", "upstream_response",
              "shutdown_grace", "tunnel_idle"});
  set_duration(node, "timeouts", "client_header", t.client_header);
  set_duration(node, "timeouts", "client_idle", t.client_idle);
  set_duration(node, "timeouts", "upstream_connect", t.upstream_connect);
  set_duration(node, "timeouts", "upstream_response", t.upstream_response);
  set_duration(node, "timeouts", "shutdown_grace", t.shutdown_grace);
  set_duration(node, "timeouts", "tunnel_idle", t.tunnel_idle);
}

void Loader::set_duration(const Node& map, const std::string& path, const char* key, Nanos& out) {
  if (const auto& node = map[key]) {
    if (auto d = positive_duration(node, join_path(path, key))) out = *d;
  }
}

void Loader::load_http(const Node& node, HttpLimits& h) {
  if (!node) return;
  if (!map_or_error(node, "http")) return;
  check_keys(node, "http",
             {"max_header_bytes", "max_body_bytes", "max_connections", "max_connections_per_client",
              "merge_slashes", "escaped_slashes"});
  set_size(node, "max_header_bytes", 512, h.max_header_bytes);
  set_size(node, "max_body_bytes", 0, h.max_body_bytes);
  set_size(node, "max_connections", 1, h.max_connections);
  set_size(node, "max_connections_per_client", 0, h.max_connections_per_client);
  if (const auto& merge = node["merge_slashes"]) {
    if (auto b = boolean(merge, "http.merge_slashes")) h.paths.merge_slashes = *b;
  }
  if (const auto& escaped = node["escaped_slashes"]) {
    if (auto text = scalar(escaped, "http.escaped_slashes")) {
      using uri::EscapedSlashes;
      bool known = false;
      for (EscapedSlashes e : uri::kEscapedSlashes) {
        if (*text == uri::to_string(e)) {
          h.paths.escaped_slashes = e;
          known = true;
        }
      }
      if (!known) {
        error(escaped, "http.escaped_slashes", "must be match_decoded, keep, reject or decode");
      }
    }
  }
}

void Loader::load_http2(const Node& node, Http2Settings& h2) {
  if (!node) return;
  if (!map_or_error(node, "http2")) return;
  check_keys(node, "http2", {"enabled", "max_concurrent_streams", "max_resets_per_second"});
  if (const auto& enabled = node["enabled"]) {
    if (auto b = boolean(enabled, "http2.enabled")) h2.enabled = *b;
  }
  if (const auto& streams = node["max_concurrent_streams"]) {
    if (auto n = bounded_integer(streams, "http2.max_concurrent_streams", 1, 10000)) {
      h2.max_concurrent_streams = static_cast<std::uint32_t>(*n);
    }
  }
  if (const auto& resets = node["max_resets_per_second"]) {
    if (auto n = bounded_integer(resets, "http2.max_resets_per_second", 1, 1000000)) {
      h2.max_resets_per_second = static_cast<std::uint32_t>(*n);
    }
  }
}

void Loader::set_size(const Node& map, const char* key, long long min, std::size_t& out) {
  if (const auto& node = map[key]) {
    const std::string path = join_path("http", key);
    if (auto n = bounded_integer(node, path, min, kNoMaximum)) out = static_cast<std::size_t>(*n);
  }
}

void Loader::load_log(const Node& node, LogConfig& log) {
  if (!node) return;
  if (!map_or_error(node, "log")) return;
  check_keys(node, "log",
             {"level", "format", "file", "access", "show_keys", "throttled_lines_per_key",
              "throttled_lines_per_second"});
  if (const auto& level = node["level"]) {
    if (auto text = scalar(level, "log.level")) {
      if (auto parsed = parse_log_level(*text)) {
        log.level = *parsed;
      } else {
        error(level, "log.level", "must be trace, debug, info, warn or error");
      }
    }
  }
  if (const auto& format = node["format"]) {
    if (auto text = scalar(format, "log.format")) {
      if (*text == "text") {
        log.format = LogFormat::text;
      } else if (*text == "json") {
        log.format = LogFormat::json;
      } else {
        error(format, "log.format", "must be text or json");
      }
    }
  }
  if (const auto& file = node["file"]) {
    if (auto text = scalar(file, "log.file")) {
      if (text->empty()) {
        error(file, "log.file", "must be \"-\" (stderr) or a path");
      } else {
        log.file = *text;
        if (auto why = unwritable_log_file(*text)) error(file, "log.file", *why);
      }
    }
  }
  if (const auto& access = node["access"]) {
    if (auto b = boolean(access, "log.access")) log.access = *b;
  }
  if (const auto& show = node["show_keys"]) {
    if (auto b = boolean(show, "log.show_keys")) log.show_keys = *b;
  }
  if (const auto& lines = node["throttled_lines_per_key"]) {
    if (auto n = bounded_integer(lines, "log.throttled_lines_per_key", 0, 1000000)) {
      log.throttled_lines_per_key = static_cast<unsigned>(*n);
    }
  }
  if (const auto& lines = node["throttled_lines_per_second"]) {
    if (auto n = bounded_integer(lines, "log.throttled_lines_per_second", 1, 1000000)) {
      log.throttled_lines_per_second = static_cast<unsigned>(*n);
    }
  }
}

// Only the form is checked: a Redis that cannot be reached is not a config error, since a
// sidecar must start (and --check pass) while its Redis is down.
void Loader::load_redis(const Node& node, Config& config) {
  if (!node) return;
  if (!map_or_error(node, "redis")) return;
  check_keys(node, "redis",
             {"address", "sentinel", "cluster", "user", "password_env", "timeout", "on_error",
              "prefix", "tls"});
  RedisConfig redis;
  const int ways =
      (node["address"] ? 1 : 0) + (node["sentinel"] ? 1 : 0) + (node["cluster"] ? 1 : 0);
  if (ways > 1) {
    error(node["cluster"] ? node["cluster"] : node["sentinel"], "redis",
          "set one of address, sentinel and cluster, not several");
  } else if (const auto& sentinel = node["sentinel"]) {
    load_redis_sentinel(sentinel, redis);
  } else if (const auto& cluster = node["cluster"]) {
    load_redis_cluster(cluster, redis);
  } else if (const auto& address = required(node, "redis", "address")) {
    if (auto text = scalar(address, "redis.address")) {
      std::string why;
      if (auto parsed = parse_redis_address(*text, why)) {
        redis = std::move(*parsed);
      } else {
        error(address, "redis.address", why);
      }
    }
  }
  if (const auto& user = node["user"]) {
    if (auto name = scalar(user, "redis.user")) {
      if (!redis.user.empty()) {
        error(user, "redis.user", "the address already has a user: keep one of them");
      } else {
        redis.user = *name;
      }
    }
  }
  if (const auto& env = node["password_env"]) {
    if (auto name = scalar(env, "redis.password_env")) {
      redis.password_env = *name;
      const char* value = std::getenv(name->c_str());
      if (value == nullptr) {
        error(env, "redis.password_env", "environment variable " + *name + " is not set");
      } else if (!redis.password.empty()) {
        error(env, "redis.password_env", "the address already has a password: keep one of them");
      } else {
        redis.password = value;
      }
    }
  }
  set_duration(node, "redis", "timeout", redis.timeout);
  if (const auto& on_error = node["on_error"]) {
    if (auto text = scalar(on_error, "redis.on_error")) {
      bool known = false;
      for (OnRedisError e : {OnRedisError::local, OnRedisError::allow, OnRedisError::reject}) {
        if (*text == to_string(e)) {
          redis.on_error = e;
          known = true;
        }
      }
      if (!known) error(on_error, "redis.on_error", "must be local, allow or reject");
    }
  }
  if (const auto& prefix = node["prefix"]) {
    if (auto text = scalar(prefix, "redis.prefix")) redis.prefix = *text;
  }
  if (const auto& tls = node["tls"]) load_redis_tls(tls, config, redis);
  config.redis = std::move(redis);
}

// redis.sentinel: { addresses: [host:port, …], master: name, password_env: VAR }.
void Loader::load_redis_sentinel(const Node& node, RedisConfig& redis) {
  static const std::string path = "redis.sentinel";
  if (!map_or_error(node, path)) return;
  check_keys(node, path, {"addresses", "master", "password_env"});
  RedisSentinel sentinel;
  if (const auto& addresses = required(node, path, "addresses")) {
    const std::string list = join_path(path, "addresses");
    if (!addresses.is_sequence() || addresses.size() == 0) {
      error(addresses, list, "must be a list of host:port (port 26379 if left out)");
    } else {
      for (std::size_t i = 0; i < addresses.size(); ++i) {
        auto text = scalar(addresses[i], index_path(list, i));
        if (!text) continue;
        std::string why;
        if (auto authority = parse_authority(*text, 26379, why)) {
          sentinel.addresses.push_back({std::move(authority->host), authority->port});
        } else {
          error(addresses[i], index_path(list, i), why);
        }
      }
    }
  }
  if (const auto& master = required(node, path, "master")) {
    if (auto text = scalar(master, join_path(path, "master"))) {
      if (text->empty()) error(master, join_path(path, "master"), "must not be empty");
      sentinel.master = *text;
    }
  }
  if (const auto& env = node["password_env"]) {
    if (auto name = scalar(env, join_path(path, "password_env"))) {
      sentinel.password_env = *name;
      const char* value = std::getenv(name->c_str());
      if (value == nullptr) {
        error(env, join_path(path, "password_env"),
              "environment variable " + *name + " is not set");
      } else {
        sentinel.password = value;
      }
    }
  }
  redis.sentinel = std::move(sentinel);
}

// redis.cluster: [host:port, …] (port 6379 if left out; redis:// and rediss:// spellings too):
// seed nodes, of which any one that answers gives the slot map.
void Loader::load_redis_cluster(const Node& node, RedisConfig& redis) {
  static const std::string path = "redis.cluster";
  if (!node.is_sequence() || node.size() == 0) {
    error(node, path, "must be a list of seed nodes, host:port (port 6379 if left out)");
    return;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string item = index_path(path, i);
    auto text = scalar(node[i], item);
    if (!text) continue;
    std::string why;
    if (text->starts_with("redis://") || text->starts_with("rediss://")) {
      auto seed = parse_redis_address(*text, why);
      if (seed && (seed->db != 0 || !seed->user.empty() || !seed->password.empty())) {
        why =
            "a seed is host:port only: a cluster has no database number, and user and "
            "password_env are set on redis:";
        seed.reset();
      }
      if (!seed) {
        error(node[i], item, why);
        continue;
      }
      if (seed->tls && !redis.tls) redis.tls = RedisTls{};
      redis.cluster.push_back({std::move(seed->host), seed->port});
    } else if (auto authority = parse_authority(*text, 6379, why)) {
      redis.cluster.push_back({std::move(authority->host), authority->port});
    } else {
      error(node[i], item, why);
    }
  }
}

void Loader::load_buckets(const Node& node, Config& config) {
  if (!node) return;
  if (!map_or_error(node, "buckets")) return;
  for (const auto& item : node) {
    const std::string name = item.first.scalar();
    const std::string path = join_path("buckets", name);
    const Node& def = item.second;
    if (!map_or_error(def, path)) continue;
    check_keys(def, path, {"key", "max_rate", "time_period", "shared", "overrides"});
    NamedBucket bucket{name, {{{limit::KeyKind::client_ip, {}}}}, {}, false, nullptr};
    bucket.shared = shared_flag(def, path, config, false);
    if (const auto& key = def["key"]) {
      if (auto spec = key_spec(key, join_path(path, "key"))) bucket.key = *spec;
    }
    auto rate = rate_of(def, path, std::nullopt);
    if (!rate) continue;
    bucket.rate = *rate;
    if (const auto& overrides = def["overrides"]) {
      auto base = limit::LimitPolicy::make(name, "bucket:" + name, bucket.key, bucket.rate, 1);
      base.shared = bucket.shared;
      load_overrides(overrides, join_path(path, "overrides"), def, base);
      if (base.overrides) {
        auto loaded = std::make_shared<limit::Overrides>(*base.overrides);
        loaded->on_named_bucket = true;
        bucket.overrides = std::move(loaded);
      }
    }
    config.buckets.push_back(std::move(bucket));
  }
}

namespace {

// A quota counted in this process with nowhere to keep it: every restart hands every client a
// fresh quota, which a rolling deploy makes daily.
std::vector<std::string> warnings_of(const Config& config) {
  std::vector<std::string> warnings;
  if (!config.state_file.empty()) return warnings;
  for (const Route& route : config.routes) {
    bool local_quota = false;
    for (const limit::LimitPolicy& l : route.policy.limits) {
      local_quota = local_quota || (l.quota && !l.shared);
      if (!l.overrides) continue;
      for (const limit::Override& o : l.overrides->list) {
        local_quota = local_quota || (o.limit.quota && !o.limit.shared);
      }
    }
    if (local_quota) {
      warnings.push_back("routes[" + route.name +
                         "]: a local quota without state_file starts again from zero at every "
                         "restart: set state_file, or shared: true");
    }
  }
  return warnings;
}

}  // namespace

LoadResult Loader::finish(std::shared_ptr<Config> config) {
  if (!errors().empty()) return {nullptr, take_errors(), {}};
  auto warnings = warnings_of(*config);
  return {std::move(config), {}, std::move(warnings)};
}

namespace {

LoadResult parse(std::string_view text, const std::string& name, const EnvironmentLookup& env) {
  Loader loader(name);
  std::vector<DuplicateKey> duplicates;
  YamlDocument doc = parse_yaml(std::string(text), duplicates);
  if (!doc.root) {
    std::string why = "invalid YAML: " + doc.error;
    // The usual cause: `file: -` for stderr, where YAML reads the dash as a list item.
    if (doc.error == "illegal block entry") why += " (a bare - starts a list: quote it, \"-\")";
    loader.error_at(doc.error_mark, "", why);
    return {nullptr, loader.take_errors(), {}};
  }
  for (const DuplicateKey& d : duplicates) {
    loader.error_at(d.second, d.path,
                    "duplicate key; first at line " + std::to_string(d.first.line + 1) +
                        ", column " + std::to_string(d.first.column + 1));
  }
  expand_environment(*doc.root, loader, env);
  return loader.load(*doc.root);
}

}  // namespace

LoadResult load_string(std::string_view yaml, const std::string& name,
                       const EnvironmentLookup& env) {
  return parse(yaml, name, env ? env : EnvironmentLookup(process_environment));
}

LoadResult load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {nullptr, {path + ": cannot open: " + std::strerror(errno)}, {}};
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path, process_environment);
}

}  // namespace sluice::config
