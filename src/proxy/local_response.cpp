#include "sluice/proxy/local_response.hpp"

#include "sluice/core/json.hpp"

namespace sluice::proxy {
namespace {

std::string_view title_of(unsigned status) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return reason.empty() ? std::string_view("Error")
                        : std::string_view(reason.data(), reason.size());
}

LocalResponse base(unsigned status, unsigned version) {
  LocalResponse res{static_cast<http::status>(status), version};
  res.set(http::field::server, "sluice");
  return res;
}

}  // namespace

LocalResponse make_rejection(const Rejection& r, unsigned version) {
  LocalResponse res = base(r.status, version);
  res.set(http::field::content_type, "application/problem+json");
  res.set(http::field::retry_after, std::to_string(r.retry_after_s));
  res.set("RateLimit-Policy", r.policy_header);
  res.set("RateLimit", r.ratelimit_header);
  res.body() = "{\"type\":\"https://sluice.dev/problems/rate-limited\",\"title\":" +
               json_string(title_of(r.status)) + ",\"status\":" + std::to_string(r.status) +
               ",\"detail\":" +
               json_string(std::string(r.what) + " " + r.limit + " of route " + r.route +
                           " exceeded; retry in " + std::to_string(r.retry_after_s) + " s") +
               ",\"route\":" + json_string(r.route) +
               ",\"retry_after\":" + std::to_string(r.retry_after_s) + "}\n";
  res.prepare_payload();
  return res;
}

LocalResponse make_error(unsigned status, std::string_view detail, unsigned version) {
  LocalResponse res = base(status, version);
  res.set(http::field::content_type, "application/problem+json");
  res.body() = "{\"type\":\"about:blank\",\"title\":" + json_string(title_of(status)) +
               ",\"status\":" + std::to_string(status) + ",\"detail\":" + json_string(detail) +
               "}\n";
  res.prepare_payload();
  return res;
}

LocalResponse make_text(unsigned status, std::string body, std::string_view content_type,
                        unsigned version) {
  LocalResponse res = base(status, version);
  res.set(http::field::content_type, content_type);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace sluice::proxy
