#pragma once
// Different limits for some clients (README, "Tiers and overrides"): an override stands on one
// limit of a route and, for the key values it lists, replaces that limit with its own, lifts it
// (`unlimited`) or refuses the request (`deny`). Pure: the lists come from the config loader.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/core/ip.hpp"
#include "sluice/limit/policy.hpp"
#include "sluice/limit/reservation.hpp"

namespace sluice::limit {

class RequestFacts;

// Which override, if any, a key value meets: the first in config order among every entry that
// matches it. Exact values and SHA-256 digests sit in flat hash tables over one byte arena,
// prefixes and CIDR blocks in one table per length: a lookup costs a few probes per distinct
// length, however many entries there are (a million take ~40 bytes each plus the values).
class OverrideMatcher {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  void add_exact(std::string_view value, std::uint32_t index);
  // `hex`: the SHA-256 of a value, 64 hex digits.
  void add_digest(std::string_view hex, std::uint32_t index);
  // Every value starting with `prefix`.
  void add_prefix(std::string_view prefix, std::uint32_t index);
  void add_cidr(const Cidr& cidr, std::uint32_t index);

  // The lowest index whose entry matches `value`; kNone if none does. `value` is an address
  // (client_ip keys: "10.1.2.3", or an IPv6 key's "2001:db8:1:2::/64") for CIDR entries.
  [[nodiscard]] std::uint32_t match(std::string_view value) const;
  [[nodiscard]] std::size_t entries() const noexcept { return entries_; }

 private:
  // Open addressing over (hash, offset, length, index) slots; the bytes live in one arena.
  class StringTable {
   public:
    void add(std::string_view key, std::uint32_t index);
    [[nodiscard]] std::uint32_t find(std::string_view key) const;
    [[nodiscard]] bool empty() const noexcept { return used_ == 0; }

   private:
    struct Slot {
      std::uint32_t tag = 0;  // the hash's upper half
      std::uint32_t offset = 0;
      std::uint32_t length = 0;
      std::uint32_t index = kNone;  // kNone: empty
    };
    void grow();
    [[nodiscard]] std::string_view key_of(const Slot& s) const {
      return std::string_view(arena_).substr(s.offset, s.length);
    }
    std::vector<Slot> slots_;
    std::string arena_;
    std::size_t used_ = 0;
  };

  StringTable exact_;
  StringTable digests_;
  // By prefix length, the lengths in increasing order.
  std::vector<std::pair<std::size_t, StringTable>> prefixes_;
  // By prefix bits (of the 128-bit form), the network's bytes as the key.
  std::vector<std::pair<int, StringTable>> cidrs_;
  std::size_t entries_ = 0;
};

// What an override does for the keys it lists.
struct Override {
  enum class Effect { limit, unlimited, deny };
  std::string label;  // its name, else its 1-based position: logs' `override`
  Effect effect = Effect::limit;
  // Effect::limit: the limit that replaces the one it stands on, with its own bucket namespace
  // and policy name ("<policy>~<label>").
  LimitPolicy limit;
  bool sets_weight =
      false;  // else the weight is the limit's it stands on (a route's, for a bucket)
  // Route-wide settings it changes for its keys.
  std::optional<Action> action;
  std::optional<Nanos> max_delay;
  std::optional<bool> dry_run;
};

// The overrides standing on one limit, and its key's only part, whose value they match.
struct Overrides {
  KeyPart part;
  std::vector<Override> list;
  OverrideMatcher matcher;
  std::vector<std::string> files;  // the keys_files read: watch_config watches them too
  // On a named bucket: every route using it names the policies after itself ("<route>~<label>").
  bool on_named_bucket = false;
};

// The limits one request meets once overrides are applied.
struct ResolvedPolicy {
  enum class Kind { as_configured, overridden, unlimited, denied };
  Kind kind = Kind::as_configured;
  RoutePolicy policy;  // overridden: the route's, with its overrides applied
  // Per limit of `policy`: the override applied to it, if any.
  std::array<const Override*, kMaxLimitsPerRoute> applied{};
  const Override* denying = nullptr;       // denied: the override that denies
  const LimitPolicy* denied_on = nullptr;  // denied: the limit it stands on
};

// Applies the overrides of `route`'s limits to `request`; `out.policy` is only written when
// something applies, so requests no override lists cost one lookup per limit with overrides.
ResolvedPolicy::Kind resolve_overrides(const RoutePolicy& route, const RequestFacts& request,
                                       ResolvedPolicy& out);

}  // namespace sluice::limit
