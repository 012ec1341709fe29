// The YAML schema of DESIGN §2: the only file that includes yaml-cpp. Every rule reports
// "file:line:col: field.path: message" and loading goes on, so one run lists every mistake.
#include "sluice/config/load.hpp"

#include "sluice/limit/reservation.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "sluice/core/token.hpp"

namespace sluice::config {
namespace {

using limit::KeyKind;
using limit::KeyPart;
using limit::KeySpec;
using limit::LimitPolicy;
using limit::Rate;

std::string join_path(const std::string& parent, std::string_view child) {
  return parent.empty() ? std::string(child) : parent + "." + std::string(child);
}

std::string index_path(const std::string& parent, std::size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

// Scalars in the forms the schema allows, or nullopt.
std::optional<double> parse_number(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<Nanos> parse_duration(std::string_view text) {
  struct Unit {
    std::string_view suffix;
    double nanos;
  };
  static constexpr Unit kUnits[] = {{"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  double scale = 1e9;  // a bare number is seconds
  for (const Unit& unit : kUnits) {
    if (text.ends_with(unit.suffix)) {
      const std::string_view number = text.substr(0, text.size() - unit.suffix.size());
      if (parse_number(number)) {
        text = number;
        scale = unit.nanos;
        break;
      }
    }
  }
  const auto value = parse_number(text);
  if (!value || *value < 0 || *value * scale > 1e18) return std::nullopt;
  return static_cast<Nanos>(std::llround(*value * scale));
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.back() != ']') return std::nullopt;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::nullopt;  // IPv6 needs brackets
  }
  if (host == "localhost") host = "127.0.0.1";
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return std::nullopt;
  }
  if (!IpAddress::parse(host)) return std::nullopt;
  return Endpoint{std::string(host), static_cast<std::uint16_t>(port)};
}

std::optional<UpstreamTarget> parse_upstream(std::string_view url, std::string& why) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    why = "must start with http:// (sluice speaks plain HTTP/1.1 to the upstream)";
    return std::nullopt;
  }
  std::string_view rest = url.substr(kScheme.size());
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") {
      why = "must not have a path; the request's own path is forwarded";
      return std::nullopt;
    }
    rest = rest.substr(0, slash);
  }
  UpstreamTarget target{std::string(url), std::string(rest), 80};
  std::string_view host = rest;
  if (const auto colon = rest.rfind(':');
      colon != std::string_view::npos && rest.find(']', colon) == std::string_view::npos) {
    host = rest.substr(0, colon);
    const std::string_view port_text = rest.substr(colon + 1);
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      why = "has an invalid port";
      return std::nullopt;
    }
    target.port = static_cast<std::uint16_t>(port);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    why = "has no host";
    return std::nullopt;
  }
  target.host = std::string(host);
  return target;
}

// RFC 9110 methods are case-sensitive tokens, and routes compare them as such: "post" would never
// match a POST. The IANA HTTP Method Registry lists the ones clients send.
std::optional<std::string> method_problem(const std::string& method) {
  static constexpr std::string_view kRegistered[] = {"ACL",
                                                     "BASELINE-CONTROL",
                                                     "BIND",
                                                     "CHECKIN",
                                                     "CHECKOUT",
                                                     "CONNECT",
                                                     "COPY",
                                                     "DELETE",
                                                     "GET",
                                                     "HEAD",
                                                     "LABEL",
                                                     "LINK",
                                                     "LOCK",
                                                     "MERGE",
                                                     "MKACTIVITY",
                                                     "MKCALENDAR",
                                                     "MKCOL",
                                                     "MKREDIRECTREF",
                                                     "MKWORKSPACE",
                                                     "MOVE",
                                                     "OPTIONS",
                                                     "ORDERPATCH",
                                                     "PATCH",
                                                     "POST",
                                                     "PRI",
                                                     "PROPFIND",
                                                     "PROPPATCH",
                                                     "PUT",
                                                     "QUERY",
                                                     "REBIND",
                                                     "REPORT",
                                                     "SEARCH",
                                                     "TRACE",
                                                     "UNBIND",
                                                     "UNCHECKOUT",
                                                     "UNLINK",
                                                     "UNLOCK",
                                                     "UPDATE",
                                                     "UPDATEREDIRECTREF",
                                                     "VERSION-CONTROL"};
  const auto registered = [](std::string_view m) {
    return std::find(std::begin(kRegistered), std::end(kRegistered), m) != std::end(kRegistered);
  };
  if (registered(method)) return std::nullopt;
  std::string upper = method;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (registered(upper)) {
    return "\"" + method + "\" is not a method; methods are upper-case: " + upper;
  }
  return "\"" + method +
         "\" is not an HTTP method (IANA registry: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, "
         "...)";
}

// Start-up opens the log file for appending; --check must fail where start-up would.
std::optional<std::string> unwritable_log_file(const std::string& file) {
  if (file == "-") return std::nullopt;
  if (::access(file.c_str(), F_OK) == 0) {
    if (::access(file.c_str(), W_OK) != 0)
      return file + " is not writable: " + std::strerror(errno);
    return std::nullopt;
  }
  const auto slash = file.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : file.substr(0, slash);
  if (::access(dir.c_str(), F_OK) != 0) return "directory " + dir + " does not exist";
  if (::access(dir.c_str(), W_OK) != 0) {
    return "directory " + dir + " is not writable: " + std::strerror(errno);
  }
  return std::nullopt;
}

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  LoadResult load(const YAML::Node& root) {
    auto config = std::make_shared<Config>();
    config->source = file_;
    if (!root.IsMap()) {
      error(root, "", "the file must be a YAML mapping");
      return finish(nullptr);
    }
    check_keys(root, "",
               {"version", "listen", "upstream", "admin", "workers", "trusted_proxies", "timeouts",
                "http", "max_keys", "ipv6_prefix", "log", "buckets", "routes"});
    check_duplicate_keys(root, "", 0);
    if (auto v = required(root, "", "version"); v && integer(v, "version") != 1) {
      error(v, "version", "must be 1");
    }
    if (auto listen = required(root, "", "listen")) {
      if (auto e = endpoint(listen, "listen")) config->listen = *e;
    }
    if (auto upstream = root["upstream"]) {
      upstream_given_ = true;  // when it is invalid, routes are not told that none is set
      config->upstream = upstream_target(upstream, "upstream");
    }
    if (auto admin = root["admin"]) config->admin = endpoint(admin, "admin");
    if (auto workers = root["workers"]) {
      if (auto n = integer(workers, "workers")) {
        if (*n < 0 || *n > 256) {
          error(workers, "workers", "must be between 0 and 256");
        } else {
          config->workers = static_cast<unsigned>(*n);
        }
      }
    }
    if (config->workers == 0) config->workers = std::max(1u, std::thread::hardware_concurrency());
    load_trusted_proxies(root["trusted_proxies"], *config);
    load_timeouts(root["timeouts"], config->timeouts);
    load_http(root["http"], config->http);
    if (auto max_keys = root["max_keys"]) {
      if (auto n = integer(max_keys, "max_keys")) {
        if (*n < 1) {
          error(max_keys, "max_keys", "must be >= 1");
        } else {
          config->max_keys = static_cast<std::size_t>(*n);
        }
      }
    }
    if (auto prefix = root["ipv6_prefix"]) {
      if (auto n = integer(prefix, "ipv6_prefix")) {
        if (*n < 48 || *n > 128) {
          error(prefix, "ipv6_prefix", "must be between 48 and 128");
        } else {
          config->ipv6_prefix = static_cast<int>(*n);
        }
      }
    }
    load_log(root["log"], config->log);
    load_buckets(root["buckets"], *config);
    load_routes(root["routes"], *config);
    return finish(std::move(config));
  }

  void error(const YAML::Node& node, std::string_view path, std::string_view message) {
    error_at(node.Mark(), path, message);
  }
  void error_at(const YAML::Mark& mark, std::string_view path, std::string_view message) {
    std::ostringstream out;
    out << file_;
    if (mark.line >= 0) out << ':' << mark.line + 1 << ':' << mark.column + 1;
    out << ": ";
    if (!path.empty()) out << path << ": ";
    out << message;
    errors_.push_back(out.str());
  }

 private:
  LoadResult finish(std::shared_ptr<Config> config) {
    if (!errors_.empty()) return {nullptr, std::move(errors_)};
    return {std::move(config), {}};
  }

  // --- scalars -------------------------------------------------------------------------------

  void check_keys(const YAML::Node& map, const std::string& path,
                  std::initializer_list<std::string_view> allowed) {
    for (const auto& item : map) {
      const std::string key = item.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(item.first, join_path(path, key), "unknown key");
      }
    }
  }

  YAML::Node required(const YAML::Node& map, const std::string& path, std::string_view key) {
    YAML::Node node = map[std::string(key)];
    if (!node) error(map, join_path(path, key), "is required");
    return node;
  }

  std::optional<std::string> scalar(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) {
      error(node, path, "must be a scalar");
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<double> number(const YAML::Node& node, const std::string& path) {
    auto text = scalar(node, path);
    if (!text) return std::nullopt;
    auto value = parse_number(*text);
    if (!value) error(node, path, "must be a number");
    return value;
  }

  std::optional<long long> integer(const YAML::Node& node, const std::string& path) {
    auto text = scalar(node, path);
    if (!text) return std::nullopt;
    long long value = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || end != text->data() + text->size()) {
      error(node, path, "must be an integer");
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> boolean(const YAML::Node& node, const std::string& path) {
    auto text = scalar(node, path);
    if (!text) return std::nullopt;
    if (*text == "true") return true;
    if (*text == "false") return false;
    error(node, path, "must be true or false");
    return std::nullopt;
  }

  std::optional<Nanos> duration(const YAML::Node& node, const std::string& path) {
    auto text = scalar(node, path);
    if (!text) return std::nullopt;
    auto value = parse_duration(*text);
    if (!value) error(node, path, "must be a duration: seconds (10, 0.5) or 250ms, 10s, 1m, 1h");
    return value;
  }

  std::optional<Nanos> positive_duration(const YAML::Node& node, const std::string& path) {
    auto value = duration(node, path);
    if (value && *value <= 0) {
      error(node, path, "must be > 0");
      return std::nullopt;
    }
    return value;
  }

  std::optional<Endpoint> endpoint(const YAML::Node& node, const std::string& path) {
    auto text = scalar(node, path);
    if (!text) return std::nullopt;
    auto e = parse_endpoint(*text);
    if (!e) error(node, path, "must be ip:port, e.g. 127.0.0.1:8080 or [::1]:8080");
    return e;
  }

  std::optional<UpstreamTarget> upstream_target(const YAML::Node& node, const std::string& path) {
    auto text = scalar(node, path);
    if (!text) return std::nullopt;
    std::string why;
    auto target = parse_upstream(*text, why);
    if (!target) error(node, path, why);
    return target;
  }

  std::optional<KeySpec> key_spec(const YAML::Node& node, const std::string& path) {
    KeySpec spec;
    auto add = [&](const YAML::Node& item, const std::string& item_path) {
      auto text = scalar(item, item_path);
      if (!text) return false;
      if (*text == "client_ip") {
        spec.parts.push_back({KeyKind::client_ip, {}});
      } else if (*text == "global") {
        spec.parts.push_back({KeyKind::global, {}});
      } else if (text->starts_with("header:") && is_token(text->substr(7))) {
        spec.parts.push_back({KeyKind::header, text->substr(7)});
      } else if (text->starts_with("query:") && text->size() > 6) {
        spec.parts.push_back({KeyKind::query, text->substr(6)});
      } else {
        error(item, item_path, "must be client_ip, global, header:<Name> or query:<param>");
        return false;
      }
      return true;
    };
    if (node.IsSequence()) {
      if (node.size() == 0) error(node, path, "must not be empty");
      for (std::size_t i = 0; i < node.size(); ++i) {
        if (!add(node[i], index_path(path, i))) return std::nullopt;
      }
    } else if (!add(node, path)) {
      return std::nullopt;
    }
    if (spec.parts.empty()) return std::nullopt;
    return spec;
  }

  // --- sections ------------------------------------------------------------------------------

  void load_trusted_proxies(const YAML::Node& node, Config& config) {
    if (!node) return;
    if (!node.IsSequence()) {
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

  void load_timeouts(const YAML::Node& node, Timeouts& t) {
    if (!node) return;
    if (!map_or_error(node, "timeouts")) return;
    check_keys(node, "timeouts",
               {"client_header", "client_idle", "upstream_connect", "upstream_response",
                "shutdown_grace"});
    set_duration(node, "timeouts", "client_header", t.client_header);
    set_duration(node, "timeouts", "client_idle", t.client_idle);
    set_duration(node, "timeouts", "upstream_connect", t.upstream_connect);
    set_duration(node, "timeouts", "upstream_response", t.upstream_response);
    set_duration(node, "timeouts", "shutdown_grace", t.shutdown_grace);
  }

  void set_duration(const YAML::Node& map, const std::string& path, const char* key, Nanos& out) {
    if (auto node = map[key]) {
      if (auto d = positive_duration(node, join_path(path, key))) out = *d;
    }
  }

  void load_http(const YAML::Node& node, HttpLimits& h) {
    if (!node) return;
    if (!map_or_error(node, "http")) return;
    check_keys(node, "http",
               {"max_header_bytes", "max_body_bytes", "max_connections", "merge_slashes",
                "escaped_slashes"});
    set_size(node, "max_header_bytes", 512, h.max_header_bytes);
    set_size(node, "max_body_bytes", 0, h.max_body_bytes);
    set_size(node, "max_connections", 1, h.max_connections);
    if (auto merge = node["merge_slashes"]) {
      if (auto b = boolean(merge, "http.merge_slashes")) h.paths.merge_slashes = *b;
    }
    if (auto escaped = node["escaped_slashes"]) {
      if (auto text = scalar(escaped, "http.escaped_slashes")) {
        using uri::EscapedSlashes;
        bool known = false;
        for (EscapedSlashes e :
             {EscapedSlashes::keep, EscapedSlashes::reject, EscapedSlashes::decode}) {
          if (*text == uri::to_string(e)) {
            h.paths.escaped_slashes = e;
            known = true;
          }
        }
        if (!known) error(escaped, "http.escaped_slashes", "must be keep, reject or decode");
      }
    }
  }

  void set_size(const YAML::Node& map, const char* key, long long min, std::size_t& out) {
    if (auto node = map[key]) {
      const std::string path = join_path("http", key);
      if (auto n = integer(node, path)) {
        if (*n < min) {
          error(node, path, "must be >= " + std::to_string(min));
        } else {
          out = static_cast<std::size_t>(*n);
        }
      }
    }
  }

  void load_log(const YAML::Node& node, LogConfig& log) {
    if (!node) return;
    if (!map_or_error(node, "log")) return;
    check_keys(node, "log",
               {"level", "format", "file", "access", "show_keys", "throttled_lines_per_key"});
    if (auto level = node["level"]) {
      if (auto text = scalar(level, "log.level")) {
        if (auto parsed = parse_log_level(*text)) {
          log.level = *parsed;
        } else {
          error(level, "log.level", "must be trace, debug, info, warn or error");
        }
      }
    }
    if (auto format = node["format"]) {
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
    if (auto file = node["file"]) {
      if (auto text = scalar(file, "log.file")) {
        if (text->empty()) {
          error(file, "log.file", "must be \"-\" (stderr) or a path");
        } else {
          log.file = *text;
          if (auto why = unwritable_log_file(*text)) error(file, "log.file", *why);
        }
      }
    }
    if (auto access = node["access"]) {
      if (auto b = boolean(access, "log.access")) log.access = *b;
    }
    if (auto show = node["show_keys"]) {
      if (auto b = boolean(show, "log.show_keys")) log.show_keys = *b;
    }
    if (auto lines = node["throttled_lines_per_key"]) {
      if (auto n = integer(lines, "log.throttled_lines_per_key")) {
        if (*n < 0 || *n > 1000000) {
          error(lines, "log.throttled_lines_per_key", "must be between 0 (no limit) and 1000000");
        } else {
          log.throttled_lines_per_key = static_cast<unsigned>(*n);
        }
      }
    }
  }

  bool map_or_error(const YAML::Node& node, const std::string& path) {
    if (node.IsMap()) return true;
    error(node, path, "must be a mapping");
    return false;
  }

  void load_buckets(const YAML::Node& node, Config& config) {
    if (!node) return;
    if (!map_or_error(node, "buckets")) return;
    for (const auto& item : node) {
      const std::string name = item.first.Scalar();
      const std::string path = join_path("buckets", name);
      const YAML::Node& def = item.second;
      if (!map_or_error(def, path)) continue;
      check_keys(def, path, {"key", "max_rate", "time_period"});
      NamedBucket bucket{name, {{{KeyKind::client_ip, {}}}}, {}};
      if (auto key = def["key"]) {
        if (auto spec = key_spec(key, join_path(path, "key"))) bucket.key = *spec;
      }
      auto rate = rate_of(def, path, std::nullopt);
      if (rate) bucket.rate = *rate;
      if (rate) config.buckets.push_back(std::move(bucket));
    }
  }

  // max_rate and time_period from `map`, each falling back to `inherited`.
  std::optional<Rate> rate_of(const YAML::Node& map, const std::string& path,
                              std::optional<Rate> inherited) {
    Rate rate = inherited.value_or(Rate{0, 0});
    bool ok = true;
    if (auto node = map["max_rate"]) {
      const auto value = number(node, join_path(path, "max_rate"));
      if (value && *value <= 0) error(node, join_path(path, "max_rate"), "must be > 0");
      ok = ok && value && *value > 0;
      if (ok) rate.max_rate = *value;
    } else if (!inherited) {
      error(map, join_path(path, "max_rate"), "is required");
      ok = false;
    }
    if (auto node = map["time_period"]) {
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

  std::optional<double> weight_of(const YAML::Node& map, const std::string& path, double fallback) {
    auto node = map["weight"];
    if (!node) return fallback;
    auto w = number(node, join_path(path, "weight"));
    if (w && *w <= 0) {
      error(node, join_path(path, "weight"), "must be > 0");
      return std::nullopt;
    }
    return w;
  }

  void check_weight(const YAML::Node& at, const std::string& path, double weight,
                    const Rate& rate) {
    if (weight > rate.max_rate) {
      std::ostringstream m;
      m << "weight " << weight << " exceeds max_rate " << rate.max_rate
        << ": such a request could never be admitted";
      error(at, path, m.str());
    }
  }

  void load_routes(const YAML::Node& node, Config& config) {
    if (!node) return;
    if (!node.IsSequence()) {
      error(node, "routes", "must be a list");
      return;
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const std::string path = index_path("routes", i);
      if (!map_or_error(node[i], path)) continue;
      if (auto route = load_route(node[i], path, config)) {
        if (!names.insert(route->name).second) {
          error(node[i]["name"], join_path(path, "name"),
                "duplicate route name \"" + route->name + "\"");
        }
        config.routes.push_back(std::move(*route));
      }
    }
  }

  std::optional<Route> load_route(const YAML::Node& node, const std::string& path,
                                  const Config& config) {
    check_keys(node, path,
               {"name", "match", "key", "max_rate", "time_period", "weight", "bucket", "limits",
                "action", "max_delay", "status", "dry_run", "upstream", "respond"});
    Route route;
    const std::size_t errors_before = errors_.size();
    if (auto name = required(node, path, "name")) {
      if (auto text = scalar(name, join_path(path, "name"))) {
        const bool printable = std::all_of(text->begin(), text->end(), [](char c) {
          return c > ' ' && c < 127 && c != '"' && c != '\\';
        });
        if (text->empty() || !printable) {
          error(name, join_path(path, "name"),
                "must be non-empty printable text without spaces, quotes or backslashes");
        }
        route.name = *text;
      }
    }
    load_match(node["match"], join_path(path, "match"), config.http.paths, route.match);
    load_limits(node, path, config, route.policy);
    route.policy.route = route.name;
    load_action(node, path, route);
    if (auto upstream = node["upstream"])
      route.upstream = upstream_target(upstream, join_path(path, "upstream"));
    if (auto respond = node["respond"]) {
      route.respond = load_respond(respond, join_path(path, "respond"));
      if (route.upstream)
        error(respond, join_path(path, "respond"), "a route either responds or has an upstream");
    }
    if (!route.respond && !route.upstream) {
      route.upstream = config.upstream;
      if (!route.upstream && !upstream_given_ && !node["upstream"]) {
        error(node, path, "forwards but no upstream is set, neither here nor at the top level");
      }
    }
    if (errors_.size() != errors_before) return std::nullopt;
    return route;
  }

  void load_match(const YAML::Node& node, const std::string& path,
                  const uri::PathOptions& path_options, Match& match) {
    if (!node) return;
    if (!map_or_error(node, path)) return;
    check_keys(node, path, {"path", "path_prefix", "path_regex", "methods", "host", "ignore_case"});
    if (auto ignore_case = node["ignore_case"]) {
      if (auto b = boolean(ignore_case, join_path(path, "ignore_case"))) match.ignore_case = *b;
    }
    int kinds = 0;
    auto path_field = [&](const char* key, PathKind kind) {
      if (auto p = node[key]) {
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
    if (auto methods = node["methods"]) {
      const std::string mpath = join_path(path, "methods");
      if (!methods.IsSequence() || methods.size() == 0) {
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
    if (auto host = node["host"]) {
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

  void load_limits(const YAML::Node& node, const std::string& path, const Config& config,
                   limit::RoutePolicy& policy) {
    const bool inline_rate = node["max_rate"] || node["time_period"];
    const auto bucket = node["bucket"];
    const auto limits = node["limits"];
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
        node["name"] && node["name"].IsScalar() ? node["name"].Scalar() : "";
    const auto route_weight = weight_of(node, path, 1);
    if (!route_weight) return;

    // The route's own fields are the defaults of its limits: parse them once.
    KeySpec route_key{{{KeyKind::client_ip, {}}}};
    if (auto key = node["key"]) {
      auto spec = key_spec(key, join_path(path, "key"));
      if (!spec) return;
      route_key = *spec;
    }
    std::optional<Rate> route_rate;
    if (inline_rate) {
      route_rate = rate_of(node, path, std::nullopt);
      if (!route_rate) return;
    }

    if (bucket) {
      if (auto l = named_bucket_limit(bucket, join_path(path, "bucket"), config, *route_weight)) {
        l->policy_name = route_name;
        policy.limits.push_back(std::move(*l));
      }
      return;
    }
    if (!limits) {
      if (node["weight"] && !route_rate) {
        error(node["weight"], join_path(path, "weight"),
              "needs max_rate/time_period, bucket or limits");
      }
      if (node["key"] && !route_rate) {
        error(node["key"], join_path(path, "key"), "needs max_rate/time_period or limits");
      }
      if (!route_rate) return;
      check_weight(node["weight"] ? node["weight"] : node, join_path(path, "weight"), *route_weight,
                   *route_rate);
      policy.limits.push_back(make_limit(route_name, "route:" + route_name + "#0", route_key,
                                         *route_rate, *route_weight));
      return;
    }
    const std::string lpath = join_path(path, "limits");
    if (!limits.IsSequence() || limits.size() == 0) {
      error(limits, lpath, "must be a non-empty list");
      return;
    }
    if (limits.size() > limit::kMaxLimitsPerRoute) {
      error(limits, lpath,
            "at most " + std::to_string(limit::kMaxLimitsPerRoute) + " limits per route");
      return;
    }
    for (std::size_t i = 0; i < limits.size(); ++i) {
      const YAML::Node item = limits[i];
      const std::string ipath = index_path(lpath, i);
      if (!map_or_error(item, ipath)) continue;
      std::optional<LimitPolicy> l;
      if (auto named = item["bucket"]) {
        check_keys(item, ipath, {"bucket", "weight"});
        auto weight = weight_of(item, ipath, *route_weight);
        if (weight) l = named_bucket_limit(named, join_path(ipath, "bucket"), config, *weight);
      } else {
        check_keys(item, ipath, {"key", "max_rate", "time_period", "weight"});
        KeySpec key = route_key;
        if (auto k = item["key"]) {
          auto spec = key_spec(k, join_path(ipath, "key"));
          if (!spec) continue;
          key = *spec;
        }
        auto rate = rate_of(item, ipath, route_rate);
        auto weight = weight_of(item, ipath, *route_weight);
        if (!rate || !weight) continue;
        check_weight(item["weight"] ? item["weight"] : item, join_path(ipath, "weight"), *weight,
                     *rate);
        l = make_limit("", "route:" + route_name + "#" + std::to_string(i), key, *rate, *weight);
      }
      if (!l) continue;
      l->policy_name = limits.size() == 1 ? route_name : route_name + "-" + std::to_string(i + 1);
      policy.limits.push_back(std::move(*l));
    }
  }

  std::optional<LimitPolicy> named_bucket_limit(const YAML::Node& node, const std::string& path,
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
    return make_limit("", "bucket:" + it->name, it->key, it->rate, weight);
  }

  static LimitPolicy make_limit(std::string policy_name, std::string owner, KeySpec key, Rate rate,
                                double weight) {
    LimitPolicy l{std::move(policy_name), std::move(owner), std::move(key), rate, weight, {}};
    l.bucket_ns = l.bucket_namespace();
    return l;
  }

  void load_action(const YAML::Node& node, const std::string& path, Route& route) {
    auto& policy = route.policy;
    if (auto action = node["action"]) {
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
    if (auto max_delay = node["max_delay"]) {
      if (policy.action != limit::Action::delay) {
        error(max_delay, join_path(path, "max_delay"), "only applies to action: delay");
      } else if (auto d = duration(max_delay, join_path(path, "max_delay"))) {
        policy.max_delay = *d;
      }
    }
    if (auto status = node["status"]) {
      if (auto n = integer(status, join_path(path, "status"))) {
        if (*n < 400 || *n > 599) {
          error(status, join_path(path, "status"), "must be between 400 and 599");
        } else {
          route.status = static_cast<unsigned>(*n);
        }
      }
    }
    if (auto dry_run = node["dry_run"]) {
      if (auto b = boolean(dry_run, join_path(path, "dry_run"))) policy.dry_run = *b;
    }
  }

  std::optional<Respond> load_respond(const YAML::Node& node, const std::string& path) {
    if (!map_or_error(node, path)) return std::nullopt;
    check_keys(node, path, {"status", "body", "content_type"});
    Respond respond;
    if (auto status = node["status"]) {
      if (auto n = integer(status, join_path(path, "status"))) {
        if (*n < 200 || *n > 599) {
          error(status, join_path(path, "status"), "must be between 200 and 599");
        } else {
          respond.status = static_cast<unsigned>(*n);
        }
      }
    }
    if (auto body = node["body"]) {
      if (auto text = scalar(body, join_path(path, "body"))) respond.body = *text;
    }
    if (auto type = node["content_type"]) {
      if (auto text = scalar(type, join_path(path, "content_type"))) respond.content_type = *text;
    }
    return respond;
  }

  // Duplicate keys in any mapping: yaml-cpp keeps both and `node[key]` finds the first, while
  // most YAML tools keep the last, so a repeated `routes:` would silently load the wrong list.
  void check_duplicate_keys(const YAML::Node& node, const std::string& path, int depth) {
    // Aliases can make the tree a graph (or a cycle): each node is walked once, and not deep.
    if (depth > 64 || !walked_.insert({node.Mark().line, node.Mark().column}).second) return;
    if (node.IsSequence()) {
      for (std::size_t i = 0; i < node.size(); ++i) {
        check_duplicate_keys(node[i], index_path(path, i), depth + 1);
      }
    }
    if (!node.IsMap()) return;
    std::map<std::string, YAML::Mark> seen;
    for (const auto& item : node) {
      if (!item.first.IsScalar()) continue;
      const std::string key = item.first.Scalar();
      const auto [it, fresh] = seen.emplace(key, item.first.Mark());
      if (!fresh) {
        error(item.first, join_path(path, key),
              "duplicate key; first at line " + std::to_string(it->second.line + 1) + ", column " +
                  std::to_string(it->second.column + 1));
      }
      check_duplicate_keys(item.second, join_path(path, key), depth + 1);
    }
  }

  std::string file_;
  std::vector<std::string> errors_;
  std::set<std::pair<int, int>> walked_;
  bool upstream_given_ = false;
};

LoadResult parse(const std::string& text, const std::string& name) {
  Loader loader(name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    loader.error_at(e.mark, "", "invalid YAML: " + e.msg);
    return {nullptr,
            {name +
             (e.mark.line >= 0
                  ? ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1)
                  : "") +
             ": invalid YAML: " + e.msg}};
  }
  try {
    return loader.load(root);
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on shapes it cannot index (a key that is itself a map, say).
    return {nullptr,
            {name + ":" + std::to_string(e.mark.line + 1) + ":" +
             std::to_string(e.mark.column + 1) + ": " + e.msg}};
  }
}

}  // namespace

std::string Endpoint::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

LoadResult load_string(std::string_view yaml, const std::string& name) {
  return parse(std::string(yaml), name);
}

LoadResult load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {nullptr, {path + ": cannot open: " + std::strerror(errno)}};
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

}  // namespace sluice::config
