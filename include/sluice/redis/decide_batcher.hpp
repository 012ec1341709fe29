#pragma once
// A worker's shared decisions, batched (README, "Shared limits across instances"): the requests
// whose decisions come while the previous decide call is on the wire go to Redis together, as one
// call that decides them in arrival order. With no load a request goes at once, alone; under load
// the cost of a call (Redis's dispatch and TIME, our write and parse) is shared by the batch.
// Used from its worker's thread only.

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <deque>
#include <unordered_map>
#include "sluice/core/event_loop.hpp"

#include "sluice/core/clock.hpp"
#include "sluice/redis/cluster_slots.hpp"
#include "sluice/redis/connection.hpp"
#include "sluice/redis/health.hpp"
#include "sluice/redis/scripts.hpp"

namespace sluice::redis {

class DecideBatcher {
 public:
  // A bound on one call's work: Redis runs a script to its end while every client waits.
  static constexpr std::size_t kMaxBatch = 64;

  DecideBatcher(Executor executor, Connection& connection, Health& health, const Clock& clock)
      : executor_(std::move(executor)), connection_(connection), health_(health), clock_(clock) {}

  // One request's reply to the decide script (for parse_verdict), or why there is none. `call`
  // must stay valid until this returns. In a cluster a call holds keys of one slot only: each
  // slot is a lane of its own, with its own call on the wire; a single Redis has one lane.
  Task<Result> decide(DecideCall call, Slot lane = 0);

 private:
  struct Waiting;
  struct Lane {
    std::deque<Waiting*> queued;
    // A call is on the wire, or its successor's leader is about to send one: newcomers queue.
    bool busy = false;
  };
  // Sends the lane's next batch (its queue's head, up to kMaxBatch) and answers everyone in it.
  Task<void> send_batch(Lane& lane);

  Executor executor_;
  Connection& connection_;
  Health& health_;
  const Clock& clock_;
  // Only lanes with a call on the wire: a lane goes when its last call is answered. Nodes keep
  // their addresses, so a waiting request's lane stays where it is.
  std::unordered_map<Slot, Lane> lanes_;
};

}  // namespace sluice::redis
