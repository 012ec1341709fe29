#include "sluice/limit/limiter.hpp"

namespace sluice::limit {

std::string_view to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::unlimited:
      return "unlimited";
    case Outcome::allowed:
      return "allowed";
    case Outcome::delayed:
      return "delayed";
    case Outcome::rejected:
      return "rejected";
    case Outcome::dry_run_delayed:
      return "dry_run_delayed";
    case Outcome::denied:
      return "denied";
    case Outcome::dry_run_rejected:
      return "dry_run_rejected";
  }
  return "unknown";
}

void set_admitted(Decision& d, const RoutePolicy& route, Nanos wait) noexcept {
  if (wait > 0) {
    d.wait = wait;
    d.outcome = route.dry_run ? Outcome::dry_run_delayed : Outcome::delayed;
  } else {
    d.outcome = Outcome::allowed;
  }
}

void set_rejected(Decision& d, const RoutePolicy& route, Nanos retry_after) noexcept {
  d.retry_after = retry_after;
  d.outcome = route.dry_run ? Outcome::dry_run_rejected : Outcome::rejected;
}

Decided Limiter::decide(const RoutePolicy& route, const RequestFacts& request, Instant now) {
  return decide(route, request, now, route.any_quota());
}

Decided Limiter::decide_rates(const RoutePolicy& route, const RequestFacts& request, Nanos now) {
  return decide(route, request, {now, 0}, false);
}

Decided Limiter::decide(const RoutePolicy& route, const RequestFacts& request, Instant at,
                        bool with_quotas) {
  Decided d;
  const std::size_t n = route.limits.size();
  if (n == 0) return d;
  const Nanos now = at.steady;

  std::array<std::string, kMaxLimitsPerRoute> keys;
  std::array<Claim, kMaxLimitsPerRoute> claims;
  for (std::size_t k = 0; k < n; ++k) {
    const LimitPolicy& limit = route.limits[k];
    keys[k] = render_key(limit.key, request);
    d.ids[k] = id_of(limit, keys[k]);
    claims[k] = limit.claim();
  }
  if (with_quotas &&
      !charge_quotas(route, std::span<const std::string>(keys.data(), n), at.unix_ns, d, false)) {
    d.key = std::move(keys[d.deciding]);
    for (std::size_t k = 0; k < n; ++k) {
      d.views[k] = view(table_.load(d.ids[k]), now, route.limits[k].rate);
    }
    return d;
  }

  const Nanos max_wait = route.max_wait();
  if (n == 1) {
    const Reservation r = table_.reserve(d.ids[0], now, claims[0], max_wait);
    d.reservation = {.admitted = r.admitted,
                     .release = r.release,
                     .retry_after = r.retry_after,
                     .deciding = 0,
                     .count = 1,
                     .found = {r.found},
                     .set = {r.set}};
  } else {
    std::array<BucketTable::Cell, kMaxLimitsPerRoute> cells;
    for (std::size_t k = 0; k < n; ++k) cells[k] = {&table_, d.ids[k], now};
    d.reservation = reserve_all(std::span(cells.data(), n),
                                std::span<const Claim>(claims.data(), n), now, max_wait);
  }

  const MultiReservation& r = d.reservation;
  d.deciding = r.deciding;
  d.key = std::move(keys[r.deciding]);
  for (std::size_t k = 0; k < n; ++k) {
    d.views[k] = view(r.admitted ? r.set[k] : r.found[k], now, route.limits[k].rate);
  }
  if (r.admitted) {
    set_admitted(d, route, r.release - now);
  } else {
    refund_quotas(d);
    set_rejected(d, route, r.retry_after);
  }
  return d;
}

bool Limiter::charge_quotas(const RoutePolicy& route, std::span<const std::string> keys,
                            std::int64_t unix_ns, Decision& d, bool local_only) {
  for (std::size_t k = 0; k < keys.size(); ++k) {
    const LimitPolicy& limit = route.limits[k];
    if (!limit.quota || (local_only && limit.shared)) continue;
    QuotaState& q = d.quota(k);
    q.id = quota_id_of(limit, keys[k]);
    q.window = quota_window(limit.quota->per, unix_ns);
    const std::int64_t cost = quota_cost(limit.weight);
    const QuotaCharge c = quotas_.charge(q.id, q.window, cost, limit.quota->capacity());
    q.used = c.used;
    if (!c.admitted) {
      refund_quotas(d);  // all or nothing: what the quotas before this one took
      d.deciding = k;
      d.by_quota = true;
      set_rejected(d, route, q.window.end - unix_ns);
      return false;
    }
    q.cost = cost;
  }
  return true;
}

void Limiter::refund_quotas(Decision& d) {
  if (!d.quotas) return;
  for (QuotaState& q : *d.quotas) {
    if (q.cost == 0) continue;
    quotas_.refund(q.id, q.window, q.cost);
    q.used -= q.cost;
    q.cost = 0;
  }
}

BucketId Limiter::quota_id_of(const LimitPolicy& limit, std::string_view key) const {
  thread_local std::string identity;
  identity.assign(limit.quota_namespace()).append(key);
  return make_bucket_id(hash_(identity));
}

BucketId Limiter::id_of(const LimitPolicy& limit, std::string_view key) const {
  thread_local std::string identity;  // namespace + key, hashed; reused, not reallocated
  identity.assign(limit.bucket_namespace()).append(key);
  return make_bucket_id(hash_(identity));
}

void Limiter::cancel(Decision& decision, Nanos now) {
  refund_quotas(decision);
  const MultiReservation& r = decision.reservation;
  if (!r.admitted) return;
  std::array<BucketTable::Cell, kMaxLimitsPerRoute> cells;
  for (std::size_t k = 0; k < r.count; ++k) cells[k] = {&table_, decision.ids[k], now};
  refund_all(std::span(cells.data(), r.count), r, now);
}

}  // namespace sluice::limit
