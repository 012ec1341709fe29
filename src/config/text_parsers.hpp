#pragma once
// The scalar forms of the schema, parsed from text: numbers, durations, addresses, upstream
// URLs, methods. No YAML here: these are the rules, reader.cpp says where they were broken.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/config/config.hpp"

namespace sluice::config {

// A name that logs, headers and metric labels carry as is: non-empty printable ASCII without
// spaces, quotes or backslashes, nor any character of `reserved` (an override's `~`).
bool is_plain_name(std::string_view text, std::string_view reserved = {});

std::optional<double> parse_number(std::string_view text);
// Seconds ("10", "0.5") or a number with a unit: "250ms", "10s", "1m", "1h".
std::optional<Nanos> parse_duration(std::string_view text);
// A TCP port, 1..65535 (0 too when `allow_zero`: "pick one").
std::optional<std::uint16_t> parse_port(std::string_view text, bool allow_zero);
// "127.0.0.1:8080", "[::1]:8080", "localhost:8080".
std::optional<Endpoint> parse_endpoint(std::string_view text);
// "host[:port]" of a URL ("[::1]:80" for IPv6), the port defaulting to `default_port`;
// nullopt with `why`.
struct Authority {
  std::string host;  // IPv6 without brackets
  std::uint16_t port;
};
std::optional<Authority> parse_authority(std::string_view text, std::uint16_t default_port,
                                         std::string& why);
// "http://host[:port][/]", or nullopt with `why`.
std::optional<UpstreamTarget> parse_upstream(std::string_view url, std::string& why);
// A redis.address (without password_env, timeout, on_error, prefix), or nullopt with `why`,
// which never repeats the password.
std::optional<RedisConfig> parse_redis_address(std::string_view address, std::string& why);
// Why `method` is not one a route can match, with the fix when it is a matter of case.
std::optional<std::string> method_problem(const std::string& method);
// Why start-up could not open `file` for appending ("-" is stderr and always fine).
std::optional<std::string> unwritable_log_file(const std::string& file);
// Why files cannot be created beside `file` (its directory is missing or not writable).
std::optional<std::string> unwritable_directory_of(const std::string& file);

}  // namespace sluice::config
