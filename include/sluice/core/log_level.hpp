#pragma once
// Log levels, shared by the config (log.level) and the event log.

#include <optional>
#include <string_view>

namespace sluice {

enum class LogLevel { trace, debug, info, warn, error };

constexpr std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::trace:
      return "trace";
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "info";
}

constexpr std::optional<LogLevel> parse_log_level(std::string_view text) noexcept {
  for (LogLevel level :
       {LogLevel::trace, LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error}) {
    if (to_string(level) == text) return level;
  }
  return std::nullopt;
}

}  // namespace sluice
