// A request whose shared buckets live in several slots of a Redis Cluster (README, "Scaling
// out"). One script call holds keys of one slot, so the request is decided slot by slot: each
// slot is booked no earlier than the latest release the slots before it asked for, and a slot
// booked before a later one raised that release is given back and booked again, so that no
// bucket counts the request earlier than it leaves. A refusal gives back what was taken:
// all-or-nothing holds. Under concurrency a give-back that is no longer "last" keeps its charge:
// an over-charge, never an over-admission.
#include <algorithm>

#include "redis/prepared.hpp"

namespace sluice::redis {
namespace {

// Passes over the slots before the request gives up: each pass after the first happens only when
// a concurrent request raised a bucket between two calls of this one.
constexpr int kMaxPasses = 3;

}  // namespace

Task<SharedLimiter::Answer> SharedLimiter::run_decide_across_slots(const Prepared& p,
                                                                   const SharedTicket& ticket,
                                                                   Nanos not_before) {
  const auto alive = alive_;
  const auto& keys = ticket.redis_keys;
  struct SlotBooking {
    Slot slot = 0;
    std::vector<std::size_t> members;  // indices into keys
    std::vector<std::string> keys;
    std::vector<limit::Claim> claims;
    std::optional<SharedVerdict> held;  // admitted, and not given back
    Nanos release = 0;                  // held: the release it was booked for, on this clock
  };
  std::vector<SlotBooking> bookings;
  for (std::size_t j = 0; j < keys.size(); ++j) {
    const Slot slot = ticket.slots[j];
    auto it = std::find_if(bookings.begin(), bookings.end(),
                           [&](const SlotBooking& b) { return b.slot == slot; });
    if (it == bookings.end()) {
      it = bookings.emplace(bookings.end());
      it->slot = slot;
    }
    it->members.push_back(j);
    it->keys.push_back(keys[j]);
    it->claims.push_back(p.shared_claims[j]);
  }
  // The same order in every process, so that concurrent requests meet their slots alike.
  std::sort(bookings.begin(), bookings.end(),
            [](const SlotBooking& a, const SlotBooking& b) { return a.slot < b.slot; });

  Answer answer;
  SharedVerdict merged;
  merged.backlog.assign(keys.size(), 0);
  const auto give_back_held = [&]() -> Task<bool> {
    for (SlotBooking& b : bookings) {
      if (!b.held) continue;
      for (const std::size_t j : b.members) {
        merged.backlog[j] = 0;  // no longer charged by this request: a lower bound
        known_.forget(keys[j]);
      }
      co_await give_back(b.keys, std::vector<Slot>(b.keys.size(), b.slot), std::move(*b.held));
      if (!*alive) co_return false;
      b.held.reset();
    }
    co_return true;
  };

  Nanos target = clock_.now() + not_before;  // the release every slot must be booked for
  std::size_t deciding = 0;                  // what set it: 0 the caller, else keys[deciding - 1]
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    for (SlotBooking& b : bookings) {
      if (b.held && b.release >= target) continue;
      if (b.held) {  // booked before a later slot raised the release: booked again
        for (const std::size_t j : b.members) known_.forget(keys[j]);
        co_await give_back(b.keys, std::vector<Slot>(b.keys.size(), b.slot), std::move(*b.held));
        if (!*alive) co_return answer;
        b.held.reset();
      }
      const Nanos sent = clock_.now();
      const auto args = decide_args(p.max_wait, std::max<Nanos>(0, target - sent), true, b.claims);
      const Result r = co_await cluster_->decide(b.slot, {b.keys, args});
      if (!*alive) co_return answer;
      const Nanos answered = clock_.now();
      std::string why = r.problem;
      auto verdict = r.ok() ? parse_verdict(r.reply, b.keys.size(), why) : std::nullopt;
      if (!verdict) {
        answer.problem = r.ok() ? "error reply: " + why : why;
        co_await give_back_held();
        co_return answer;
      }
      for (std::size_t i = 0; i < b.members.size(); ++i) {
        merged.backlog[b.members[i]] = verdict->backlog[i];
      }
      if (!verdict->admitted) {
        if (!co_await give_back_held()) co_return answer;
        merged.admitted = false;
        merged.deciding = verdict->deciding == 0 ? 0 : b.members[verdict->deciding - 1] + 1;
        merged.retry_after = verdict->retry_after;
        answer.verdict = std::move(merged);
        co_return answer;
      }
      b.release = answered + verdict->wait;
      if (verdict->deciding != 0 && b.release > target) {
        target = b.release;
        deciding = b.members[verdict->deciding - 1] + 1;
      }
      b.held = std::move(verdict);
    }
    if (std::all_of(bookings.begin(), bookings.end(),
                    [&](const SlotBooking& b) { return b.release >= target; })) {
      merged.admitted = true;
      merged.deciding = deciding;
      merged.wait = std::max<Nanos>(0, target - clock_.now());
      merged.found.resize(keys.size());
      merged.set.resize(keys.size());
      for (SlotBooking& b : bookings) {
        for (std::size_t i = 0; i < b.members.size(); ++i) {
          merged.found[b.members[i]] = std::move(b.held->found[i]);
          merged.set[b.members[i]] = std::move(b.held->set[i]);
        }
      }
      answer.verdict = std::move(merged);
      co_return answer;
    }
  }
  // Concurrent requests kept raising the buckets between this one's calls: it is refused, to be
  // tried again shortly, rather than chase them.
  if (!co_await give_back_held()) co_return answer;
  merged.admitted = false;
  merged.deciding = deciding;
  merged.retry_after = kNanosPerMilli;
  answer.verdict = std::move(merged);
  co_return answer;
}

}  // namespace sluice::redis
