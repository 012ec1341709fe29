#include "sluice/config/to_json.hpp"

#include <cstdio>

#include "sluice/core/json.hpp"
#include "sluice/limit/overrides.hpp"

namespace sluice::config {
namespace {

class JsonWriter {
 public:
  JsonWriter& key(std::string_view k) {
    comma();
    quoted(k);
    out_ += ':';
    fresh_ = true;
    return *this;
  }
  JsonWriter& string(std::string_view s) {
    comma();
    quoted(s);
    return *this;
  }
  JsonWriter& number(double v) {
    comma();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    out_ += buf;
    return *this;
  }
  JsonWriter& seconds(Nanos n) { return number(static_cast<double>(n) / kNanosPerSecond); }
  JsonWriter& boolean(bool b) {
    comma();
    out_ += b ? "true" : "false";
    return *this;
  }
  JsonWriter& null() {
    comma();
    out_ += "null";
    return *this;
  }
  JsonWriter& open(char c) {
    comma();
    out_ += c;
    fresh_ = true;
    return *this;
  }
  JsonWriter& close(char c) {
    out_ += c;
    fresh_ = false;
    return *this;
  }
  std::string take() { return std::move(out_); }

 private:
  void quoted(std::string_view s) { append_json_string(out_, s); }
  void comma() {
    if (!fresh_) out_ += ',';
    fresh_ = false;
  }
  std::string out_;
  bool fresh_ = true;
};

void write_upstream(JsonWriter& w, const std::optional<UpstreamTarget>& u) {
  if (u) {
    w.string(u->url);
  } else {
    w.null();
  }
}

void write_upstream_tls(JsonWriter& w, const UpstreamTls& tls) {
  w.open('{');
  w.key("ca").string(tls.ca);
  w.key("insecure").boolean(tls.insecure);
  w.close('}');
}

void write_quota(JsonWriter& w, const limit::LimitPolicy& l) {
  if (!l.quota) return;
  w.key("quota").open('{');
  w.key("limit").number(static_cast<double>(l.quota->limit));
  w.key("per").string(std::string(limit::to_string(l.quota->per)));
  w.key("policy").string(l.quota_policy_name());
  w.close('}');
}

void write_limit(JsonWriter& w, const limit::LimitPolicy& l) {
  w.open('{');
  w.key("policy").string(l.policy_name);
  w.key("bucket").string(l.owner);
  w.key("key").string(l.key.to_string());
  w.key("max_rate").number(l.rate.max_rate);
  w.key("time_period").seconds(l.rate.period);
  w.key("weight").number(l.weight);
  w.key("shared").boolean(l.shared);
  write_quota(w, l);
  if (l.overrides) {
    // The entries themselves stay out: they are often credentials.
    w.key("overrides").open('[');
    for (const limit::Override& o : l.overrides->list) {
      w.open('{');
      w.key("name").string(o.label);
      constexpr std::string_view kEffects[] = {"limit", "unlimited", "deny"};
      w.key("effect").string(std::string(kEffects[static_cast<std::size_t>(o.effect)]));
      if (o.effect == limit::Override::Effect::limit) {
        w.key("policy").string(o.limit.policy_name);
        w.key("max_rate").number(o.limit.rate.max_rate);
        w.key("time_period").seconds(o.limit.rate.period);
        w.key("weight").number(o.limit.weight);
        write_quota(w, o.limit);
      }
      w.close('}');
    }
    w.close(']');
    w.key("override_entries").number(static_cast<double>(l.overrides->matcher.entries()));
  }
  w.close('}');
}

std::string_view path_kind(PathKind k) {
  switch (k) {
    case PathKind::exact:
      return "path";
    case PathKind::prefix:
      return "path_prefix";
    case PathKind::regex:
      return "path_regex";
  }
  return "path_prefix";
}

}  // namespace

std::string to_json(const Config& c) {
  JsonWriter w;
  w.open('{');
  w.key("version").number(1);
  w.key("source").string(c.source);
  w.key("listen").string(c.listen.to_string());
  w.key("upstream");
  write_upstream(w, c.upstream);
  w.key("tls");
  if (c.tls) {
    w.open('{');
    w.key("cert").string(c.tls->cert);
    w.key("key").string(c.tls->key);
    w.key("client_ca").string(c.tls->client_ca);
    w.close('}');
  } else {
    w.null();
  }
  w.key("upstream_tls");
  write_upstream_tls(w, c.upstream_tls);
  w.key("admin");
  if (c.admin) {
    w.string(c.admin->to_string());
  } else {
    w.null();
  }
  w.key("admin_hosts").open('[');
  for (const auto& h : c.admin_hosts) w.string(h);
  w.close(']');
  w.key("upgrades").open('[');
  for (const auto& u : c.upgrades) w.string(u);
  w.close(']');
  w.key("workers").number(c.workers);
  w.key("trusted_proxies").open('[');
  for (const auto& t : c.trusted_proxies_text) w.string(t);
  w.close(']');
  w.key("timeouts").open('{');
  const std::pair<const char*, Nanos> timeouts[] = {
      {"client_header", c.timeouts.client_header},
      {"client_idle", c.timeouts.client_idle},
      {"upstream_connect", c.timeouts.upstream_connect},
      {"upstream_response", c.timeouts.upstream_response},
      {"shutdown_grace", c.timeouts.shutdown_grace},
      {"tunnel_idle", c.timeouts.tunnel_idle}};
  for (const auto& [name, value] : timeouts) w.key(name).seconds(value);
  w.close('}');
  w.key("http").open('{');
  w.key("max_header_bytes").number(static_cast<double>(c.http.max_header_bytes));
  w.key("max_body_bytes").number(static_cast<double>(c.http.max_body_bytes));
  w.key("max_connections").number(static_cast<double>(c.http.max_connections));
  w.key("max_connections_per_client")
      .number(static_cast<double>(c.http.max_connections_per_client));
  w.key("merge_slashes").boolean(c.http.paths.merge_slashes);
  w.key("escaped_slashes").string(std::string(uri::to_string(c.http.paths.escaped_slashes)));
  w.close('}');
  w.key("upstream_protocol").string(std::string(to_string(c.upstream_protocol)));
  w.key("http2").open('{');
  w.key("enabled").boolean(c.http2.enabled);
  w.key("max_concurrent_streams").number(c.http2.max_concurrent_streams);
  w.key("max_resets_per_second").number(c.http2.max_resets_per_second);
  w.close('}');
  w.key("max_keys").number(static_cast<double>(c.max_keys));
  w.key("ipv6_prefix").number(c.ipv6_prefix);
  w.key("watch_config").boolean(c.watch_config);
  w.key("state_file").string(c.state_file);
  w.key("log").open('{');
  w.key("level").string(std::string(to_string(c.log.level)));
  w.key("format").string(c.log.format == LogFormat::json ? "json" : "text");
  w.key("file").string(c.log.file);
  w.key("access").boolean(c.log.access);
  w.key("show_keys").boolean(c.log.show_keys);
  w.key("throttled_lines_per_key").number(c.log.throttled_lines_per_key);
  w.key("throttled_lines_per_second").number(c.log.throttled_lines_per_second);
  w.close('}');
  w.key("redis");
  if (c.redis) {
    // The password stays out: address() has none, and password_env names only the variable.
    w.open('{');
    w.key("address").string(c.redis->address());
    if (c.redis->sentinel) {
      w.key("sentinel").open('{');
      w.key("addresses").open('[');
      for (const auto& a : c.redis->sentinel->addresses) {
        w.string(a.to_string());
      }
      w.close(']');
      w.key("master").string(c.redis->sentinel->master);
      w.key("password_env").string(c.redis->sentinel->password_env);
      w.close('}');
    }
    if (!c.redis->cluster.empty()) {
      w.key("cluster").open('[');
      for (const auto& seed : c.redis->cluster) {
        w.string(seed.to_string());
      }
      w.close(']');
    }
    w.key("user").string(c.redis->user);
    w.key("password_env").string(c.redis->password_env);
    w.key("authenticated").boolean(!c.redis->password.empty());
    w.key("timeout").seconds(c.redis->timeout);
    w.key("on_error").string(std::string(to_string(c.redis->on_error)));
    w.key("prefix").string(c.redis->prefix);
    w.close('}');
  } else {
    w.null();
  }
  w.key("buckets").open('{');
  for (const auto& b : c.buckets) {
    w.key(b.name).open('{');
    w.key("key").string(b.key.to_string());
    w.key("max_rate").number(b.rate.max_rate);
    w.key("time_period").seconds(b.rate.period);
    w.key("shared").boolean(b.shared);
    w.close('}');
  }
  w.close('}');
  w.key("routes").open('[');
  for (const Route& r : c.routes) {
    w.open('{');
    w.key("name").string(r.name);
    w.key("match").open('{');
    w.key(path_kind(r.match.kind)).string(r.match.path);
    w.key("methods").open('[');
    for (const auto& m : r.match.methods) w.string(m);
    w.close(']');
    w.key("host").string(r.match.host);
    w.close('}');
    w.key("limits").open('[');
    for (const auto& l : r.policy.limits) write_limit(w, l);
    w.close(']');
    w.key("action").string(r.policy.action == limit::Action::delay ? "delay" : "reject");
    w.key("max_delay").seconds(r.policy.max_delay);
    w.key("status").number(r.status);
    w.key("grpc_status").number(r.grpc_status);
    w.key("dry_run").boolean(r.policy.dry_run);
    w.key("upstream");
    write_upstream(w, r.upstream);
    if (r.upstream && r.upstream->tls) {
      w.key("upstream_tls");
      write_upstream_tls(w, *r.upstream->tls);
    }
    w.key("host_header").string(to_string(r.host_header));
    w.key("upstream_protocol").string(std::string(to_string(r.upstream_protocol)));
    w.key("respond");
    if (r.respond) {
      w.open('{');
      w.key("status").number(r.respond->status);
      w.key("body").string(r.respond->body);
      w.key("content_type").string(r.respond->content_type);
      if (r.respond->usage) {
        w.key("usage").boolean(true);
        w.key("usage_key").string(r.respond->usage_key.to_string());
      }
      w.close('}');
    } else {
      w.null();
    }
    w.close('}');
  }
  w.close(']');
  w.close('}');
  return w.take();
}

}  // namespace sluice::config
