#pragma once
// A clock that moves only when a test says so, for exact boundaries.

#include <atomic>

#include "sluice/core/clock.hpp"

namespace sluice::testing {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(Nanos start = 0) : now_(start) {}
  [[nodiscard]] Nanos now() const noexcept override { return now_.load(); }
  // The wall clock moves with the steady one, from an origin a test may set.
  [[nodiscard]] std::int64_t unix_ns() const noexcept override {
    return unix_origin_.load() + now_.load();
  }
  void set(Nanos t) { now_.store(t); }
  void advance(Nanos d) { now_.fetch_add(d); }
  // Sets the wall clock to `unix_ns` now (the steady clock is left alone).
  void set_unix(std::int64_t unix_ns) { unix_origin_.store(unix_ns - now_.load()); }

 private:
  std::atomic<Nanos> now_;
  std::atomic<std::int64_t> unix_origin_{kDefaultUnixOrigin};
  static constexpr std::int64_t kDefaultUnixOrigin =
      1'767'225'600LL * kNanosPerSecond;  // 2026-01-01
};

constexpr Nanos seconds(double s) {
  return static_cast<Nanos>(s * 1e9);
}
constexpr Nanos millis(std::int64_t ms) {
  return ms * kNanosPerMilli;
}

}  // namespace sluice::testing
