#include "sluice/redis/shared_limiter.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <span>

#include "redis/prepared.hpp"
#include "sluice/core/digest.hpp"
#include "sluice/limit/key.hpp"

namespace sluice::redis {
namespace {

using limit::kMaxLimitsPerRoute;
// How often a request waits for another's call in flight before asking Redis itself.
constexpr int kMaxWaits = 2;
// A request whose local slot was taken by another request of this process while Redis was
// answering gives its shared slot back and asks again, this many times at most.
constexpr int kAttempts = 3 + kMaxWaits;

}  // namespace

SharedLimiter::SharedLimiter(Executor executor, config::RedisConfig config,
                             std::shared_ptr<asio::ssl::context> tls, limit::Limiter& local,
                             Health& health, const Clock& clock)
    : executor_(std::move(executor)),
      config_(std::move(config)),
      tls_(std::move(tls)),
      local_(local),
      health_(health),
      clock_(clock),
      connection_(executor_, config_, tls_),
      batcher_(executor_, connection_, health_, clock_),
      alive_(std::make_shared<bool>(true)) {
  connection_.on_lost([this](const std::string& reason) { open_circuit(reason); });
  if (config_.sentinel) {
    sentinels_ = std::make_unique<Sentinels>(executor_, config_, tls_);
  }
  if (!config_.cluster.empty()) {
    cluster_ = std::make_unique<Cluster>(executor_, config_, tls_, health_, clock_);
  }
}

SharedLimiter::~SharedLimiter() {
  *alive_ = false;
}

void SharedLimiter::start() {
  if (cluster_) {
    cluster_->start();
    return;
  }
  asio::co_spawn(executor_, connect_first(), asio::detached);
  if (sentinels_) sentinels_->watch([this](const Sentinels::Address& master) { follow(master); });
}

void SharedLimiter::prepare(const limit::RoutePolicy& route, const limit::RequestFacts& request,
                            Nanos now, Prepared& p, SharedTicket& ticket) {
  p.n = route.limits.size();
  p.now = now;
  p.max_wait = route.max_wait();
  p.shared_claims.clear();
  ticket = SharedTicket{};
  for (std::size_t k = 0; k < p.n; ++k) {
    const limit::LimitPolicy& limit = route.limits[k];
    p.keys[k] = render_key(limit.key, request);
    p.claims[k] = limit.claim();
    if (limit.shared) {
      p.shared_of[ticket.redis_keys.size()] = k;
      ticket.redis_keys.push_back(bucket_key(limit, p.keys[k]));
      if (cluster_) ticket.slots.push_back(key_slot(ticket.redis_keys.back()));
      p.shared_claims.push_back(p.claims[k]);
    } else {
      ticket.local[k] = true;
    }
  }
}

namespace {

// Header and query values are often credentials (API keys): Redis holds their digest, whoever
// may list its keys. Addresses and `global` stay readable.
std::string stored_key(const limit::LimitPolicy& limit, const std::string& key) {
  const bool secret =
      std::any_of(limit.key.parts.begin(), limit.key.parts.end(), [](const auto& part) {
        return part.kind == limit::KeyKind::header || part.kind == limit::KeyKind::query;
      });
  return secret ? "sha256:" + sha256_hex(key) : key;
}

}  // namespace

std::string SharedLimiter::bucket_key(const limit::LimitPolicy& limit,
                                      const std::string& key) const {
  std::string body = limit.shared_namespace() + stored_key(limit, key);
  return cluster_ ? cluster_key(config_.prefix, body) : config_.prefix + body;
}

// The counter of one period: the period's start takes part, so a new period is a new key.
std::string SharedLimiter::quota_key(const limit::LimitPolicy& limit, const std::string& key,
                                     const limit::QuotaWindow& window) const {
  std::string body = limit.shared_quota_namespace() +
                     std::to_string(window.start / kNanosPerSecond) + ':' + stored_key(limit, key);
  return cluster_ ? cluster_key(config_.prefix, body) : config_.prefix + body;
}

Task<limit::Decided> SharedLimiter::decide_rates(const limit::RoutePolicy& route,
                                                 const limit::RequestFacts& request,
                                                 SharedTicket& ticket) {
  Prepared p;
  int waits = 0;
  for (int attempt = 1;; ++attempt) {
    const Nanos now = clock_.now();
    if (!usable_) co_return fall_back(route, request, now, ticket);
    limit::Decided d;
    prepare(route, request, now, p, ticket);
    if (!cluster_usable(ticket)) co_return fall_back(route, request, now, ticket);
    std::size_t local_deciding = p.n;  // none
    Nanos floor = now;  // the earliest release the local limits allow; nothing charged yet
    for (std::size_t k = 0; k < p.n; ++k) {
      if (!ticket.local[k]) continue;
      d.ids[k] = local_.id_of(route.limits[k], p.keys[k]);
      p.found[k] = local_.table().load(d.ids[k]);
      const Nanos fit = limit::earliest_fit(p.found[k], now, p.claims[k]);
      if (fit > floor || local_deciding == p.n) {
        floor = std::max(floor, fit);
        local_deciding = k;
      }
    }
    const auto views = [&](std::span<const Nanos> shared_tat, bool charged) {
      for (std::size_t k = 0; k < p.n; ++k) {
        if (ticket.local[k]) {
          const Nanos tat = charged ? d.reservation.set[k] : p.found[k];
          d.views[k] = limit::view(tat, now, route.limits[k].rate);
        }
      }
      for (std::size_t j = 0; j < shared_tat.size(); ++j) {
        const std::size_t k = p.shared_of[j];
        d.views[k] = limit::view(shared_tat[j], now, route.limits[k].rate);
      }
    };
    const auto reject = [&](std::size_t deciding, Nanos retry_after) {
      d.deciding = deciding;
      d.key = p.keys[deciding];
      limit::set_rejected(d, route, retry_after);
    };

    // What this process already knows of the shared buckets: a flood on a full one is answered
    // here, not by one Redis call per request.
    std::vector<Nanos> known(ticket.redis_keys.size(), limit::kFreshTat);
    Nanos cached_fit = now;
    std::size_t cached_deciding = 0;
    for (std::size_t j = 0; j < known.size(); ++j) {
      if (const auto* entry = known_.find(ticket.redis_keys[j])) {
        known[j] = entry->tat;
        const Nanos fit = limit::earliest_fit(known[j], now, p.shared_claims[j]);
        if (fit > cached_fit) {
          cached_fit = fit;
          cached_deciding = p.shared_of[j];
        }
      }
    }
    if (cached_fit - now > p.max_wait) {
      ticket.path = SharedTicket::Path::cache;
      health_.cache_hits.fetch_add(1, std::memory_order_relaxed);
      views(known, false);
      reject(cached_deciding, cached_fit - now - p.max_wait);
      co_return d;
    }
    // A bucket that was full has drained a little, and a call to take that room is already on
    // its way: its answer, due within a round trip, says whether anything is left. Without this
    // wait every request of a flood arriving within that round trip would ask Redis too.
    if (const std::string* busy = waits < kMaxWaits ? in_flight(p, ticket) : nullptr) {
      ++waits;
      co_await wait_for_flight(*busy);
      continue;
    }
    if (floor - now > p.max_wait) {  // rejected by a local limit: Redis need not be asked
      ticket.path = SharedTicket::Path::local_only;
      views(known, false);
      reject(local_deciding, floor - now - p.max_wait);
      co_return d;
    }

    const std::uint32_t tracked = take_off(ticket);
    Answer answer = co_await run_decide(p, ticket, floor - now);
    land(ticket, tracked);
    const Nanos answered = clock_.now();
    auto& verdict = answer.verdict;
    if (!verdict) {
      // In a cluster the master that failed has its own circuit, opened by the cluster.
      if (!cluster_) open_circuit(answer.problem);
      co_return fall_back(route, request, answered, ticket);
    }
    // Redis's now lies between `now` and `answered` on this clock: now + backlog is a lower
    // bound of each bucket's tat here, which is what the cache may act on.
    std::vector<Nanos> tats(known.size());
    for (std::size_t j = 0; j < tats.size(); ++j) {
      tats[j] = now + verdict->backlog[j];
      known_.remember(ticket.redis_keys[j], tats[j], now);
    }
    const std::size_t deciding = verdict->deciding == 0
                                     ? (local_deciding == p.n ? 0 : local_deciding)
                                     : p.shared_of[verdict->deciding - 1];
    if (!verdict->admitted) {
      views(tats, false);
      reject(deciding, verdict->retry_after);
      co_return d;
    }
    // Never early: the slot is `wait` after Redis's now, which was no later than `answered`.
    const Nanos release = answered + verdict->wait;
    ticket.verdict = std::move(*verdict);
    if (!charge_local(p, ticket, release, answered, d)) {
      // Another request of this process took a local slot while Redis answered: the shared
      // charge goes back (unless something queued behind it) and the decision is taken again.
      refund_shared(ticket);
      if (attempt < kAttempts) continue;
      views(tats, false);
      reject(local_deciding == p.n ? deciding : local_deciding, d.reservation.retry_after);
      co_return d;
    }
    ticket.path = SharedTicket::Path::redis;
    views(tats, true);
    d.deciding = deciding;
    d.key = p.keys[deciding];
    limit::set_admitted(d, route, release - answered);
    co_return d;
  }
}

Task<SharedLimiter::Answer> SharedLimiter::run_decide(const Prepared& p, const SharedTicket& ticket,
                                                      Nanos not_before) {
  const auto& keys = ticket.redis_keys;
  const Slot slot = cluster_ ? ticket.slots.front() : 0;
  if (cluster_ && std::any_of(ticket.slots.begin(), ticket.slots.end(),
                              [&](Slot other) { return other != slot; })) {
    co_return co_await run_decide_across_slots(p, ticket, not_before);
  }
  // With local limits too, a conflict on them gives the shared slots back (decide()).
  const bool mixed = keys.size() < p.n;
  const auto args = decide_args(p.max_wait, not_before, mixed, p.shared_claims);
  const DecideCall call{keys, args};
  // Not a conditional expression: gcc 12 destroys a co_await's result twice inside one.
  Result result;
  if (cluster_) {
    result = co_await cluster_->decide(slot, call);
  } else {
    result = co_await batcher_.decide(call);
  }
  Answer answer;
  answer.problem = result.problem;
  if (result.ok()) {
    answer.verdict = parse_verdict(result.reply, keys.size(), answer.problem);
    if (!answer.verdict) answer.problem = "error reply: " + answer.problem;
  }
  co_return answer;
}

// The local limits charged at exactly `release`, the shared slot; false if one cannot be.
bool SharedLimiter::charge_local(const Prepared& p, const SharedTicket& ticket, Nanos release,
                                 Nanos now, limit::Decision& d) {
  std::array<limit::BucketTable::Cell, kMaxLimitsPerRoute> cells;
  std::array<limit::Claim, kMaxLimitsPerRoute> claims{};
  std::array<std::size_t, kMaxLimitsPerRoute> index{};
  std::size_t m = 0;
  for (std::size_t k = 0; k < p.n; ++k) {
    if (!ticket.local[k]) continue;
    cells[m] = {&local_.table(), d.ids[k], now};
    claims[m] = p.claims[k];
    index[m++] = k;
  }
  d.reservation = {};
  d.reservation.count = p.n;
  if (m > 0) {
    const auto r = limit::reserve_all(std::span(cells.data(), m),
                                      std::span<const limit::Claim>(claims.data(), m), now,
                                      release - now, release);
    if (!r.admitted) {
      d.reservation.retry_after = std::max<Nanos>(r.retry_after, kNanosPerMilli);
      return false;
    }
    for (std::size_t i = 0; i < m; ++i) {
      d.reservation.found[index[i]] = r.found[i];
      d.reservation.set[index[i]] = r.set[i];
    }
  }
  d.reservation.admitted = true;
  d.reservation.release = release;
  return true;
}

limit::Decided SharedLimiter::fall_back(const limit::RoutePolicy& route,
                                        const limit::RequestFacts& request, Nanos now,
                                        SharedTicket& ticket) {
  ticket = SharedTicket{};
  ticket.path = SharedTicket::Path::fallback;
  if (config_.on_error == config::OnRedisError::local) {
    return local_.decide_rates(route, request, now);
  }
  limit::Decided d;
  for (std::size_t k = 0; k < route.limits.size(); ++k) {
    d.views[k] = limit::view(limit::kFreshTat, now, route.limits[k].rate);
  }
  if (config_.on_error == config::OnRedisError::allow) {
    d.outcome = limit::Outcome::allowed;
    return d;
  }
  const auto shared = std::find_if(route.limits.begin(), route.limits.end(),
                                   [](const limit::LimitPolicy& l) { return l.shared; });
  d.deciding = static_cast<std::size_t>(shared - route.limits.begin());
  d.key = render_key(shared->key, request);
  limit::set_rejected(d, route, kNanosPerSecond);
  ticket.unavailable = !route.dry_run;
  return d;
}

void SharedLimiter::cancel(limit::Decision& d, SharedTicket& ticket) {
  const Nanos now = clock_.now();
  local_.refund_quotas(d);
  give_back_quotas(std::exchange(ticket.quotas, {}));
  if (ticket.path == SharedTicket::Path::fallback) {
    local_.cancel(d, now);
    return;
  }
  const limit::MultiReservation& r = d.reservation;
  if (!r.admitted) return;
  for (std::size_t k = 0; k < r.count; ++k) {
    if (!ticket.local[k]) continue;
    limit::BucketTable::Cell cell{&local_.table(), d.ids[k], now};
    cell.compare_exchange(r.set[k], std::max(r.found[k], now));
  }
  refund_shared(ticket);
}

void SharedLimiter::refund_shared(const SharedTicket& ticket) {
  if (!ticket.verdict.admitted || ticket.verdict.found.empty() || !usable_) return;
  // What this process remembers of these buckets may now be too high.
  for (const std::string& key : ticket.redis_keys) known_.forget(key);
  asio::co_spawn(executor_, give_back(ticket.redis_keys, ticket.slots, ticket.verdict),
                 asio::detached);
}

Task<void> SharedLimiter::give_back(std::vector<std::string> keys, std::vector<Slot> slots,
                                    SharedVerdict verdict) {
  if (!cluster_) {
    co_await refund(std::move(keys), refund_args(verdict));
    co_return;
  }
  // A script call holds keys of one slot: slot by slot.
  const auto alive = alive_;
  std::vector<bool> sent(keys.size());
  for (std::size_t first = 0; first < keys.size(); ++first) {
    if (sent[first]) continue;
    const Slot slot = slots[first];
    std::vector<std::string> slot_keys;
    std::vector<std::string> args;
    for (std::size_t j = first; j < keys.size(); ++j) {
      if (sent[j] || slots[j] != slot) continue;
      sent[j] = true;
      slot_keys.push_back(keys[j]);
      args.push_back(verdict.found[j]);
      args.push_back(verdict.set[j]);
    }
    co_await cluster_->script(slot, refund_script(), std::move(slot_keys), std::move(args));
    if (!*alive) co_return;
  }
}

bool SharedLimiter::cluster_usable(const SharedTicket& ticket) const {
  return !cluster_ || std::all_of(ticket.slots.begin(), ticket.slots.end(),
                                  [&](Slot slot) { return cluster_->usable(slot); });
}

Task<void> SharedLimiter::refund(std::vector<std::string> keys, std::vector<std::string> args) {
  co_await call_script(refund_script(), std::move(keys), std::move(args));
}

const std::string* SharedLimiter::in_flight(const Prepared& p, const SharedTicket& ticket) const {
  for (std::size_t j = 0; j < ticket.redis_keys.size(); ++j) {
    const std::string& key = ticket.redis_keys[j];
    const auto* entry = known_.find(key);
    if (entry != nullptr && entry->was_full_for(p.shared_claims[j]) && flights_.contains(key)) {
      return &key;
    }
  }
  return nullptr;
}

Task<void> SharedLimiter::wait_for_flight(const std::string& key) {
  auto timer = std::make_shared<SteadyTimer>(executor_);
  timer->expires_after(std::chrono::nanoseconds(config_.timeout));
  flights_[key].waiters.push_back(timer);
  co_await timer->async_wait(use_tuple);
}

// Only buckets the cache knows are tracked: no request waits on any other (in_flight()).
std::uint32_t SharedLimiter::take_off(const SharedTicket& ticket) {
  std::uint32_t tracked = 0;
  for (std::size_t j = 0; j < ticket.redis_keys.size(); ++j) {
    if (known_.find(ticket.redis_keys[j]) == nullptr) continue;
    ++flights_[ticket.redis_keys[j]].calls;
    tracked |= 1U << j;
  }
  return tracked;
}

void SharedLimiter::land(const SharedTicket& ticket, std::uint32_t tracked) {
  for (std::size_t j = 0; j < ticket.redis_keys.size(); ++j) {
    if ((tracked & (1U << j)) == 0) continue;
    const auto it = flights_.find(ticket.redis_keys[j]);
    if (it == flights_.end()) continue;
    for (const auto& waiter : it->second.waiters) {
      if (const auto timer = waiter.lock()) timer->cancel();
    }
    it->second.waiters.clear();
    if (--it->second.calls <= 0) flights_.erase(it);
  }
}

}  // namespace sluice::redis
