#include "sluice/limit/key.hpp"

#include <gtest/gtest.h>

#include <map>

#include "support/fake_request.hpp"

namespace sluice::limit {
namespace {

using testing::FakeRequest;

KeySpec spec(std::initializer_list<KeyPart> parts) {
  return KeySpec{parts};
}

TEST(Key, RendersEachKind) {
  FakeRequest r;
  r.headers = {{"X-Api-Key", "k1"}};
  r.query_string = "a=1&token=t9";
  EXPECT_EQ(render_key(spec({{KeyKind::client_ip, {}}}), r), "ip:203.0.113.7");
  EXPECT_EQ(render_key(spec({{KeyKind::global, {}}}), r), "global");
  EXPECT_EQ(render_key(spec({{KeyKind::header, "X-Api-Key"}}), r), "header:X-Api-Key=k1");
  EXPECT_EQ(render_key(spec({{KeyKind::query, "token"}}), r), "query:token=t9");
  EXPECT_EQ(render_key(spec({{KeyKind::global, {}}, {KeyKind::header, "X-Api-Key"}}), r),
            "global|header:X-Api-Key=k1");
}

TEST(Key, ClientCertRendersTheVerifiedSubjectAndFallsBackToTheAddress) {
  FakeRequest r;
  r.cert = "billing-service";
  EXPECT_EQ(render_key(spec({{KeyKind::client_cert, {}}}), r), "cert:billing-service");
  EXPECT_EQ(render_key(spec({{KeyKind::client_cert, {}}}), r, KeyText::digest),
            "cert:billing-service");
  r.cert.clear();
  EXPECT_EQ(render_key(spec({{KeyKind::client_cert, {}}}), r), "ip:203.0.113.7");
}

TEST(Key, MissingHeaderOrParameterFallsBackToClientIp) {
  FakeRequest r;
  EXPECT_EQ(render_key(spec({{KeyKind::header, "X-Api-Key"}}), r), "ip:203.0.113.7");
  EXPECT_EQ(render_key(spec({{KeyKind::query, "token"}}), r), "ip:203.0.113.7");
}

TEST(Key, LongValuesAreHashedToAFixedSize) {
  FakeRequest r;
  r.headers = {{"X-Api-Key", std::string(10000, 'x')}};
  const std::string key = render_key(spec({{KeyKind::header, "X-Api-Key"}}), r);
  EXPECT_LT(key.size(), 64u);
  EXPECT_EQ(key.rfind("header:X-Api-Key=#", 0), 0u);
  r.headers = {{"X-Api-Key", std::string(10000, 'y')}};
  EXPECT_NE(render_key(spec({{KeyKind::header, "X-Api-Key"}}), r), key);
}

TEST(Key, QueryKeysAreDecodedSoNoSpellingMakesANewBucket) {
  const auto query_key = spec({{KeyKind::query, "api_key"}});
  FakeRequest plain;
  plain.query_string = "api_key=A";
  FakeRequest encoded;
  encoded.query_string = "api_key=%41";
  FakeRequest encoded_name;
  encoded_name.query_string = "api%5Fkey=A&x=1";
  EXPECT_EQ(render_key(query_key, plain), "query:api_key=A");
  EXPECT_EQ(render_key(query_key, encoded), "query:api_key=A");
  EXPECT_EQ(render_key(query_key, encoded_name), "query:api_key=A");
  FakeRequest spaces;
  spaces.query_string = "api_key=a+b%2Bc";
  EXPECT_EQ(render_key(query_key, spaces), "query:api_key=a b+c");
}

TEST(Key, RepeatedKeyParameterOrHeaderIsAProblemNamingIt) {
  RoutePolicy route;
  LimitPolicy by_query;
  by_query.key = spec({{KeyKind::query, "api_key"}});
  LimitPolicy by_header;
  by_header.key = spec({{KeyKind::header, "X-Api-Key"}});
  route.limits = {by_query, by_header};

  FakeRequest fine;
  fine.query_string = "api_key=A&other=1&other=2";
  fine.headers = {{"X-Api-Key", "k"}, {"X-Other", "1"}, {"X-Other", "2"}};
  EXPECT_EQ(key_input_problem(route, fine), "");

  FakeRequest polluted = fine;
  polluted.query_string = "api_key=r1&api%5Fkey=A";
  EXPECT_EQ(key_input_problem(route, polluted), "the key parameter api_key appears more than once");

  FakeRequest twice = fine;
  twice.headers = {{"X-Api-Key", "k"}, {"x-api-key", "j"}};
  EXPECT_EQ(key_input_problem(route, twice), "the key header X-Api-Key appears more than once");

  FakeRequest bad_escape = fine;
  bad_escape.query_string = "api_key=%G1";
  EXPECT_NE(key_input_problem(route, bad_escape).find("malformed percent-encoding"),
            std::string::npos);
}

TEST(Key, DigestsHideHeaderAndQueryValuesButNotAddresses) {
  FakeRequest r;
  r.headers = {{"X-Api-Key", "abc"}};
  // printf abc | sha256sum → ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
  EXPECT_EQ(render_key(spec({{KeyKind::header, "X-Api-Key"}, {KeyKind::client_ip, {}}}), r,
                       KeyText::digest),
            "header:X-Api-Key=sha256:ba7816bf8f01|ip:203.0.113.7");
  r.query_string = "api_key=abc";
  EXPECT_EQ(render_key(spec({{KeyKind::query, "api_key"}}), r, KeyText::digest),
            "query:api_key=sha256:ba7816bf8f01");
}

TEST(Key, LoggedTargetsMaskKeyParameterValues) {
  RoutePolicy route;
  LimitPolicy l;
  l.key = spec({{KeyKind::query, "api_key"}});
  route.limits = {l};
  EXPECT_EQ(masked_target(route, "/a?q=x&api_key=secret&api%5Fkey=s2"),
            "/a?q=x&api_key=***&api%5Fkey=***");
  EXPECT_EQ(masked_target(route, "/a?q=x"), "/a?q=x");
  EXPECT_EQ(masked_target(route, "/a"), "/a");
}

TEST(Key, Ipv6ClientsAreKeyedByTheirPrefix) {
  EXPECT_EQ(client_key_text(*IpAddress::parse("2001:db8:1:2:aaaa::1"), 64), "2001:db8:1:2::/64");
  EXPECT_EQ(client_key_text(*IpAddress::parse("2001:db8:1:2:bbbb::9"), 64), "2001:db8:1:2::/64");
  EXPECT_EQ(client_key_text(*IpAddress::parse("2001:db8:1:2:bbbb::9"), 48), "2001:db8:1::/48");
  EXPECT_EQ(client_key_text(*IpAddress::parse("2001:db8::9"), 128), "2001:db8::9");
  EXPECT_EQ(client_key_text(*IpAddress::parse("::ffff:192.0.2.1"), 64), "192.0.2.1");
  EXPECT_EQ(client_key_text(*IpAddress::parse("192.0.2.1"), 64), "192.0.2.1");
}

std::vector<Cidr> cidrs(std::initializer_list<const char*> texts) {
  std::vector<Cidr> out;
  for (const char* t : texts) out.push_back(*Cidr::parse(t));
  return out;
}

std::string client(const char* peer, const char* xff, const std::vector<Cidr>& trusted) {
  return client_address(*IpAddress::parse(peer), xff, trusted).to_string();
}

TEST(ClientAddress, UntrustedPeerIsTheClientWhateverItClaims) {
  EXPECT_EQ(client("198.51.100.1", "203.0.113.9", cidrs({"10.0.0.0/8"})), "198.51.100.1");
}

TEST(ClientAddress, TrustedPeerYieldsTheRightmostUntrustedForwardedAddress) {
  const auto trusted = cidrs({"10.0.0.0/8", "127.0.0.1"});
  EXPECT_EQ(client("127.0.0.1", "203.0.113.9", trusted), "203.0.113.9");
  EXPECT_EQ(client("127.0.0.1", "1.1.1.1, 203.0.113.9, 10.1.2.3", trusted), "203.0.113.9");
  EXPECT_EQ(client("127.0.0.1", "", trusted), "127.0.0.1");
  EXPECT_EQ(client("127.0.0.1", " 2001:db8::1 ", trusted), "2001:db8::1");
  EXPECT_EQ(client("127.0.0.1", "::ffff:203.0.113.9", trusted), "203.0.113.9");
}

TEST(ClientAddress, MalformedEntryStopsTheWalkAtTheLastGoodAddress) {
  const auto trusted = cidrs({"10.0.0.0/8", "127.0.0.1"});
  EXPECT_EQ(client("127.0.0.1", "203.0.113.9, garbage, 10.0.0.5", trusted), "10.0.0.5");
}

TEST(Cidr, MatchesPrefixesOfBothFamilies) {
  EXPECT_TRUE(Cidr::parse("10.0.0.0/8")->contains(*IpAddress::parse("10.200.1.1")));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/8")->contains(*IpAddress::parse("11.0.0.1")));
  EXPECT_TRUE(Cidr::parse("2001:db8::/32")->contains(*IpAddress::parse("2001:db8:1::1")));
  EXPECT_TRUE(Cidr::parse("127.0.0.1")->contains(*IpAddress::parse("::ffff:127.0.0.1")));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/40").has_value());
}

}  // namespace
}  // namespace sluice::limit

TEST(IpAddress, RendersIpv4AndMappedAddressesDottedAndIpv6Compressed) {
  EXPECT_EQ(sluice::IpAddress::parse("0.0.0.0")->to_string(), "0.0.0.0");
  EXPECT_EQ(sluice::IpAddress::parse("255.255.255.255")->to_string(), "255.255.255.255");
  EXPECT_EQ(sluice::IpAddress::parse("10.20.3.100")->to_string(), "10.20.3.100");
  EXPECT_EQ(sluice::IpAddress::parse("::ffff:192.0.2.1")->to_string(), "192.0.2.1");
  EXPECT_EQ(sluice::IpAddress::parse("2001:db8::1")->to_string(), "2001:db8::1");
}
