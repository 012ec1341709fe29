#pragma once
// GET /stats (README, "Watching it"): the counters the dashboard charts, as JSON, with their recent
// history sampled on the admin thread, so a page opened now shows the last minutes at once and
// scripts need not parse Prometheus text.

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "sluice/observe/metrics.hpp"

namespace sluice::observe {

class StatsHistory {
 public:
  static constexpr std::int64_t kIntervalMs = 2000;
  static constexpr std::size_t kSamples = 151;  // five minutes of rates

  // Takes the requests counters now (called every kIntervalMs).
  void sample(Metrics& metrics, std::int64_t now_ms);
  // {"interval_s":2,"ts_ms":[...],"routes":{"<route>":{"<decision>":[per-second rates]}}}
  [[nodiscard]] std::string json() const;

 private:
  using Counts = std::map<std::pair<std::string, std::string>, std::uint64_t>;  // route, decision
  struct Sample {
    std::int64_t ts_ms = 0;
    Counts counts;
  };
  mutable std::mutex mutex_;
  std::deque<Sample> samples_;
};

// The whole /stats document: counters per route and decision, upstream errors per route and
// kind, live buckets, connections, requests by protocol, Redis (when `redis_address` is set), and
// `history`.
std::string stats_json(Metrics& metrics, const StatsHistory& history, std::int64_t now_ms,
                       const std::optional<std::string>& redis_address);

}  // namespace sluice::observe
