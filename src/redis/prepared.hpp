#pragma once
// What SharedLimiter's decide and its helpers in other files share about one request.

#include <array>
#include <string>
#include <vector>

#include "sluice/limit/gcra.hpp"
#include "sluice/redis/shared_limiter.hpp"

namespace sluice::redis {

// One request's limits, rendered once per attempt.
struct SharedLimiter::Prepared {
  std::size_t n = 0;
  Nanos now = 0;
  Nanos max_wait = 0;
  std::array<std::string, limit::kMaxLimitsPerRoute> keys;
  std::array<limit::Claim, limit::kMaxLimitsPerRoute> claims{};
  std::array<Nanos, limit::kMaxLimitsPerRoute> found{};            // local limits: the tat read
  std::array<std::size_t, limit::kMaxLimitsPerRoute> shared_of{};  // redis_keys index → limit index
  std::vector<limit::Claim> shared_claims;
};

}  // namespace sluice::redis
