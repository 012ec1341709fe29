#include "sluice/observe/throttle_ring.hpp"

#include <algorithm>

namespace sluice::observe {

void ThrottleRing::push(std::string json) {
  std::lock_guard guard(mutex_);
  events_[next_].swap(json);
  next_ = (next_ + 1) % kCapacity;
  size_ = std::min(size_ + 1, kCapacity);
}

std::string ThrottleRing::newest(std::size_t limit) const {
  std::lock_guard guard(mutex_);
  std::string out = "[";
  const std::size_t n = std::min(limit, size_);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) out += ',';
    out += events_[(next_ + kCapacity - 1 - i) % kCapacity];
  }
  return out + "]";
}

}  // namespace sluice::observe
