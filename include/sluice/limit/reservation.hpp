#pragma once
// All-or-nothing reservations across the several limits of one route (nginx's two-phase rule):
// a request rejected by any limit is charged to none, and a request that passes waits for the
// largest of its limits' delays and is charged to every limit as of the moment it is released,
// so each limit on its own never admits more than its rate.
//
// Several buckets cannot be swapped in one atomic step, so this is optimistic: read every
// bucket, decide, then compare-and-swap each from the value read. If another request changed a
// bucket in between, the swaps already made are undone (swapped back to the values read) and the
// whole decision is taken again. An undo can only fail if yet another request has been charged
// behind ours in that bucket; then the slot stays used, which wastes capacity but can never
// over-admit.

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <span>

#include "sluice/limit/gcra.hpp"

namespace sluice::limit {

inline constexpr std::size_t kMaxLimitsPerRoute = 8;

struct MultiReservation {
  bool admitted = false;
  Nanos release = 0;         // admitted: when the request may go
  Nanos retry_after = 0;     // rejected: how much later it would be admitted
  std::size_t deciding = 0;  // the limit that set the wait (or rejected)
  std::size_t count = 0;
  std::array<Nanos, kMaxLimitsPerRoute> found{};
  std::array<Nanos, kMaxLimitsPerRoute> set{};
};

// A Cell is one bucket: `Nanos load()` and `bool compare_exchange(Nanos expected, Nanos desired)`.
template <class Cell>
concept BucketCell = requires(Cell c, Nanos t) {
  { c.load() } -> std::convertible_to<Nanos>;
  { c.compare_exchange(t, t) } -> std::convertible_to<bool>;
};

// `not_before`: the earliest release, when other limits (a shared one's answer) set it.
// Three times of different meaning (an instant, a span, an instant), each pinned by the tests.
// NOLINTBEGIN(bugprone-easily-swappable-parameters)
template <BucketCell Cell>
MultiReservation reserve_all(std::span<Cell> cells, std::span<const Claim> claims, Nanos now,
                             Nanos max_wait, Nanos not_before = std::numeric_limits<Nanos>::min()) {
  // NOLINTEND(bugprone-easily-swappable-parameters)
  MultiReservation r;
  r.count = cells.size();
  for (;;) {
    r.release = std::max(now, not_before);
    r.deciding = 0;
    for (std::size_t k = 0; k < r.count; ++k) {
      r.found[k] = cells[k].load();
      const Nanos fit = earliest_fit(r.found[k], now, claims[k]);
      if (fit > r.release) {
        r.release = fit;
        r.deciding = k;
      }
    }
    if (r.release - now > max_wait) {
      r.admitted = false;
      r.retry_after = r.release - now - max_wait;
      r.release = 0;
      return r;
    }
    std::size_t done = 0;
    for (; done < r.count; ++done) {
      r.set[done] = charged(r.found[done], r.release, claims[done]);
      if (!cells[done].compare_exchange(r.found[done], r.set[done])) break;
    }
    if (done == r.count) {
      r.admitted = true;
      return r;
    }
    for (std::size_t k = 0; k < done; ++k) cells[k].compare_exchange(r.set[k], r.found[k]);
  }
}

// Gives back each limit's share of a cancelled reservation where nothing was charged behind it.
// Returns how many limits were refunded.
template <BucketCell Cell>
std::size_t refund_all(std::span<Cell> cells, const MultiReservation& r, Nanos now) {
  if (!r.admitted) return 0;
  std::size_t refunded_count = 0;
  for (std::size_t k = 0; k < r.count; ++k) {
    const Reservation one{.admitted = true,
                          .release = r.release,
                          .retry_after = 0,
                          .found = r.found[k],
                          .set = r.set[k]};
    if (cells[k].compare_exchange(r.set[k], refunded(one, now))) ++refunded_count;
  }
  return refunded_count;
}

}  // namespace sluice::limit
