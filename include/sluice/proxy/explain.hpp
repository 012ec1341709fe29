#pragma once
// "What would happen to this request, and why?" (README, "Why was this request limited?"): the
// route it matches and why each route before it does not, its keys as logs show them, and for
// every limit the override that applies and the decision sluice would take. Nothing is charged.
// The request is read by the same code as a served one (read_request, resolve_overrides).

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sluice/config/config.hpp"
#include "sluice/limit/limiter.hpp"

namespace sluice::proxy {

struct ExplainRequest {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string client = "127.0.0.1";  // the peer address
};

// A running sluice's local buckets, read without charging them (the admin /explain).
struct LiveBuckets {
  const limit::Limiter& limiter;
  Nanos now = 0;
  std::int64_t unix_ns = 0;  // the wall clock, for quota periods
  // A shared limit's bucket backlog (ns) or quota usage (thousandths) as Redis holds it, or
  // nullopt (not read, or Redis could not say: its level is then null). Null: none read.
  std::function<std::optional<std::int64_t>(const limit::LimitPolicy& limit, const std::string& key,
                                            bool quota)>
      shared;
};

// The answer as JSON (one line); a limit with a quota is followed by an item for the quota
// (`"<policy>-quota"`, with `reset_s`). Without `live`, buckets and quotas are taken as empty: what
// a request arriving at a quiet moment gets (the offline --explain). With it, local buckets as they
// are now; shared ones live in Redis and show no level. Empty with `error` set when the request
// cannot be read (as a served one would be refused).
std::string explain(const config::Config& config, const ExplainRequest& request, std::string& error,
                    const LiveBuckets* live = nullptr);

}  // namespace sluice::proxy
