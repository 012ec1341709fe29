#pragma once
// What a worker knows of shared buckets from Redis's answers (README, "Shared limits across
// instances", "Over-limit cache"): per Redis key, a lower bound of the bucket's tat on this
// process's clock and when it was learned. tat only grows (refunds aside, which forget the entry),
// so a request that would not fit under the known tat would not fit under the real one either: it
// can be rejected here. Pure and single-threaded: one per worker.

#include <cstddef>
#include <string>
#include <unordered_map>

#include "sluice/limit/gcra.hpp"

namespace sluice::redis {

class OverLimitCache {
 public:
  struct Entry {
    Nanos tat = limit::kFreshTat;
    Nanos seen = 0;  // when Redis reported it

    // The claim did not fit when this was learned: it can only fit now thanks to drain, which
    // another request may be taking at this very moment.
    [[nodiscard]] bool was_full_for(limit::Claim claim) const noexcept {
      return limit::earliest_fit(tat, seen, claim) > seen;
    }
  };

  // Entries past this are dropped, drained ones first (the cache is only an optimisation).
  static constexpr std::size_t kMaxEntries = 65536;

  [[nodiscard]] const Entry* find(const std::string& key) const {
    const auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }
  void remember(const std::string& key, Nanos tat, Nanos seen);
  void forget(const std::string& key) { entries_.erase(key); }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

 private:
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace sluice::redis
