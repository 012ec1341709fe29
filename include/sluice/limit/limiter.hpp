#pragma once
// A route's limits applied to one request: the decision (README, "Configuration"), with what the
// response headers and the throttle log need to explain it.

#include <array>
#include <string>
#include <string_view>

#include "sluice/core/hash.hpp"
#include "sluice/limit/bucket_table.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/limit/policy.hpp"
#include "sluice/limit/reservation.hpp"

namespace sluice::limit {

// `denied`: an override refuses the key (403), whatever its buckets hold.
enum class Outcome {
  unlimited,
  allowed,
  delayed,
  rejected,
  dry_run_delayed,
  dry_run_rejected,
  denied
};

std::string_view to_string(Outcome outcome) noexcept;

struct Decision {
  Outcome outcome = Outcome::unlimited;
  Nanos wait = 0;            // delayed (or dry_run_delayed): the hold before forwarding
  Nanos retry_after = 0;     // rejected (or dry_run_rejected): when the same request would pass
  std::size_t deciding = 0;  // the limit that rejected or set the wait
  std::string key;           // the rendered key of that limit
  MultiReservation reservation;
  std::array<BucketId, kMaxLimitsPerRoute> ids{};
  std::array<BucketView, kMaxLimitsPerRoute> views{};  // each limit after the decision

  [[nodiscard]] bool throttled() const noexcept {
    return outcome != Outcome::unlimited && outcome != Outcome::allowed;
  }
};

// A decision's outcome from what its reservation came to, in the route's terms (a dry_run route
// reports what would have happened): local and shared decisions alike.
void set_admitted(Decision& d, const RoutePolicy& route, Nanos wait) noexcept;
void set_rejected(Decision& d, const RoutePolicy& route, Nanos retry_after) noexcept;

class Limiter {
 public:
  Limiter(BucketTable& table, KeyedHash hash) noexcept : table_(table), hash_(hash) {}

  Decision decide(const RoutePolicy& route, const RequestFacts& request, Nanos now);
  // A delayed request whose client left: give its slots back where nothing sits behind them.
  void cancel(const Decision& decision, Nanos now);

  [[nodiscard]] BucketTable& table() noexcept { return table_; }
  [[nodiscard]] const BucketTable& table() const noexcept { return table_; }
  [[nodiscard]] const KeyedHash& hash() const noexcept { return hash_; }
  // The local bucket of `limit` for the rendered `key`.
  [[nodiscard]] BucketId id_of(const LimitPolicy& limit, std::string_view key) const;

 private:
  BucketTable& table_;
  KeyedHash hash_;
};

}  // namespace sluice::limit
