#include "sluice/limit/policy.hpp"

#include <cstdio>

namespace sluice::limit {

std::string KeySpec::to_string() const {
  std::string out;
  for (const KeyPart& part : parts) {
    if (!out.empty()) out += '|';
    switch (part.kind) {
      case KeyKind::client_ip:
        out += "client_ip";
        break;
      case KeyKind::global:
        out += "global";
        break;
      case KeyKind::header:
        out += "header:" + part.name;
        break;
      case KeyKind::query:
        out += "query:" + part.name;
        break;
      case KeyKind::client_cert:
        out += "client_cert";
        break;
    }
  }
  return out;
}

std::string LimitPolicy::describe() const {
  char buf[64];
  const double seconds = static_cast<double>(rate.period) / kNanosPerSecond;
  std::snprintf(buf, sizeof buf, "%g/%gs", rate.max_rate, seconds);
  return buf;
}

LimitPolicy LimitPolicy::make(std::string policy_name, std::string owner, KeySpec key, Rate rate,
                              double weight) {
  LimitPolicy l;
  l.policy_name = std::move(policy_name);
  l.owner = std::move(owner);
  l.key = std::move(key);
  l.rate = rate;
  l.weight = weight;
  char rate_text[64];
  std::snprintf(rate_text, sizeof rate_text, "%.17g/%lld", rate.max_rate,
                static_cast<long long>(rate.period));
  l.bucket_ns_ = l.owner + '\x1f' + l.key.to_string() + '\x1f' + rate_text + '\x1f';
  char readable_rate[64];
  std::snprintf(readable_rate, sizeof readable_rate, "%.15g/%.15gs", rate.max_rate,
                static_cast<double>(rate.period) / kNanosPerSecond);
  l.shared_ns_ = l.owner + ':' + l.key.to_string() + ':' + readable_rate + ':';
  return l;
}

void LimitPolicy::set_quota(std::optional<Quota> q) {
  quota = q;
  quota_ns_.clear();
  shared_quota_ns_.clear();
  if (!quota) return;
  const std::string period(to_string(quota->per));
  quota_ns_ = owner + '\x1f' + key.to_string() + "\x1fquota/" + period + '\x1f';
  shared_quota_ns_ = owner + ':' + key.to_string() + ":quota/" + period + ':';
}

}  // namespace sluice::limit
