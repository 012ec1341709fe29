#include "sluice/limit/overrides.hpp"

#include <algorithm>
#include <functional>

#include "sluice/core/digest.hpp"
#include "sluice/limit/key.hpp"

namespace sluice::limit {
namespace {

std::uint64_t hash_of(std::string_view key) {
  return std::hash<std::string_view>{}(key);
}

// The upper half of a hash, kept in a slot to skip most byte comparisons.
std::uint32_t tag_of(std::uint64_t hash) {
  return static_cast<std::uint32_t>(hash >> 32);
}

// The 16 bytes of `ip` with everything after `bits` cleared.
std::string masked(const IpAddress& ip, int bits) {
  std::string out(reinterpret_cast<const char*>(ip.bytes.data()), ip.bytes.size());
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(bits - 8 * i, 0, 8);
    out[static_cast<std::size_t>(i)] = static_cast<char>(
        static_cast<unsigned char>(out[static_cast<std::size_t>(i)]) & (0xff00 >> keep));
  }
  return out;
}

// The value an override matches: the key part's own value, without the fallback to the client
// address a missing header or parameter takes in the bucket key.
std::optional<std::string> part_value(const KeyPart& part, const RequestFacts& request) {
  switch (part.kind) {
    case KeyKind::client_ip:
      return std::string(request.client_ip());
    case KeyKind::header:
    case KeyKind::query: {
      const uri::Lookup found =
          part.kind == KeyKind::header ? request.header(part.name) : request.query(part.name);
      if (found.state != uri::Lookup::State::found) return std::nullopt;
      return found.value;
    }
    case KeyKind::client_cert: {
      const std::string_view cn = request.client_cert();
      if (cn.empty()) return std::nullopt;
      return std::string(cn);
    }
    case KeyKind::global:
      break;
  }
  return std::nullopt;
}

}  // namespace

void OverrideMatcher::StringTable::add(std::string_view key, std::uint32_t index) {
  if ((used_ + 1) * 4 > slots_.size() * 3) grow();
  const std::uint64_t hash = hash_of(key);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.index == kNone) {
      s = {tag_of(hash), static_cast<std::uint32_t>(arena_.size()),
           static_cast<std::uint32_t>(key.size()), index};
      arena_.append(key);
      ++used_;
      return;
    }
    if (s.tag == tag_of(hash) && key_of(s) == key) return;  // listed before: the first wins
  }
}

std::uint32_t OverrideMatcher::StringTable::find(std::string_view key) const {
  if (used_ == 0) return kNone;
  const std::uint64_t hash = hash_of(key);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.index == kNone) return kNone;
    if (s.tag == tag_of(hash) && key_of(s) == key) return s.index;
  }
}

void OverrideMatcher::StringTable::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.index == kNone) continue;
    std::size_t i = hash_of(key_of(s)) & mask;
    while (slots_[i].index != kNone) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void OverrideMatcher::add_exact(std::string_view value, std::uint32_t index) {
  exact_.add(value, index);
  ++entries_;
}

void OverrideMatcher::add_digest(std::string_view hex, std::uint32_t index) {
  std::string lower(hex);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  digests_.add(lower, index);
  ++entries_;
}

void OverrideMatcher::add_prefix(std::string_view prefix, std::uint32_t index) {
  auto it = std::lower_bound(prefixes_.begin(), prefixes_.end(), prefix.size(),
                             [](const auto& entry, std::size_t n) { return entry.first < n; });
  if (it == prefixes_.end() || it->first != prefix.size()) {
    it = prefixes_.insert(it, {prefix.size(), StringTable{}});
  }
  it->second.add(prefix, index);
  ++entries_;
}

void OverrideMatcher::add_cidr(const Cidr& cidr, std::uint32_t index) {
  auto it = std::find_if(cidrs_.begin(), cidrs_.end(),
                         [&](const auto& entry) { return entry.first == cidr.prefix_bits; });
  if (it == cidrs_.end()) it = cidrs_.insert(cidrs_.end(), {cidr.prefix_bits, StringTable{}});
  it->second.add(masked(cidr.network, cidr.prefix_bits), index);
  ++entries_;
}

std::uint32_t OverrideMatcher::match(std::string_view value) const {
  std::uint32_t best = exact_.find(value);
  if (!digests_.empty()) best = std::min(best, digests_.find(sha256_hex(value)));
  for (const auto& [length, table] : prefixes_) {
    if (length > value.size()) break;
    best = std::min(best, table.find(value.substr(0, length)));
  }
  if (!cidrs_.empty()) {
    // An IPv6 client key is its prefix, "2001:db8:1:2::/64": its network is the address.
    std::optional<IpAddress> ip = IpAddress::parse(value);
    if (!ip) {
      if (const auto cidr = Cidr::parse(value)) ip = cidr->network;
    }
    if (ip) {
      for (const auto& [bits, table] : cidrs_) best = std::min(best, table.find(masked(*ip, bits)));
    }
  }
  return best;
}

ResolvedPolicy::Kind resolve_overrides(const RoutePolicy& route, const RequestFacts& request,
                                       ResolvedPolicy& out) {
  out.kind = ResolvedPolicy::Kind::as_configured;
  std::array<const Override*, kMaxLimitsPerRoute> found{};
  bool any = false;
  for (std::size_t k = 0; k < route.limits.size(); ++k) {
    const auto& overrides = route.limits[k].overrides;
    if (!overrides) continue;
    const auto value = part_value(overrides->part, request);
    if (!value) continue;
    const std::uint32_t index = overrides->matcher.match(*value);
    if (index == OverrideMatcher::kNone) continue;
    const Override& o = overrides->list[index];
    if (o.effect == Override::Effect::deny) {
      out.kind = ResolvedPolicy::Kind::denied;
      out.denying = &o;
      out.denied_on = &route.limits[k];
      return out.kind;
    }
    found[k] = &o;
    any = true;
  }
  if (!any) return out.kind;
  out.policy.route = route.route;
  out.policy.action = route.action;
  out.policy.max_delay = route.max_delay;
  out.policy.dry_run = route.dry_run;
  out.policy.limits.clear();
  out.applied = {};
  for (std::size_t k = 0; k < route.limits.size(); ++k) {
    const Override* o = found[k];
    if (o == nullptr) {
      out.policy.limits.push_back(route.limits[k]);
      continue;
    }
    if (o->action) out.policy.action = *o->action;
    if (o->max_delay) out.policy.max_delay = *o->max_delay;
    if (o->dry_run) out.policy.dry_run = *o->dry_run;
    if (o->effect == Override::Effect::unlimited) continue;
    out.applied[out.policy.limits.size()] = o;
    out.policy.limits.push_back(o->limit);
    LimitPolicy& applied = out.policy.limits.back();
    if (!o->sets_weight) applied.weight = route.limits[k].weight;
    if (route.limits[k].overrides->on_named_bucket) {
      applied.policy_name = route.limits[k].policy_name + '~' + o->label;
    }
  }
  out.kind = out.policy.limits.empty() ? ResolvedPolicy::Kind::unlimited
                                       : ResolvedPolicy::Kind::overridden;
  return out.kind;
}

}  // namespace sluice::limit
