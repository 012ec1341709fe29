#pragma once
// A lone leaky bucket as one 64-bit atomic updated by compare-and-swap: the reference model the
// algorithm tests use. sluice itself keeps its buckets in limit::BucketTable, with the same
// decide() and refunded() of gcra.hpp.

#include <atomic>

#include "sluice/limit/gcra.hpp"

namespace sluice::limit {

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
