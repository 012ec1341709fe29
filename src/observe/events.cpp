#include "sluice/observe/events.hpp"

#include "sluice/core/clock.hpp"
#include "sluice/core/json.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace sluice::observe {
namespace {

bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s) {
    if (c == ' ' || c == '"' || c == '=') return true;
  }
  return false;
}

std::string number(std::int64_t v) {
  return std::to_string(v);
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::string sanitize(std::string_view value) {
  std::string out;
  const bool cut = value.size() > kMaxLoggedValue;
  if (cut) value = value.substr(0, kMaxLoggedValue);
  out.reserve(value.size());
  for (unsigned char c : value) {
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (cut) out += "...";
  return out;
}

std::vector<Field> fields_of(const ThrottledEvent& e) {
  std::vector<Field> fields{{"route", e.route},
                            {"key", sanitize(e.key)},
                            {"decision", e.decision},
                            {"limit", e.limit},
                            {"weight", number(e.weight), true},
                            {"delay_ms", number(e.delay_ms), true},
                            {"retry_after_s", number(e.retry_after_s), true},
                            {"status", number(std::int64_t{e.status}), true},
                            {"method", sanitize(e.method)},
                            {"path", sanitize(e.path)},
                            {"client", e.client},
                            {"request_id", sanitize(e.request_id)},
                            {"protocol", e.protocol}};
  if (e.grpc_status >= 0) {
    fields.push_back({"grpc_status", number(std::int64_t{e.grpc_status}), true});
  }
  if (!e.store.empty()) fields.push_back({"store", e.store});
  if (!e.override_label.empty()) fields.push_back({"override", sanitize(e.override_label)});
  return fields;
}

std::vector<Field> fields_of(const AccessEvent& e) {
  std::vector<Field> fields{{"route", e.route},
                            {"decision", e.decision},
                            {"status", number(std::int64_t{e.status}), true},
                            {"duration_ms", number(e.duration_ms), true},
                            {"upstream_ms", number(e.upstream_ms), true},
                            {"bytes", std::to_string(e.bytes), true},
                            {"method", sanitize(e.method)},
                            {"path", sanitize(e.path)},
                            {"client", e.client},
                            {"request_id", sanitize(e.request_id)},
                            {"protocol", e.protocol}};
  if (e.grpc_status >= 0) {
    fields.push_back({"grpc_status", number(std::int64_t{e.grpc_status}), true});
  }
  return fields;
}

std::vector<Field> fields_of(const UpstreamErrorEvent& e) {
  return {{"route", e.route},
          {"upstream", e.upstream},
          {"kind", e.kind},
          {"error", sanitize(e.error)},
          {"status", number(std::int64_t{e.status}), true},
          {"request_id", sanitize(e.request_id)}};
}

std::string render_json(std::string_view ts, Level level, std::string_view event,
                        const std::vector<Field>& fields) {
  std::string out = "{\"ts\":";
  append_json_string(out, ts);
  out += ",\"level\":";
  append_json_string(out, to_string(level));
  out += ",\"event\":";
  append_json_string(out, event);
  for (const Field& f : fields) {
    out += ',';
    append_json_string(out, f.name);
    out += ':';
    if (f.raw) {
      out += f.value;
    } else {
      append_json_string(out, f.value);
    }
  }
  out += '}';
  return out;
}

std::string render_text(std::string_view ts, Level level, std::string_view event,
                        const std::vector<Field>& fields) {
  std::string out;
  out.reserve(256);
  out.append(ts).append(" ").append(to_string(level)).append(" ").append(event);
  for (const Field& f : fields) {
    out.append(" ").append(f.name).append("=");
    if (!f.raw && needs_quotes(f.value)) {
      out += '"';
      for (char c : f.value) {
        if (c == '"') out += '\\';
        out += c;
      }
      out += '"';
    } else {
      out += f.value;
    }
  }
  return out;
}

std::int64_t unix_now_ms() {
  return unix_now_ns() / kNanosPerMilli;
}

std::string utc_timestamp() {
  return utc_timestamp(unix_now_ms());
}

std::string utc_timestamp(std::int64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  const auto millis = unix_ms % 1000;
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

}  // namespace sluice::observe
