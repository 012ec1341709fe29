#include "sluice/limit/key.hpp"

#include <gtest/gtest.h>

#include <map>

namespace sluice::limit {
namespace {

class FakeRequest final : public RequestFacts {
 public:
  std::map<std::string, std::string, std::less<>> headers;
  std::string query_string;
  std::string ip = "203.0.113.7";
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const override {
    const auto it = headers.find(name);
    if (it == headers.end()) return std::nullopt;
    return it->second;
  }
  [[nodiscard]] std::optional<std::string_view> query(std::string_view param) const override {
    return query_param(query_string, param);
  }
  [[nodiscard]] std::string_view client_ip() const override { return ip; }
};

KeySpec spec(std::initializer_list<KeyPart> parts) {
  return KeySpec{parts};
}

TEST(Key, RendersEachKind) {
  FakeRequest r;
  r.headers["X-Api-Key"] = "k1";
  r.query_string = "a=1&token=t9";
  EXPECT_EQ(render_key(spec({{KeyKind::client_ip, {}}}), r), "ip:203.0.113.7");
  EXPECT_EQ(render_key(spec({{KeyKind::global, {}}}), r), "global");
  EXPECT_EQ(render_key(spec({{KeyKind::header, "X-Api-Key"}}), r), "header:X-Api-Key=k1");
  EXPECT_EQ(render_key(spec({{KeyKind::query, "token"}}), r), "query:token=t9");
  EXPECT_EQ(render_key(spec({{KeyKind::global, {}}, {KeyKind::header, "X-Api-Key"}}), r),
            "global|header:X-Api-Key=k1");
}

TEST(Key, MissingHeaderOrParameterFallsBackToClientIp) {
  FakeRequest r;
  EXPECT_EQ(render_key(spec({{KeyKind::header, "X-Api-Key"}}), r), "ip:203.0.113.7");
  EXPECT_EQ(render_key(spec({{KeyKind::query, "token"}}), r), "ip:203.0.113.7");
}

TEST(Key, LongValuesAreHashedToAFixedSize) {
  FakeRequest r;
  r.headers["X-Api-Key"] = std::string(10000, 'x');
  const std::string key = render_key(spec({{KeyKind::header, "X-Api-Key"}}), r);
  EXPECT_LT(key.size(), 64u);
  EXPECT_EQ(key.rfind("header:X-Api-Key=#", 0), 0u);
  r.headers["X-Api-Key"] = std::string(10000, 'y');
  EXPECT_NE(render_key(spec({{KeyKind::header, "X-Api-Key"}}), r), key);
}

TEST(Key, QueryParamFindsTheFirstExactName) {
  EXPECT_EQ(query_param("ab=1&a=2&a=3", "a"), "2");
  EXPECT_EQ(query_param("flag&x=1", "flag"), "");
  EXPECT_EQ(query_param("x=1", "y"), std::nullopt);
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
