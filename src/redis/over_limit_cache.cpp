#include "sluice/redis/over_limit_cache.hpp"

namespace sluice::redis {

void OverLimitCache::remember(const std::string& key, Nanos tat, Nanos seen) {
  if (tat <= seen) {  // empty: nothing worth knowing
    entries_.erase(key);
    return;
  }
  if (entries_.size() >= kMaxEntries && !entries_.contains(key)) {
    std::erase_if(entries_, [seen](const auto& entry) { return entry.second.tat <= seen; });
    if (entries_.size() >= kMaxEntries) entries_.clear();
  }
  entries_[key] = {tat, seen};
}

}  // namespace sluice::redis
