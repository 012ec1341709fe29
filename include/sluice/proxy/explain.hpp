#pragma once
// "What would happen to this request, and why?" (README, "Why was this request limited?"): the
// route it matches and why each route before it does not, its keys as logs show them, and for
// every limit the override that applies and the decision sluice would take. Nothing is charged.
// The request is read by the same code as a served one (read_request, resolve_overrides).

#include <string>
#include <utility>
#include <vector>

#include "sluice/config/config.hpp"

namespace sluice::proxy {

struct ExplainRequest {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string client = "127.0.0.1";  // the peer address
};

// The answer as JSON (one line), buckets taken as empty: what a request arriving at a quiet
// moment gets. Empty with `error` set when the request cannot be read (as a served one would be
// refused).
std::string explain(const config::Config& config, const ExplainRequest& request,
                    std::string& error);

}  // namespace sluice::proxy
