#pragma once
// A `respond: { usage: true }` route's answer (README, "Quotas"): the caller's own remaining
// budget on every limit and quota that a request with the same key meets on the other routes,
// read without charging anything.

#include <string>

#include "sluice/config/config.hpp"
#include "sluice/limit/limiter.hpp"

namespace sluice::proxy {

// `{"limits":[{"route","policy","limit","period_s","remaining","reset_s"},…]}` for the limits
// keyed like `usage_route`'s key, overrides applied for this caller. A shared limit's level is in
// Redis: its `remaining` and `reset_s` are null.
std::string usage_json(const config::Config& config, const config::Route& usage_route,
                       const limit::RequestFacts& request, const limit::Limiter& limiter,
                       Instant now);

}  // namespace sluice::proxy
