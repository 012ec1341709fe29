#pragma once
// What a route asks of the limiter, compiled from the config: plain immutable values.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/limit/gcra.hpp"
#include "sluice/limit/quota.hpp"

namespace sluice::limit {

struct Overrides;

enum class KeyKind { client_ip, global, header, query, client_cert };

struct KeyPart {
  KeyKind kind = KeyKind::client_ip;
  std::string name;  // header or query parameter name, as written in the config
};

// `client_ip`, `global`, `header:<Name>`, `query:<param>`, or several joined with `|`.
struct KeySpec {
  std::vector<KeyPart> parts;
  [[nodiscard]] std::string to_string() const;
};

class LimitPolicy {
 public:
  LimitPolicy() = default;
  // The only way to a limit with a bucket namespace: derived here from the owner, key kind and
  // rate, never by hand, so two limits can share buckets only by sharing all three.
  static LimitPolicy make(std::string policy_name, std::string owner, KeySpec key, Rate rate,
                          double weight);

  std::string policy_name;  // RateLimit header item: route name, or "<route>-<n>" with several
  // Who owns the bucket: "route:<name>#<n>" for a route's own limit, "bucket:<name>" for a named
  // one. With the key kind and rate it forms the bucket namespace, so a reload that keeps those
  // keeps the bucket, and one that changes them starts afresh.
  std::string owner;
  KeySpec key;
  Rate rate;
  double weight = 1;
  bool shared = false;  // the buckets live in Redis, one for every instance
  // Other limits for some key values (limit/overrides.hpp); null: none.
  std::shared_ptr<const Overrides> overrides;
  // A calendar quota besides the rate; set by set_quota only.
  std::optional<Quota> quota;

  // Adds a quota, with the counter namespace derived from the owner, key kind and period (not
  // the limit: raising a plan's quota mid-month keeps what the client has used).
  void set_quota(std::optional<Quota> q);
  // "<policy_name>-quota": the quota's RateLimit-Policy item.
  [[nodiscard]] std::string quota_policy_name() const { return policy_name + "-quota"; }
  [[nodiscard]] const std::string& quota_namespace() const noexcept { return quota_ns_; }
  [[nodiscard]] const std::string& shared_quota_namespace() const noexcept {
    return shared_quota_ns_;
  }

  [[nodiscard]] Claim claim() const noexcept { return {rate.cost(weight), rate.tau()}; }
  // "5/10s": how logs name the limit.
  [[nodiscard]] std::string describe() const;
  // Prefix of every bucket identity of this limit.
  [[nodiscard]] const std::string& bucket_namespace() const noexcept { return bucket_ns_; }
  // The readable middle of this limit's Redis keys, "route:search#0:client_ip:5/10s:": the same
  // owner, key kind and rate as bucket_namespace, so a change of any addresses new keys.
  [[nodiscard]] const std::string& shared_namespace() const noexcept { return shared_ns_; }

 private:
  std::string bucket_ns_;
  std::string shared_ns_;
  std::string quota_ns_;
  std::string shared_quota_ns_;
};

enum class Action { reject, delay };

struct RoutePolicy {
  std::string route;
  std::vector<LimitPolicy> limits;  // at most kMaxLimitsPerRoute
  Action action = Action::reject;
  Nanos max_delay = 0;  // delay only
  bool dry_run = false;

  // The longest a request may wait for its slot: max_delay for delay, none for reject.
  [[nodiscard]] Nanos max_wait() const noexcept { return action == Action::delay ? max_delay : 0; }
  [[nodiscard]] bool any_overrides() const noexcept {
    for (const LimitPolicy& l : limits) {
      if (l.overrides) return true;
    }
    return false;
  }
  [[nodiscard]] bool any_quota() const noexcept {
    for (const LimitPolicy& l : limits) {
      if (l.quota) return true;
    }
    return false;
  }
  [[nodiscard]] bool any_shared() const noexcept {
    for (const LimitPolicy& l : limits) {
      if (l.shared) return true;
    }
    return false;
  }
};

}  // namespace sluice::limit
