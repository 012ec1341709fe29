// Overrides (README, "Tiers and overrides"): which override a key value meets (exact values,
// digests, prefixes, CIDR blocks; the first in config order wins), and the limits a request
// meets once they are applied.
#include <gtest/gtest.h>

#include "sluice/core/digest.hpp"
#include "sluice/limit/overrides.hpp"
#include "support/fake_request.hpp"

namespace sluice::limit {
namespace {

using testing::FakeRequest;
constexpr auto kNone = OverrideMatcher::kNone;

TEST(OverrideMatcher, ExactValuesMatchWholeValuesOnly) {
  OverrideMatcher m;
  m.add_exact("partner-42", 0);
  EXPECT_EQ(m.match("partner-42"), 0u);
  EXPECT_EQ(m.match("partner-4"), kNone);
  EXPECT_EQ(m.match("partner-420"), kNone);
  EXPECT_EQ(m.match("PARTNER-42"), kNone);
}

TEST(OverrideMatcher, ADigestMatchesTheValueWhoseSha256ItIs) {
  OverrideMatcher m;
  m.add_digest(sha256_hex("secret-key"), 3);
  EXPECT_EQ(m.match("secret-key"), 3u);
  EXPECT_EQ(m.match("secret-kez"), kNone);
  OverrideMatcher upper;
  std::string hex = sha256_hex("k");
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  upper.add_digest(hex, 0);
  EXPECT_EQ(upper.match("k"), 0u);
}

TEST(OverrideMatcher, APrefixMatchesEveryValueStartingWithIt) {
  OverrideMatcher m;
  m.add_prefix("batch-", 1);
  EXPECT_EQ(m.match("batch-"), 1u);
  EXPECT_EQ(m.match("batch-nightly"), 1u);
  EXPECT_EQ(m.match("batch"), kNone);
  EXPECT_EQ(m.match("x-batch-1"), kNone);
}

TEST(OverrideMatcher, CidrBlocksMatchTheAddressesInThem) {
  OverrideMatcher m;
  m.add_cidr(*Cidr::parse("10.0.0.0/8"), 0);
  m.add_cidr(*Cidr::parse("2001:db8::/32"), 1);
  m.add_cidr(*Cidr::parse("192.0.2.7"), 2);
  EXPECT_EQ(m.match("10.200.3.4"), 0u);
  EXPECT_EQ(m.match("11.0.0.1"), kNone);
  EXPECT_EQ(m.match("192.0.2.7"), 2u);
  EXPECT_EQ(m.match("192.0.2.8"), kNone);
  // An IPv6 client key is its /64: the block holds it.
  EXPECT_EQ(m.match("2001:db8:1:2::/64"), 1u);
  EXPECT_EQ(m.match("2001:db9:1:2::/64"), kNone);
  EXPECT_EQ(m.match("not-an-address"), kNone);
}

TEST(OverrideMatcher, TheFirstOverrideInConfigOrderWinsWhateverTheKindOfMatch) {
  OverrideMatcher m;
  m.add_prefix("partner-", 0);
  m.add_exact("partner-42", 1);
  EXPECT_EQ(m.match("partner-42"), 0u);
  OverrideMatcher n;
  n.add_exact("partner-42", 2);
  n.add_prefix("partner-", 5);
  n.add_exact("partner-42", 1);  // listed again later: the first listing stays
  EXPECT_EQ(n.match("partner-42"), 2u);
  EXPECT_EQ(n.match("partner-7"), 5u);
}

TEST(OverrideMatcher, ManyEntriesAreAllFound) {
  OverrideMatcher m;
  for (std::uint32_t i = 0; i < 100000; ++i) m.add_exact("key-" + std::to_string(i), i % 7);
  EXPECT_EQ(m.entries(), 100000u);
  for (std::uint32_t i = 0; i < 100000; i += 997) {
    EXPECT_EQ(m.match("key-" + std::to_string(i)), i % 7);
  }
  EXPECT_EQ(m.match("key-100000"), kNone);
}

// A route "api" keyed by X-Api-Key at 10/s, with a partner tier, an unlimited batch prefix and
// a revoked key.
RoutePolicy api_route() {
  RoutePolicy route;
  route.route = "api";
  const KeySpec key{{{KeyKind::header, "X-Api-Key"}}};
  route.limits.push_back(LimitPolicy::make("api", "route:api#0", key, {10, kNanosPerSecond}, 1));
  auto overrides = std::make_shared<Overrides>();
  overrides->part = key.parts[0];
  Override partner;
  partner.label = "partner";
  partner.limit =
      LimitPolicy::make("api~partner", "route:api#0~1:partner", key, {500, kNanosPerSecond}, 1);
  partner.action = Action::delay;
  partner.max_delay = kNanosPerSecond;
  Override batch;
  batch.label = "2";
  batch.effect = Override::Effect::unlimited;
  Override revoked;
  revoked.label = "3";
  revoked.effect = Override::Effect::deny;
  overrides->list = {partner, batch, revoked};
  overrides->matcher.add_exact("partner-42", 0);
  overrides->matcher.add_prefix("batch-", 1);
  overrides->matcher.add_exact("revoked-17", 2);
  route.limits[0].overrides = overrides;
  return route;
}

FakeRequest with_key(const std::string& value) {
  FakeRequest r;
  r.headers = {{"X-Api-Key", value}};
  return r;
}

TEST(ResolveOverrides, AKeyNoOverrideListsMeetsTheRouteAsConfigured) {
  const RoutePolicy route = api_route();
  ResolvedPolicy out;
  EXPECT_EQ(resolve_overrides(route, with_key("free-1"), out), ResolvedPolicy::Kind::as_configured);
  // A missing header falls back to the client address for the bucket, but no override lists it.
  EXPECT_EQ(resolve_overrides(route, FakeRequest{}, out), ResolvedPolicy::Kind::as_configured);
}

TEST(ResolveOverrides, AnOverrideReplacesTheLimitAndTheRouteSettingsItSets) {
  const RoutePolicy route = api_route();
  ResolvedPolicy out;
  ASSERT_EQ(resolve_overrides(route, with_key("partner-42"), out),
            ResolvedPolicy::Kind::overridden);
  ASSERT_EQ(out.policy.limits.size(), 1u);
  EXPECT_EQ(out.policy.limits[0].policy_name, "api~partner");
  EXPECT_EQ(out.policy.limits[0].rate.max_rate, 500);
  EXPECT_NE(out.policy.limits[0].bucket_namespace(), route.limits[0].bucket_namespace());
  EXPECT_EQ(out.policy.action, Action::delay);
  EXPECT_EQ(out.policy.max_delay, kNanosPerSecond);
  ASSERT_NE(out.applied[0], nullptr);
  EXPECT_EQ(out.applied[0]->label, "partner");
}

TEST(ResolveOverrides, UnlimitedLiftsTheLimitAndDenyRefusesTheKey) {
  const RoutePolicy route = api_route();
  ResolvedPolicy out;
  EXPECT_EQ(resolve_overrides(route, with_key("batch-nightly"), out),
            ResolvedPolicy::Kind::unlimited);
  ASSERT_EQ(resolve_overrides(route, with_key("revoked-17"), out), ResolvedPolicy::Kind::denied);
  EXPECT_EQ(out.denying->label, "3");
  EXPECT_EQ(out.denied_on, &route.limits[0]);
}

TEST(ResolveOverrides, AnUnlimitedLimitLeavesTheRouteItsOtherLimits) {
  RoutePolicy route = api_route();
  route.limits.push_back(LimitPolicy::make("api-2", "route:api#1", KeySpec{{{KeyKind::global, {}}}},
                                           {1000, kNanosPerSecond}, 1));
  ResolvedPolicy out;
  ASSERT_EQ(resolve_overrides(route, with_key("batch-1"), out), ResolvedPolicy::Kind::overridden);
  ASSERT_EQ(out.policy.limits.size(), 1u);
  EXPECT_EQ(out.policy.limits[0].policy_name, "api-2");
  EXPECT_EQ(out.applied[0], nullptr);
}

}  // namespace
}  // namespace sluice::limit
