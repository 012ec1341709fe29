#pragma once
// A route's limits applied to one request: the decision (README, "Configuration"), with what the
// response headers and the throttle log need to explain it.

#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sluice/core/hash.hpp"
#include "sluice/limit/bucket_table.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/limit/policy.hpp"
#include "sluice/limit/quota.hpp"
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

// One limit's quota as a decision left it: the counter, its period, its usage after the decision,
// and what this request holds of it (0: nothing), for a refund.
struct QuotaState {
  BucketId id{};
  QuotaWindow window{};
  std::int64_t used = 0;
  std::int64_t cost = 0;
};

struct Decision {
  Outcome outcome = Outcome::unlimited;
  Nanos wait = 0;            // delayed (or dry_run_delayed): the hold before forwarding
  Nanos retry_after = 0;     // rejected (or dry_run_rejected): when the same request would pass
  std::size_t deciding = 0;  // the limit that rejected or set the wait
  std::string key;           // the rendered key of that limit
  MultiReservation reservation;
  std::array<BucketId, kMaxLimitsPerRoute> ids{};
  // The quotas of the limits that have one. Allocated only for a route with a quota: a decision
  // is held with every delayed request, and inline they took its size from 488 to 880 bytes.
  std::unique_ptr<std::array<QuotaState, kMaxLimitsPerRoute>> quotas;
  bool by_quota = false;  // rejected by the quota of limit `deciding`, not its rate

  QuotaState& quota(std::size_t k) {
    if (!quotas) quotas = std::make_unique<std::array<QuotaState, kMaxLimitsPerRoute>>();
    return (*quotas)[k];
  }
  // A quota this decision never charged reads as zero.
  [[nodiscard]] const QuotaState& quota(std::size_t k) const noexcept {
    static const QuotaState kNone{};
    return quotas ? (*quotas)[k] : kNone;
  }

  [[nodiscard]] bool throttled() const noexcept {
    return outcome != Outcome::unlimited && outcome != Outcome::allowed;
  }
};

// A decision as it is taken: with each limit's bucket after it, which the RateLimit header reports.
// The views are apart from the Decision that a delayed request holds for its whole wait: nothing
// reads them once the header is made, and they are 192 of its bytes.
using BucketViews = std::array<BucketView, kMaxLimitsPerRoute>;
struct Decided : Decision {
  BucketViews views{};

  // The decision without its views, to hold.
  Decision held() && { return static_cast<Decision&&>(*this); }
};

// A decision's outcome from what its reservation came to, in the route's terms (a dry_run route
// reports what would have happened): local and shared decisions alike.
void set_admitted(Decision& d, const RoutePolicy& route, Nanos wait) noexcept;
void set_rejected(Decision& d, const RoutePolicy& route, Nanos retry_after) noexcept;

class Limiter {
 public:
  Limiter(BucketTable& table, QuotaTable& quotas, KeyedHash hash) noexcept
      : table_(table), quotas_(quotas), hash_(hash) {}

  // The rate limits and quotas of `route`, all or nothing: quotas are charged first and given
  // back when a rate limit refuses (a quota's refund is exact; a bucket's may not be).
  Decided decide(const RoutePolicy& route, const RequestFacts& request, Instant now);
  // The rate limits alone (quotas decided by the caller: a shared route's are in Redis).
  Decided decide_rates(const RoutePolicy& route, const RequestFacts& request, Nanos now);
  // A delayed request whose client left: give its slots back where nothing sits behind them,
  // and its quota units.
  void cancel(Decision& decision, Nanos now);

  // Charges the quotas of `route` (with `local_only`, those of its local limits) for the
  // rendered `keys`; on refusal, gives back what it took and sets the rejection in `d`.
  // Returns whether every quota had room.
  bool charge_quotas(const RoutePolicy& route, std::span<const std::string> keys,
                     std::int64_t unix_ns, Decision& d, bool local_only);
  // Gives back the quota units `d` holds.
  void refund_quotas(Decision& d);
  // The quota counter of `limit` for the rendered `key`.
  [[nodiscard]] BucketId quota_id_of(const LimitPolicy& limit, std::string_view key) const;
  [[nodiscard]] QuotaTable& quotas() noexcept { return quotas_; }
  [[nodiscard]] const QuotaTable& quotas() const noexcept { return quotas_; }

  [[nodiscard]] BucketTable& table() noexcept { return table_; }
  [[nodiscard]] const BucketTable& table() const noexcept { return table_; }
  [[nodiscard]] const KeyedHash& hash() const noexcept { return hash_; }
  // The local bucket of `limit` for the rendered `key`.
  [[nodiscard]] BucketId id_of(const LimitPolicy& limit, std::string_view key) const;

 private:
  Decided decide(const RoutePolicy& route, const RequestFacts& request, Instant at,
                 bool with_quotas);

  BucketTable& table_;
  QuotaTable& quotas_;
  KeyedHash hash_;
};

}  // namespace sluice::limit
