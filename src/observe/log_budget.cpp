#include "sluice/observe/log_budget.hpp"

#include <functional>

namespace sluice::observe {
namespace {

std::string identity_of(const ThrottledEvent& e) {
  std::string id;
  id.reserve(e.route.size() + e.key.size() + e.decision.size() + 2);
  id.append(e.route).append(1, '\x1f').append(e.key).append(1, '\x1f').append(e.decision);
  return id;
}

}  // namespace

LogBudget::Verdict LogBudget::admit(ThrottledEvent& event, std::int64_t now_ms) {
  const unsigned limit = lines_per_second_.load(std::memory_order_relaxed);
  if (limit == 0) return {};
  std::string id = identity_of(event);
  Shard& shard = shards_[std::hash<std::string>{}(id) % kShards];
  std::lock_guard guard(shard.mutex);
  auto it = shard.entries.find(id);
  if (it == shard.entries.end()) {
    if (shard.entries.size() >= kMaxEntries / kShards) {
      overflow_.fetch_add(1, std::memory_order_relaxed);
      return {false, 0};
    }
    it = shard.entries.emplace(std::move(id), Entry{now_ms, 0, 0, {}}).first;
  }
  Entry& entry = it->second;
  if (now_ms - entry.window_start_ms >= kWindowMs) {
    entry.window_start_ms = now_ms;
    entry.lines = 0;
  }
  if (entry.lines < limit) {
    ++entry.lines;
    const std::uint64_t suppressed = entry.suppressed;
    entry.suppressed = 0;
    entry.last = {};
    return {true, suppressed};
  }
  ++entry.suppressed;
  entry.last = std::move(event);
  return {false, 0};
}

std::vector<LogBudget::Summary> LogBudget::drain(std::int64_t now_ms) {
  std::vector<Summary> out;
  for (Shard& shard : shards_) {
    std::lock_guard guard(shard.mutex);
    for (auto it = shard.entries.begin(); it != shard.entries.end();) {
      Entry& entry = it->second;
      const std::int64_t idle = now_ms - entry.window_start_ms;
      if (entry.suppressed > 0 && idle >= kWindowMs) {
        // The summary is the line of the last request held back; it counts the others.
        out.push_back({std::move(entry.last), entry.suppressed - 1});
        // The summary is this bucket's line of a new window.
        entry = Entry{now_ms, 1, 0, {}};
        ++it;
      } else if (entry.suppressed == 0 && idle >= 2 * kWindowMs) {
        it = shard.entries.erase(it);  // quiet: nothing to remember
      } else {
        ++it;
      }
    }
  }
  if (const auto overflow = overflow_.exchange(0, std::memory_order_relaxed); overflow > 0) {
    out.push_back({{}, overflow});
  }
  return out;
}

}  // namespace sluice::observe
