// The `redis.address` forms (README, "Shared limits across instances"):
// redis://[user[:password]@]host[:port][/db] (rediss:// for TLS) and unix:///path.sock. A password
// is never repeated in a message, since messages reach logs.
#include <cctype>

#include "config/text_parsers.hpp"

namespace sluice::config {
namespace {

constexpr std::string_view kTcpScheme = "redis://";
constexpr std::string_view kTlsScheme = "rediss://";
constexpr std::string_view kUnixScheme = "unix://";

// %XX escapes in the user information (a password may need '@' or ':').
std::optional<std::string> percent_decoded(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      return std::nullopt;
    }
    out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
    i += 2;
  }
  return out;
}

}  // namespace

std::optional<RedisConfig> parse_redis_address(std::string_view address, std::string& why) {
  RedisConfig redis;
  if (address.starts_with(kUnixScheme)) {
    redis.unix_path = std::string(address.substr(kUnixScheme.size()));
    if (!redis.unix_path.starts_with('/')) {
      why = "a unix socket address is unix:///absolute/path.sock";
      return std::nullopt;
    }
    return redis;
  }
  std::string_view rest;
  if (address.starts_with(kTcpScheme)) {
    rest = address.substr(kTcpScheme.size());
  } else if (address.starts_with(kTlsScheme)) {
    rest = address.substr(kTlsScheme.size());
    redis.tls = RedisTls{};
  } else {
    why =
        "must be redis://[user[:password]@]host[:port][/db], rediss://… (TLS) or unix:///path.sock";
    return std::nullopt;
  }
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    auto user = percent_decoded(userinfo.substr(0, colon));
    auto password = percent_decoded(colon == std::string_view::npos ? std::string_view{}
                                                                    : userinfo.substr(colon + 1));
    if (!user || !password) {
      why = "has a malformed %-escape in its user or password";
      return std::nullopt;
    }
    redis.user = std::move(*user);
    redis.password = std::move(*password);
  }
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    const auto n = parse_number(db);
    if (!db.empty() && (!n || *n < 0 || *n > 15 || *n != static_cast<int>(*n))) {
      why = "has an invalid database number (0..15 after the /)";
      return std::nullopt;
    }
    redis.db = n ? static_cast<int>(*n) : 0;
  }
  auto authority = parse_authority(rest, redis.port, why);
  if (!authority) return std::nullopt;
  redis.host = std::move(authority->host);
  redis.port = authority->port;
  return redis;
}

std::string RedisNode::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string RedisConfig::address() const {
  if (!unix_path.empty()) return "unix://" + unix_path;
  if (sentinel && host.empty()) return "sentinel:" + sentinel->master;  // not found yet
  if (!cluster.empty() && host.empty()) return "cluster:" + cluster.front().to_string();
  std::string out(tls ? kTlsScheme : kTcpScheme);
  if (!user.empty()) out += user + "@";
  out += RedisNode{host, port}.to_string();
  if (db != 0) out += "/" + std::to_string(db);
  return out;
}

std::string_view to_string(OnRedisError e) noexcept {
  switch (e) {
    case OnRedisError::local:
      return "local";
    case OnRedisError::allow:
      return "allow";
    case OnRedisError::reject:
      return "reject";
  }
  return "local";
}

}  // namespace sluice::config
