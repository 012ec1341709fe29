#pragma once
// A clock that moves only when a test says so, for exact boundaries.

#include <atomic>

#include "sluice/core/clock.hpp"

namespace sluice::testing {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(Nanos start = 0) : now_(start) {}
  [[nodiscard]] Nanos now() const noexcept override { return now_.load(); }
  void set(Nanos t) { now_.store(t); }
  void advance(Nanos d) { now_.fetch_add(d); }

 private:
  std::atomic<Nanos> now_;
};

constexpr Nanos seconds(double s) {
  return static_cast<Nanos>(s * 1e9);
}
constexpr Nanos millis(std::int64_t ms) {
  return ms * kNanosPerMilli;
}

}  // namespace sluice::testing
