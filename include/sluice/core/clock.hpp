#pragma once
// Time as sluice sees it: signed 64-bit nanoseconds of a steady clock.
// Algorithms take `Nanos now` as an argument; only the edges ask a Clock.

#include <chrono>
#include <cstdint>

namespace sluice {

using Nanos = std::int64_t;

inline constexpr Nanos kNanosPerSecond = 1'000'000'000;
inline constexpr Nanos kNanosPerMilli = 1'000'000;

// The wall clock, in ns since the Unix epoch: for timestamps, calendar quotas and what must
// outlive the process (the state file), never for rate limits.
inline std::int64_t unix_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One instant on both clocks: buckets live on the steady clock; quotas reset on the UTC calendar
// and a snapshot crosses restarts, both on the wall clock.
struct Instant {
  Nanos steady = 0;
  std::int64_t unix_ns = 0;
};

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual Nanos now() const noexcept = 0;
  [[nodiscard]] virtual std::int64_t unix_ns() const noexcept { return unix_now_ns(); }
  [[nodiscard]] Instant instant() const noexcept { return {now(), unix_ns()}; }
};

class SteadyClock final : public Clock {
 public:
  [[nodiscard]] Nanos now() const noexcept override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// Whole seconds, rounded up: what Retry-After and the RateLimit `t` parameter carry.
constexpr std::int64_t ceil_seconds(Nanos span) noexcept {
  if (span <= 0) return 0;
  return (span + kNanosPerSecond - 1) / kNanosPerSecond;
}

}  // namespace sluice
