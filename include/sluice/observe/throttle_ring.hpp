#pragma once
// The last throttled events, for GET /throttled: a fixed ring of their JSON renderings.

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace sluice::observe {

class ThrottleRing {
 public:
  static constexpr std::size_t kCapacity = 1000;

  void push(std::string json);
  // The newest `limit` events, newest first, as a JSON array.
  [[nodiscard]] std::string newest(std::size_t limit) const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> events_ = std::vector<std::string>(kCapacity);
  std::size_t next_ = 0;
  std::size_t size_ = 0;
};

}  // namespace sluice::observe
