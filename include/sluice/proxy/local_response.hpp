#pragma once
// Responses sluice writes itself: rejections (application/problem+json, README, "Configuration"),
// protocol errors, upstream failures, and `respond` routes.

#include <string>
#include <string_view>

#include "sluice/proxy/beast.hpp"

namespace sluice::proxy {

using LocalResponse = http::response<http::string_body>;

struct Rejection {
  unsigned status = 429;
  std::string route;
  std::string limit;  // "5/10s", or "100000/month"
  std::int64_t retry_after_s = 1;
  std::string policy_header;
  std::string ratelimit_header;
  std::string_view what = "rate limit";  // or "quota"
};

LocalResponse make_rejection(const Rejection& r, unsigned version);

// A problem+json error for protocol and upstream failures.
LocalResponse make_error(unsigned status, std::string_view detail, unsigned version);

LocalResponse make_text(unsigned status, std::string body, std::string_view content_type,
                        unsigned version);

}  // namespace sluice::proxy
