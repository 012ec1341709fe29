// The TLS parts of the schema (README, "TLS"): the listener's certificate, how https:// upstreams
// are verified, and the Host a route's upstream is sent.
#include "config/loader.hpp"

namespace sluice::config {

// Only the form is checked here: the files are read (and their errors reported with these
// field names) when the TLS contexts are built, at start-up, on --check and on every reload.
void Loader::load_listener_tls(const Node& node, Config& config) {
  if (!node) return;
  if (!map_or_error(node, "tls")) return;
  check_keys(node, "tls", {"cert", "key", "client_ca"});
  ListenerTls tls;
  auto path_of = [&](const char* key, std::string& out, bool needed) {
    const Node& file = needed ? required(node, "tls", key) : node[key];
    if (!file) return;
    if (auto text = scalar(file, join_path("tls", key))) {
      if (text->empty()) error(file, join_path("tls", key), "must be a file path");
      out = *text;
      config.file_positions.emplace(*text, position(file, join_path("tls", key)));
    }
  };
  path_of("cert", tls.cert, true);
  path_of("key", tls.key, true);
  path_of("client_ca", tls.client_ca, false);
  client_certs_asked_ = !tls.client_ca.empty();
  config.tls = std::move(tls);
}

std::optional<UpstreamTls> Loader::upstream_tls(const Node& node, const std::string& path,
                                                const UpstreamTls& inherited, Config& config) {
  if (!map_or_error(node, path)) return std::nullopt;
  check_keys(node, path, {"ca", "insecure"});
  UpstreamTls tls = inherited;
  if (const auto& ca = node["ca"]) {
    if (auto text = scalar(ca, join_path(path, "ca"))) {
      if (text->empty()) error(ca, join_path(path, "ca"), "must be a file path");
      tls.ca = *text;
      config.file_positions.emplace(*text, position(ca, join_path(path, "ca")));
    }
  }
  if (const auto& insecure = node["insecure"]) {
    if (auto b = boolean(insecure, join_path(path, "insecure"))) tls.insecure = *b;
  }
  if (tls.insecure && !tls.ca.empty()) {
    error(node, path, "ca and insecure: true contradict each other: keep one");
  }
  return tls;
}

// redis.tls: TLS for every connection to Redis, even with a redis:// address.
void Loader::load_redis_tls(const Node& node, Config& config, RedisConfig& redis) {
  static const std::string path = "redis.tls";
  if (!map_or_error(node, path)) return;
  check_keys(node, path, {"ca", "insecure", "cert", "key"});
  RedisTls tls;
  auto path_of = [&](const char* key, std::string& out) {
    const Node& file = node[key];
    if (!file) return;
    if (auto text = scalar(file, join_path(path, key))) {
      if (text->empty()) error(file, join_path(path, key), "must be a file path");
      out = *text;
      config.file_positions.emplace(*text, position(file, join_path(path, key)));
    }
  };
  path_of("ca", tls.ca);
  path_of("cert", tls.cert);
  path_of("key", tls.key);
  if (const auto& insecure = node["insecure"]) {
    if (auto b = boolean(insecure, join_path(path, "insecure"))) tls.insecure = *b;
  }
  if (tls.insecure && !tls.ca.empty()) {
    error(node, path, "ca and insecure: true contradict each other: keep one");
  }
  if (tls.cert.empty() != tls.key.empty()) {
    error(node, path, "a client certificate needs both cert and key");
  }
  if (!redis.unix_path.empty()) {
    error(node, path, "TLS needs a TCP address (redis:// or rediss://), not a unix socket");
  }
  redis.tls = std::move(tls);
}

// The route's upstream (its own or the top-level one), how its certificate is checked, and the
// Host it is sent.
void Loader::load_route_upstream(const Node& node, const std::string& path, Config& config,
                                 Route& route) {
  if (const auto& upstream = node["upstream"]) {
    route.upstream = upstream_target(upstream, join_path(path, "upstream"));
    if (route.upstream && route.upstream->tls) route.upstream->tls = config.upstream_tls;
  } else {
    route.upstream = config.upstream;
    if (!route.upstream && !upstream_given_) {
      error(node, path, "forwards but no upstream is set, neither here nor at the top level");
    }
  }
  const bool https = route.upstream && route.upstream->tls;
  if (const auto& tls = node["upstream_tls"]) {
    const std::string tls_path = join_path(path, "upstream_tls");
    if (route.upstream && !https) {
      error(tls, tls_path,
            "applies to https:// upstreams only; this route's is " + route.upstream->url);
    } else if (auto settings = upstream_tls(tls, tls_path, config.upstream_tls, config);
               settings && https) {
      route.upstream->tls = *settings;
    }
  }
  route.host_header = route.upstream ? route.upstream->default_host_header() : HostHeader::preserve;
  if (const auto& host = node["host_header"]) {
    if (auto text = scalar(host, join_path(path, "host_header"))) {
      if (*text == "upstream") {
        route.host_header = HostHeader::upstream;
      } else if (*text == "preserve") {
        route.host_header = HostHeader::preserve;
      } else {
        error(host, join_path(path, "host_header"), "must be upstream or preserve");
      }
    }
  }
  route.upstream_protocol = config.upstream_protocol;
  if (const auto& protocol = node["upstream_protocol"]) {
    if (auto p = upstream_protocol(protocol, join_path(path, "upstream_protocol"))) {
      route.upstream_protocol = *p;
    }
  }
}

std::optional<UpstreamProtocol> Loader::upstream_protocol(const Node& node,
                                                          const std::string& path) {
  const auto text = scalar(node, path);
  if (!text) return std::nullopt;
  for (const auto& [protocol, name] : kUpstreamProtocols) {
    if (*text == name) return protocol;
  }
  error(node, path, "must be auto, http1 or http2");
  return std::nullopt;
}

}  // namespace sluice::config
