#pragma once
// One leaky bucket as one 64-bit atomic, updated with a compare-and-swap loop: lock-free, no
// timers, no background refill. The arithmetic lives in gcra.hpp; this file adds atomicity and
// the three operations sluice needs: admit (reject mode), reserve (delay mode), refund (cancel).

#include <atomic>
#include <limits>

#include "sluice/limit/gcra.hpp"

namespace sluice::limit {

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

class Bucket {
 public:
  explicit Bucket(Nanos tat = kFreshTat) noexcept : tat_(tat) {}

  // has_capacity + acquire in one atomic step; a rejection charges nothing.
  Reservation admit(Nanos now, Claim claim) noexcept { return reserve(now, claim, 0); }

  // Takes the next slot in arrival order; the request waits `wait(now)` before it goes. A wait
  // longer than `max_wait` is a rejection and charges nothing. Reserving at arrival (rather than
  // aiolimiter's sleep-and-recheck) is what makes delayed requests FIFO and drift-free.
  Reservation reserve(Nanos now, Claim claim, Nanos max_wait = kNoMaxWait) noexcept {
    Nanos found = tat_.load(std::memory_order_relaxed);
    for (;;) {
      const Reservation r = decide(found, now, claim, max_wait);
      if (!r.admitted) return r;
      if (tat_.compare_exchange_weak(found, r.set, std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
        return r;
      }
    }
  }

  // Gives a cancelled reservation back, but only if nothing was charged behind it: otherwise a
  // newcomer could share the slot of a request already scheduled, and the limit be exceeded.
  bool refund(const Reservation& r, Nanos now) noexcept {
    if (!r.admitted) return false;
    Nanos expected = r.set;
    return tat_.compare_exchange_strong(expected, refunded(r, now), std::memory_order_acq_rel);
  }

  [[nodiscard]] bool has_capacity(Nanos now, Claim claim) const noexcept {
    return limit::has_capacity(tat(), now, claim);
  }
  [[nodiscard]] Nanos tat() const noexcept { return tat_.load(std::memory_order_acquire); }

  // The store interface of reservation.hpp, so a lone bucket can take part in multi-limit checks.
  [[nodiscard]] Nanos load() const noexcept { return tat(); }
  bool compare_exchange(Nanos expected, Nanos desired) noexcept {
    return tat_.compare_exchange_strong(expected, desired, std::memory_order_acq_rel);
  }

 private:
  std::atomic<Nanos> tat_;
};

}  // namespace sluice::limit
