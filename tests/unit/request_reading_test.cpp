// How sluice reads the parts of a request an upstream could read differently: key headers,
// Upgrade lists, X-Forwarded-For lines, per-client connection counts.
#include <gtest/gtest.h>

#include "sluice/config/load.hpp"
#include "sluice/proxy/client_connections.hpp"
#include "sluice/proxy/headers.hpp"
#include "sluice/proxy/request_checks.hpp"

namespace sluice::proxy {
namespace {

using State = uri::Lookup::State;

uri::Lookup key_header(const std::vector<std::pair<std::string, std::string>>& sent,
                       std::string_view name = "X-Api-Key") {
  ClientHead fields;
  for (const auto& [n, v] : sent) fields.insert(n, v);
  return HeadFacts(fields, "", {}).header(name);
}

TEST(KeyHeader, PlainValuesAreTrimmedOfSpaceAndTab) {
  EXPECT_EQ(key_header({{"X-Api-Key", " \tK\t "}}).value, "K");
  EXPECT_EQ(key_header({{"x-api-key", "K"}}).state, State::found);
  EXPECT_EQ(key_header({{"X-Other", "K"}}).state, State::missing);
}

TEST(KeyHeader, BytesOutsideVisibleAsciiAreMalformed) {
  EXPECT_EQ(key_header({{"X-Api-Key", "K\xa0"}}).state, State::malformed);
  EXPECT_EQ(key_header({{"X-Api-Key", "\xc2\x85K"}}).state, State::malformed);
  EXPECT_EQ(key_header({{"X-Api-Key", "K\x7f"}}).state, State::malformed);
}

TEST(KeyHeader, UnderscoreSpellingsAreLookalikesEitherWay) {
  const auto underscore = key_header({{"X_Api_Key", "K"}});
  EXPECT_EQ(underscore.state, State::lookalike);
  EXPECT_EQ(underscore.value, "X_Api_Key");
  EXPECT_EQ(key_header({{"X-Api-Key", "K"}, {"x_api_key", "L"}}).state, State::lookalike);
  EXPECT_EQ(key_header({{"X-Api-Key", "K"}}, "X_Api_Key").state, State::lookalike);
  EXPECT_EQ(key_header({{"X_Api_Key", "K"}}, "X_Api_Key").state, State::found);
  EXPECT_EQ(key_header({{"X_Api_Keys", "K"}}).state, State::missing);
}

TEST(KeyHeader, RepeatsAreAmbiguous) {
  EXPECT_EQ(key_header({{"X-Api-Key", "K"}, {"X-API-KEY", "K"}}).state, State::ambiguous);
}

std::string upgrade_of(const std::string& connection, const std::string& upgrade,
                       const std::vector<std::string>& allowed = {"websocket"}) {
  ClientHead fields;
  fields.set(http::field::connection, connection);
  fields.set(http::field::upgrade, upgrade);
  return upgrade_protocol(fields, allowed);
}

TEST(UpgradeProtocol, ListedProtocolsAreForwardedAsTokens) {
  EXPECT_EQ(upgrade_of("Upgrade", "websocket"), "websocket");
  EXPECT_EQ(upgrade_of("keep-alive, upgrade", "\"WebSocket/13\""), "WebSocket/13");
  EXPECT_EQ(upgrade_of("Upgrade", "foo, websocket"), "websocket");
  EXPECT_EQ(upgrade_of("Upgrade", "foo"), "");
  EXPECT_EQ(upgrade_of("close", "websocket"), "");  // Connection must name it
  EXPECT_EQ(upgrade_of("Upgrade", "foo", {"foo", "websocket"}), "foo");
}

TEST(UpgradeProtocol, H2cInAnySpellingStripsTheUpgrade) {
  for (const char* h2c : {"h2c", "\"h2c\"", "H2C", "websocket, h2c", "HTTP/2.0", "h2"}) {
    EXPECT_EQ(upgrade_of("Upgrade", h2c), "") << h2c;
  }
  EXPECT_EQ(upgrade_of("Upgrade", "h2c", {"h2c"}), "");  // even if listed
}

TEST(ForwardedFor, LinesAreCombined) {
  ClientHead fields;
  fields.insert("X-Forwarded-For", "10.0.0.1");
  fields.insert("X-Forwarded-For", "203.0.113.7, 198.51.100.2");
  EXPECT_EQ(combined_field(fields, "x-forwarded-for"), "10.0.0.1, 203.0.113.7, 198.51.100.2");
}

// read_request() rewrites the head's target, which may move the head's bytes: the client behind
// a trusted proxy is read from X-Forwarded-For before that (ASan saw the stale view, found by
// the request-head fuzzer).
TEST(ReadRequest, TheClientBehindATrustedProxyIsReadBeforeTheTargetIsRewritten) {
  const auto loaded = config::load_string(R"(version: 1
listen: 127.0.0.1:1
upstream: http://127.0.0.1:2
trusted_proxies: [127.0.0.0/8]
routes:
  - { name: a, match: { path_prefix: / }, key: client_ip, max_rate: 1, time_period: 1s }
)",
                                          "test.yaml");
  ASSERT_TRUE(loaded.config) << (loaded.errors.empty() ? "" : loaded.errors.front());
  ClientHead head;
  head.method_string("GET");
  const std::string target = "/" + std::string(300, 'a');  // on the heap, and again when copied
  head.target(target);
  head.insert("Host", "example.com");
  head.insert("X-Forwarded-For", "203.0.113.7");
  const auto peer = *IpAddress::parse("127.0.0.1");
  const auto read = read_request(head, false, peer, "127.0.0.1", *loaded.config);
  ASSERT_TRUE(std::holds_alternative<ReadRequest>(read));
  EXPECT_EQ(std::get<ReadRequest>(read).client_text, "203.0.113.7");
  EXPECT_EQ(head.target(), target);
}

TEST(ClientConnections, ACapPerClientAndSlotsGiveTheirPlaceBack) {
  ClientConnections table;
  auto a1 = table.open("192.0.2.1", 2);
  auto a2 = table.open("192.0.2.1", 2);
  EXPECT_EQ(a1.admission, ClientConnections::Admission::admitted);
  EXPECT_EQ(a2.admission, ClientConnections::Admission::admitted);
  EXPECT_EQ(table.open("192.0.2.1", 2).admission, ClientConnections::Admission::over_limit);
  EXPECT_EQ(table.open("192.0.2.2", 2).admission, ClientConnections::Admission::admitted);
  { const ClientConnections::Slot gone = std::move(a1.slot); }
  auto a3 = table.open("192.0.2.1", 2);
  EXPECT_EQ(a3.admission, ClientConnections::Admission::admitted);
  a2 = {};
  a3 = {};
  EXPECT_EQ(table.clients(), 0u);  // nobody connected, nothing kept
}

}  // namespace
}  // namespace sluice::proxy
