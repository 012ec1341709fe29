#include "sluice/redis/decide_batcher.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

namespace sluice::redis {
namespace {}  // namespace

// A request in the queue. Its timer wakes it when its batch is answered (`done`), or when it is
// to lead the next one.
struct DecideBatcher::Waiting {
  DecideCall call;
  Result result;
  bool done = false;
  SteadyTimer* wake = nullptr;
};

Task<Result> DecideBatcher::decide(DecideCall call, Slot lane_id) {
  Lane& lane = lanes_[lane_id];
  Waiting me{call, {}, false, nullptr};
  lane.queued.push_back(&me);
  if (lane.busy) {
    SteadyTimer wake(executor_, SteadyTimer::time_point::max());
    me.wake = &wake;
    co_await wake.async_wait(use_tuple);
    me.wake = nullptr;
    if (me.done) co_return std::move(me.result);
  }
  // This request leads the next call: it heads the queue (a leader is woken only from there, and
  // the queue is empty whenever no call is busy).
  lane.busy = true;
  co_await send_batch(lane);
  if (lane.queued.empty()) {
    lanes_.erase(lane_id);
  } else {
    lane.queued.front()->wake->cancel();  // busy stays set: newcomers queue behind it
  }
  co_return std::move(me.result);
}

Task<void> DecideBatcher::send_batch(Lane& lane) {
  std::vector<Waiting*> batch;
  std::vector<DecideCall> calls;
  while (!lane.queued.empty() && batch.size() < kMaxBatch) {
    batch.push_back(lane.queued.front());
    calls.push_back(lane.queued.front()->call);
    lane.queued.pop_front();
  }
  const Nanos started = clock_.now();
  Result r = co_await connection_.call(decide_command(decide_script(), false, calls));
  // Redis restarted empty, or SCRIPT FLUSH: the body loads the script again, invisibly.
  if (r.ok() && is_noscript(r.reply)) {
    r = co_await connection_.call(decide_command(decide_script(), true, calls));
  }
  health_.latency.observe(static_cast<double>(clock_.now() - started) / kNanosPerSecond);
  health_.batch_size.observe(static_cast<double>(batch.size()));
  std::string why;
  const bool answered = r.ok() && is_decide_batch(r.reply, batch.size(), why);
  // A request whose bucket holds something else makes the call count as failed.
  const bool clean = answered && std::none_of(r.reply.elements.begin(), r.reply.elements.end(),
                                              [](const Reply& e) { return e.is_error(); });
  (r.status == Result::Status::timeout ? health_.commands_timeout
   : clean                             ? health_.commands_ok
                                       : health_.commands_error)
      .fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    Waiting& w = *batch[i];
    if (answered) {
      w.result = {Result::Status::ok, std::move(r.reply.elements[i]), {}};
    } else if (r.ok() && r.reply.is_error()) {
      w.result = r;  // an error reply: each request reads it as its own
    } else {
      w.result = {r.ok() ? Result::Status::error : r.status, {}, r.ok() ? why : r.problem};
    }
    w.done = true;
    if (w.wake != nullptr) w.wake->cancel();
  }
}

}  // namespace sluice::redis
