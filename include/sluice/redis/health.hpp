#pragma once
// Whether Redis is usable, for the whole process: each worker's circuit reports its own state,
// and the process is up while every worker is. Transitions are logged once each (redis_down,
// redis_up) and shown by sluice_redis_up. The counters every worker updates live here too.

#include <cstddef>
#include <mutex>
#include <set>
#include <string>

#include "sluice/observe/event_log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/redis/connection.hpp"

namespace sluice::redis {

class Health {
 public:
  Health(std::size_t workers, observe::EventLog& log, observe::Metrics& metrics);

  // A worker's circuit closed (its connection works), or opened (with why). A worker starts
  // counted as not up; `was_up` says whether this failure ends an up spell of its own.
  void worker_up();
  void worker_down(const std::string& reason, bool was_up);
  // A worker found the master at `address` (Sentinel). A change from the master the process knew
  // is a failover followed: counted and logged once, however many workers follow it.
  void master_found(const std::string& address);
  // A worker's cluster slot map gave the slots of `from`, which it could not reach, to `to`: a
  // failover followed, counted and logged once however many workers and slots follow it.
  void master_replaced(const std::string& from, const std::string& to);

  observe::Counter& commands_ok;
  observe::Counter& commands_error;
  observe::Counter& commands_timeout;
  observe::Histogram& latency;
  observe::Histogram& batch_size;
  observe::Counter& cache_hits;
  observe::Counter& failovers;

 private:
  enum class State { unknown, up, down };
  observe::EventLog& log_;
  observe::Gauge& up_gauge_;
  std::mutex mutex_;
  std::size_t workers_not_up_;
  State reported_ = State::unknown;
  std::string master_;
  std::set<std::pair<std::string, std::string>> replaced_;
};

// Counts one command's outcome in `health` (ok; error: a failed connection or an error reply;
// timeout) and says whether it failed.
bool count_command(Health& health, const Result& r) noexcept;

}  // namespace sluice::redis
