#pragma once
// The leaky bucket of aiolimiter (capacity `max_rate`, draining at `max_rate / time_period`) in
// GCRA / virtual-scheduling form. A bucket is a single number, its theoretical arrival time `tat`:
// the instant at which it would be empty again. Everything here is pure value code; time is
// passed in, so tests drive it with exact nanoseconds.
//
//   level(now)     = max(0, tat - now) / T                    T = time_period / max_rate
//   charge at t    : tat' = max(tat, t) + amount * T
//   fits at t      : tat' - t <= tau                          tau = time_period
//
// A tat at or before `now` is an empty bucket, indistinguishable from a fresh one (tat = 0).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "sluice/core/clock.hpp"

namespace sluice::limit {

// The value of a bucket that was never charged.
inline constexpr Nanos kFreshTat = 0;

// A limit's shape: capacity in units and the time a full bucket takes to drain.
struct Rate {
  double max_rate = 1;  // > 0, may be fractional
  Nanos period = kNanosPerSecond;

  // amount * T, the time `amount` units occupy in the bucket.
  [[nodiscard]] Nanos cost(double amount) const noexcept {
    return static_cast<Nanos>(std::llround(static_cast<long double>(period) * amount /
                                           static_cast<long double>(max_rate)));
  }
  // The units that drain in `span`.
  [[nodiscard]] double units(Nanos span) const noexcept {
    return static_cast<double>(static_cast<long double>(span) * max_rate / period);
  }
  [[nodiscard]] Nanos tau() const noexcept { return period; }
};

// One request's claim on one bucket.
struct Claim {
  Nanos cost = 0;  // amount * T
  Nanos tau = 0;   // capacity expressed as time
};

// Time until the bucket is empty again.
constexpr Nanos backlog(Nanos tat, Nanos now) noexcept {
  return tat > now ? tat - now : 0;
}

// The earliest instant at or after `now` at which `claim` fits into the bucket.
constexpr Nanos earliest_fit(Nanos tat, Nanos now, Claim claim) noexcept {
  return std::max(now, tat + claim.cost - claim.tau);
}

// The bucket after charging `claim` as of instant `at`.
constexpr Nanos charged(Nanos tat, Nanos at, Claim claim) noexcept {
  return std::max(tat, at) + claim.cost;
}

// aiolimiter's has_capacity(amount).
constexpr bool has_capacity(Nanos tat, Nanos now, Claim claim) noexcept {
  return earliest_fit(tat, now, claim) <= now;
}

// What the RateLimit headers report about a bucket (README, "Configuration").
struct BucketView {
  double level = 0;        // units in the bucket now (may exceed max_rate with reservations)
  std::int64_t remaining;  // floor(max_rate - level), never negative
  Nanos until_empty;       // backlog
};

inline BucketView view(Nanos tat, Nanos now, const Rate& rate) noexcept {
  const Nanos left = backlog(tat, now);
  const double level = rate.units(left);
  // The epsilon keeps exact results such as 5 - 4.0000000001 from flooring a unit away.
  const double free_units = std::floor(rate.max_rate - level + 1e-9);
  return {level, free_units > 0 ? static_cast<std::int64_t>(free_units) : 0, left};
}

inline constexpr Nanos kNoMaxWait = std::numeric_limits<Nanos>::max() / 4;

// The result of asking a bucket (or several, see reservation.hpp) for room.
struct Reservation {
  bool admitted = false;
  Nanos release = 0;      // admitted: when the request may go (== now when no wait)
  Nanos retry_after = 0;  // rejected: how much later the same request would be admitted
  Nanos found = 0;        // tat before the charge (for refunds)
  Nanos set = 0;          // tat after the charge

  [[nodiscard]] Nanos wait(Nanos now) const noexcept { return release - now; }
};

// Decides `claim` against a bucket whose tat is `found`, allowing a wait of up to `max_wait`.
// Pure; the callers apply `set` atomically.
constexpr Reservation decide(Nanos found, Nanos now, Claim claim, Nanos max_wait) noexcept {
  const Nanos release = earliest_fit(found, now, claim);
  if (release - now > max_wait) {
    return {.admitted = false,
            .release = 0,
            .retry_after = release - now - max_wait,
            .found = found,
            .set = found};
  }
  return {.admitted = true,
          .release = release,
          .retry_after = 0,
          .found = found,
          .set = charged(found, release, claim)};
}

// The tat a refund restores: what the reservation found, or now if that is later
// (both are an empty bucket when found <= now).
constexpr Nanos refunded(const Reservation& r, Nanos now) noexcept {
  return std::max(r.found, now);
}

}  // namespace sluice::limit
