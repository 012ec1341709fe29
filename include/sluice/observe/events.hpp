#pragma once
// The events sluice logs (README, "Logs"), as values, and their two renderings. Client-supplied
// text (paths, keys, methods) is escaped and truncated here, so a client cannot forge or bloat
// lines.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/core/log_level.hpp"

namespace sluice::observe {

// Longest client-supplied value kept in a log line.
inline constexpr std::size_t kMaxLoggedValue = 512;

struct ThrottledEvent {
  std::string route;
  std::string key;
  std::string decision;  // delayed | rejected | dry_run_delayed | dry_run_rejected | denied
  std::string limit;     // "5/10s"
  double weight = 1;
  std::int64_t delay_ms = 0;
  std::int64_t retry_after_s = 0;
  unsigned status = 0;
  std::string method;
  std::string path;
  std::string client;
  std::string request_id;
  std::string protocol;  // http/1.1 | h2 | h2c
  int grpc_status = -1;  // what sluice answered a gRPC call itself; -1: not one
  std::string store;     // shared limits: where the decision was taken (redis, local-fallback…)
  std::string override_label;  // the override applied to the deciding limit: name or position
  // When the decision was taken (ms since the Unix epoch): the line's `ts`, even when a delayed
  // request's line is written seconds later, on its release. 0: when written.
  std::int64_t decided_unix_ms = 0;
};

struct AccessEvent {
  std::string route;  // empty: no route matched
  std::string decision;
  std::string method;
  std::string path;
  std::string client;
  std::string request_id;
  std::string protocol;
  int grpc_status = -1;
  unsigned status = 0;
  std::int64_t duration_ms = 0;
  std::int64_t upstream_ms = 0;
  std::uint64_t bytes = 0;  // response body bytes sent to the client
};

// An exchange with the upstream that failed (README, "Logs": upstream trouble is visible in the
// log).
struct UpstreamErrorEvent {
  std::string route;
  std::string upstream;  // as configured: http://host:port
  std::string kind;      // connect | timeout | reset | protocol
  std::string error;     // the system's words
  unsigned status = 0;   // what the client was sent (a 2xx when the body broke off midway)
  std::string request_id;
};

using Level = LogLevel;

// One field of a line: the value is already a JSON literal when `raw` (numbers).
struct Field {
  std::string_view name;
  std::string value;
  bool raw = false;
};

std::vector<Field> fields_of(const ThrottledEvent& e);
std::vector<Field> fields_of(const AccessEvent& e);
std::vector<Field> fields_of(const UpstreamErrorEvent& e);

// {"ts":...,"level":...,"event":...,<fields>}
std::string render_json(std::string_view ts, Level level, std::string_view event,
                        const std::vector<Field>& fields);
// 2026-11-27T06:00:00.123Z warn throttled route=search key=ip:1.2.3.4 ...
std::string render_text(std::string_view ts, Level level, std::string_view event,
                        const std::vector<Field>& fields);

// Now, as 2026-11-27T06:00:00.123Z.
std::string utc_timestamp();
// `unix_ms` (ms since the Unix epoch) in the same form.
std::string utc_timestamp(std::int64_t unix_ms);
// The wall clock in ms since the Unix epoch.
std::int64_t unix_now_ms();

// Escapes control and non-ASCII bytes and cuts at kMaxLoggedValue.
std::string sanitize(std::string_view value);

}  // namespace sluice::observe
