#pragma once
// The configuration as plain immutable values (README, "Configuration"). load.cpp builds it from
// YAML; the rest of sluice shares it through std::shared_ptr<const Config>.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/core/ip.hpp"
#include "sluice/core/log_level.hpp"
#include "sluice/core/uri.hpp"
#include "sluice/limit/policy.hpp"

namespace sluice::config {

// A compiled path_regex. Matching is bounded (Boost.Regex's non-recursive engine with its
// complexity limit), so a hostile path cannot blow the stack or spin.
class PathRegex {
 public:
  // Null with `error` set when the pattern does not compile.
  static std::shared_ptr<const PathRegex> compile(const std::string& pattern, bool ignore_case,
                                                  std::string& error);
  [[nodiscard]] bool matches(std::string_view path) const noexcept;
  ~PathRegex();

 private:
  struct Impl;
  explicit PathRegex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct Endpoint {
  std::string host;  // an IP literal (IPv6 without brackets)
  std::uint16_t port = 0;
  [[nodiscard]] std::string to_string() const;  // "127.0.0.1:8080", "[::1]:8080"
};

// How an https:// upstream's certificate is checked (README, "TLS").
struct UpstreamTls {
  std::string ca;         // PEM file of trusted CAs; empty: the system CA store
  bool insecure = false;  // no verification at all (warned about at every start)
  bool operator==(const UpstreamTls&) const = default;
};

// How requests reach an upstream: `automatic` is HTTP/2 for gRPC calls, HTTP/1.1 otherwise.
enum class UpstreamProtocol { automatic, http1, http2 };
struct UpstreamProtocolName {
  UpstreamProtocol protocol;
  std::string_view name;
};
inline constexpr UpstreamProtocolName kUpstreamProtocols[] = {{UpstreamProtocol::automatic, "auto"},
                                                              {UpstreamProtocol::http1, "http1"},
                                                              {UpstreamProtocol::http2, "http2"}};
constexpr std::string_view to_string(UpstreamProtocol p) noexcept {
  for (const auto& [protocol, name] : kUpstreamProtocols) {
    if (protocol == p) return name;
  }
  return "auto";
}

// The Host an upstream is sent: the upstream's own authority, or the client's Host as it came.
enum class HostHeader { preserve, upstream };

struct UpstreamTarget {
  std::string url;   // as written: http://host:port or https://host:port
  std::string host;  // a name or an IP literal
  std::uint16_t port = 80;
  std::optional<UpstreamTls> tls;  // set for https:// upstreams
  // host[:port] as a Host header names it (the port left out when it is the scheme's default).
  [[nodiscard]] std::string authority() const;
  // Without a route's host_header: a provider behind https:// routes on its own name.
  [[nodiscard]] HostHeader default_host_header() const noexcept {
    return tls ? HostHeader::upstream : HostHeader::preserve;
  }
};

// The listener's certificate (README, "TLS"): with it, the listener speaks only TLS.
struct ListenerTls {
  std::string cert;       // PEM chain
  std::string key;        // PEM private key
  std::string client_ca;  // non-empty: client certificates signed by it are required (mTLS)
  bool operator==(const ListenerTls&) const = default;
};

struct Timeouts {
  Nanos client_header = 10 * kNanosPerSecond;
  Nanos client_idle = 60 * kNanosPerSecond;
  Nanos upstream_connect = 2 * kNanosPerSecond;
  Nanos upstream_response = 60 * kNanosPerSecond;
  Nanos shutdown_grace = 10 * kNanosPerSecond;
  Nanos tunnel_idle = 3600 * kNanosPerSecond;  // an upgraded connection with no bytes either way
};

struct HttpLimits {
  std::size_t max_header_bytes = 16384;
  std::size_t max_body_bytes = 10485760;
  std::size_t max_connections = 10000;
  // Per client address (an IPv6 client by its ipv6_prefix), trusted_proxies exempt; 0 = off.
  std::size_t max_connections_per_client = 0;
  uri::PathOptions paths;  // merge_slashes, escaped_slashes
};

// HTTP/2 on the listener (README, "HTTP/2").
struct Http2Settings {
  bool enabled = true;  // ALPN h2 over TLS; the client preface in clear text
  std::uint32_t max_concurrent_streams = 100;
  std::uint32_t max_resets_per_second = 100;  // streams the client resets; beyond → GOAWAY
};

enum class LogFormat { text, json };

struct LogConfig {
  LogLevel level = LogLevel::info;
  LogFormat format = LogFormat::text;
  std::string file = "-";
  bool access = false;
  bool show_keys = false;  // header and query key values in clear instead of digests
  // `throttled` lines per (route, key, decision) per second; 0 = every one.
  unsigned throttled_lines_per_key = 1;
  // `throttled` lines per second across all keys; beyond, one `throttled_summary` line a second.
  unsigned throttled_lines_per_second = 200;
};

enum class PathKind { prefix, exact, regex };

struct Match {
  PathKind kind = PathKind::prefix;
  std::string path = "/";
  std::shared_ptr<const PathRegex> regex;  // kind == regex
  std::vector<std::string> methods;        // empty: any
  std::string host;                        // empty: any; canonical (uri::canonical_host)
  bool ignore_case = false;                // path compared case-insensitively
};

struct Respond {
  unsigned status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  // `usage: true`: the body is the caller's remaining budget on every limit keyed like
  // `usage_key` (the route's key), as JSON.
  bool usage = false;
  limit::KeySpec usage_key;
};

struct Route {
  std::string name;
  Match match;
  limit::RoutePolicy policy;               // no limits: unlimited
  unsigned status = 429;                   // rejection status
  unsigned grpc_status = 8;                // a rejected gRPC call's (RESOURCE_EXHAUSTED)
  std::optional<UpstreamTarget> upstream;  // resolved: the route's own or the top-level one
  std::optional<Respond> respond;          // answered by sluice instead
  // Default: upstream for https:// upstreams (a provider's virtual host), preserve otherwise.
  HostHeader host_header = HostHeader::preserve;
  UpstreamProtocol upstream_protocol = UpstreamProtocol::automatic;  // the top level's unless set
};

struct NamedBucket {
  std::string name;
  limit::KeySpec key;
  limit::Rate rate;
  bool shared = false;
  // Overrides for some of its key values, for every route that uses it; null: none.
  std::shared_ptr<const limit::Overrides> overrides;
};

// What a request meets while Redis is unusable (README, "Shared limits across instances").
enum class OnRedisError { local, allow, reject };

// Where shared buckets live. The password is held here and nowhere else: to_json and every
// message print `address()`, which leaves it out.
// TLS to Redis (rediss://, or redis.tls): verified like an https:// upstream.
struct RedisTls {
  std::string ca;         // PEM file of trusted CAs; empty: the system CA store
  bool insecure = false;  // no verification at all (warned about at every start)
  std::string cert;       // a client certificate and its key, for a Redis with
  std::string key;        // tls-auth-clients (both or neither)
  bool operator==(const RedisTls&) const = default;
};

// A Redis server, sentinel or cluster node by its TCP address.
struct RedisNode {
  std::string host;
  std::uint16_t port = 6379;
  // "host:port", brackets around an IPv6 host.
  [[nodiscard]] std::string to_string() const;
  bool operator==(const RedisNode&) const = default;
};

// redis.sentinel: the master is asked of these sentinels, and followed across failovers.
struct RedisSentinel {
  using Address = RedisNode;
  std::vector<Address> addresses;
  std::string master;    // the name the sentinels monitor it by
  std::string password;  // the sentinels' own (sentinel.password_env); empty: none
  std::string password_env;
  bool operator==(const RedisSentinel&) const = default;
};

struct RedisConfig {
  // TCP: a name or an IP literal (IPv6 without brackets). With sentinel: the master last found.
  std::string host;
  std::uint16_t port = 6379;
  std::string unix_path;  // set instead of host/port for unix:///path
  std::string user;       // ACL user; empty: the default user
  std::string password;   // from the address or password_env; empty: no AUTH
  std::string password_env;
  int db = 0;
  Nanos timeout = 50 * kNanosPerSecond / 1000;  // per command
  OnRedisError on_error = OnRedisError::local;
  std::string prefix = "sluice:";
  std::optional<RedisTls> tls;            // set by rediss:// or a tls: block
  std::optional<RedisSentinel> sentinel;  // instead of an address
  // redis.cluster: seed nodes, instead of an address; the slot map is learned from them.
  std::vector<RedisNode> cluster;

  // redis[s]://[user@]host:port/db or unix:///path: the address without its password.
  [[nodiscard]] std::string address() const;
  bool operator==(const RedisConfig&) const = default;
};

std::string_view to_string(OnRedisError e) noexcept;
std::string_view to_string(HostHeader h) noexcept;

struct Config {
  std::string source;  // the file it was loaded from
  Endpoint listen;
  std::optional<UpstreamTarget> upstream;
  std::optional<ListenerTls> tls;
  UpstreamTls upstream_tls;  // the default for every https:// upstream
  std::optional<Endpoint> admin;
  // Host names the admin listener answers besides IP literals and localhost (lower-case).
  std::vector<std::string> admin_hosts;
  // Upgrade protocols forwarded (lower-case names); h2c never.
  std::vector<std::string> upgrades{"websocket"};
  unsigned workers = 1;  // resolved: never 0
  std::vector<Cidr> trusted_proxies;
  std::vector<std::string> trusted_proxies_text;
  Timeouts timeouts;
  HttpLimits http;
  Http2Settings http2;
  UpstreamProtocol upstream_protocol = UpstreamProtocol::automatic;
  std::size_t max_keys = 1000000;
  int ipv6_prefix = 64;       // client_ip keys an IPv6 client by this prefix
  bool watch_config = false;  // reload when the file changes
  std::string state_file;     // local buckets kept across a restart; empty: none
  LogConfig log;
  std::optional<RedisConfig> redis;
  std::vector<NamedBucket> buckets;
  std::vector<Route> routes;
  // Files read after loading (TLS certificates, keys, CAs) → where the config names them,
  // "sluice.yaml:5:9: tls.cert", so their errors point at the line like every other error.
  std::map<std::string, std::string, std::less<>> file_positions;
};

}  // namespace sluice::config
