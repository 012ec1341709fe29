// The second attacker's table, one test per row (docs/SECURITY.md): each replays the attack
// against sluice in front of a recording upstream and checks that sluice either reads the
// request as the most lenient common upstream would, or refuses it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/beast/core/string.hpp>
#include <fstream>
#include <regex>

#include "sluice/limit/snapshot.hpp"
#include "support/configs.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {
namespace {

// The config without trusted proxies: the test client is a client, not a proxy.
std::string direct(const TestUpstream& upstream, const std::string& rest) {
  return "version: 1\nupstream: " + upstream.url() + "\n" + rest;
}

// Writes `head` (a whole request) as sent and reads the response.
Response raw(std::uint16_t port, const std::string& head) {
  Client client(port);
  client.write_raw(head);
  return client.receive();
}

std::uint64_t metric(ProxyHarness& proxy, observe::Family family, const observe::Labels& labels) {
  return proxy.server().metrics().counter(family, labels).load();
}

const std::string kQueryKeyRoute =
    "routes:\n"
    R"(  - { name: api, match: { path_prefix: / }, key: "query:api_key", max_rate: 1, time_period: 60s }
)";

const std::string kHeaderKeyRoute =
    "routes:\n"
    R"(  - { name: api, match: { path_prefix: / }, key: "header:X-Api-Key", max_rate: 2, time_period: 60s }
)";

// Row 1: `GET /admin#x` was routed with its fragment, and every fragment was a fresh key.
TEST(SecondPass, AFragmentInTheTargetIsRefused) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, kQueryKeyRoute));
  for (const char* target : {"/admin#x", "/q/?api_key=K#0", "/q/?api_key=K%23#1", "#"}) {
    const Response res =
        raw(proxy.port(), std::string("GET ") + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
    EXPECT_EQ(res.status, 400u) << target;
    EXPECT_NE(res.body.find("fragment"), std::string::npos) << res.body;
  }
  EXPECT_EQ(upstream.request_count(), 0u);
}

// Row 2: `?API_KEY=victim&api_key=r1`: nginx's $arg_api_key reads `victim`, sluice keyed `r1`.
TEST(SecondPass, QueryKeyNamesDifferingOnlyInCaseAreOneParameter) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, kQueryKeyRoute), "access: true");
  Client client(proxy.port());
  const Response polluted = client.request("GET", "/q?API_KEY=victim&api_key=r1");
  EXPECT_EQ(polluted.status, 400u);
  EXPECT_NE(polluted.body.find("the key parameter api_key appears more than once"),
            std::string::npos);
  EXPECT_EQ(client.request("GET", "/q?API_KEY=victim").status, 200u);
  EXPECT_EQ(client.request("GET", "/q?Api_Key=victim").status, 429u);  // the same bucket
  EXPECT_EQ(upstream.request_count(), 1u);
  // Every spelling is masked, in the access lines as in the throttled one.
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"access\"", 3));
  const std::string log = proxy.log_text();
  EXPECT_EQ(log.find("victim"), std::string::npos) << log;
  EXPECT_NE(log.find("API_KEY=***&api_key=***"), std::string::npos) << log;
}

// Row 3: NBSP / NEL padding and `X_Api_Key`, which a WSGI upstream reads as the same key.
TEST(SecondPass, KeyHeadersWithObsTextOrUnderscoreSpellingsAreRefused) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, kHeaderKeyRoute));
  for (const std::string& header :
       {std::string("X-Api-Key: K\xa0"), std::string("X-Api-Key: \xc2\x85K"),
        std::string("X-Api-Key: K\x01"), std::string("X_Api_Key: K"),
        std::string("x_api-KEY: K")}) {
    const Response res =
        raw(proxy.port(), "GET / HTTP/1.1\r\nHost: localhost\r\n" + header + "\r\n\r\n");
    EXPECT_EQ(res.status, 400u) << header;
  }
  EXPECT_EQ(upstream.request_count(), 0u);
  // The plain spelling with SP/HTAB padding is one key, as before.
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/", {{"X-Api-Key", "K"}}).status, 200u);
  EXPECT_EQ(
      raw(proxy.port(), "GET / HTTP/1.1\r\nHost: localhost\r\nX-Api-Key: \tK \r\n\r\n").status,
      200u);
  EXPECT_EQ(client.request("GET", "/", {{"X-Api-Key", "K"}}).status, 429u);
  EXPECT_TRUE(proxy.wait_for_log("reads as the key header X-Api-Key"));
}

// Row 4: HAProxy's `option forwardfor` appends a line; sluice read only the client's first one.
TEST(SecondPass, SeveralForwardedForLinesAreOneList) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream,  // trusts 127.0.0.1, the proxy in front
                                   "routes:\n  - { name: api, max_rate: 1, time_period: 60s }\n"));
  const auto through_proxy = [&](const std::string& forged) {
    return raw(proxy.port(), "GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: " + forged +
                                 "\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n");
  };
  EXPECT_EQ(through_proxy("10.0.0.1").status, 200u);
  EXPECT_EQ(through_proxy("10.0.0.2").status, 429u);  // the same client, whatever it wrote
  ASSERT_EQ(upstream.request_count(), 1u);
  const ReceivedRequest got = upstream.requests()[0];
  EXPECT_EQ(got.header("X-Forwarded-For"), "10.0.0.1, 203.0.113.7, 127.0.0.1");
  int lines = 0;
  for (const auto& [name, value] : got.headers) lines += name == "X-Forwarded-For";
  EXPECT_EQ(lines, 1);
  EXPECT_TRUE(proxy.wait_for_log("\"key\":\"ip:203.0.113.7\""));
}

// Row 5: 10 050 keep-alive connections from one address left every other client a 503.
TEST(SecondPass, ConnectionsBeyondThePerClientCapAreRefused) {
  TestUpstream upstream;
  ProxyHarness proxy(direct(upstream, "http: { max_connections_per_client: 2 }\n"));
  auto first = std::make_unique<Client>(proxy.port());
  Client second(proxy.port());
  EXPECT_EQ(first->request("GET", "/").status, 200u);
  EXPECT_EQ(second.request("GET", "/").status, 200u);
  {
    Client third(proxy.port());
    const std::string answer = third.read_all();
    EXPECT_NE(answer.find("503"), std::string::npos) << answer;
    EXPECT_NE(answer.find("too many connections from this client"), std::string::npos);
  }
  EXPECT_EQ(metric(proxy, observe::Family::connections_refused_total, {{"reason", "per_client"}}),
            1u);
  EXPECT_TRUE(proxy.wait_for_log("\"event\":\"connection_refused\""));
  // A closed connection gives its place back.
  first.reset();
  EXPECT_TRUE(wait_until([&] {
    return proxy.server()
               .metrics()
               .gauge(observe::Family::connections, {{"side", "downstream"}})
               .load() == 1;
  }));
  Client again(proxy.port());
  EXPECT_EQ(again.request("GET", "/").status, 200u);
}

TEST(SecondPass, TrustedProxiesAreExemptFromThePerClientCap) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, "http: { max_connections_per_client: 1 }\n"));
  Client first(proxy.port());
  Client second(proxy.port());
  EXPECT_EQ(first.request("GET", "/").status, 200u);
  EXPECT_EQ(second.request("GET", "/").status, 200u);
  EXPECT_EQ(metric(proxy, observe::Family::connections_refused_total, {{"reason", "per_client"}}),
            0u);
}

// Row 6: a flood of distinct keys wrote a line per key (171 k lines, 42 MB in 9 s).
TEST(SecondPass, ADistinctKeyFloodIsSummarisedBeyondTheGlobalLineBudget) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, kHeaderKeyRoute), "throttled_lines_per_second: 5");
  constexpr int kKeys = 40;
  Client client(proxy.port());
  for (int i = 0; i < kKeys; ++i) {
    const Headers key{{"X-Api-Key", "key-" + std::to_string(i)}};
    client.request("GET", "/", key);
    client.request("GET", "/", key);
    EXPECT_EQ(client.request("GET", "/", key).status, 429u);
  }
  EXPECT_EQ(proxy.decisions("api", "rejected"), std::uint64_t{kKeys});
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"throttled_summary\""));
  // Every rejection is accounted for: by its own line or in a summary's count; and lines of
  // their own stay within 5 a second (the loop may span a few seconds on a loaded machine).
  std::uint64_t accounted = 0;
  std::uint64_t own_lines = 0;
  ASSERT_TRUE(wait_until([&] {
    const std::string log = proxy.log_text();
    own_lines = count_lines_with(log, "\"event\":\"throttled\"");
    accounted = own_lines;
    static const std::regex events("\"event\":\"throttled_summary\".*\"events\":([0-9]+)");
    for (auto it = std::sregex_iterator(log.begin(), log.end(), events);
         it != std::sregex_iterator(); ++it) {
      accounted += std::stoull((*it)[1]);
    }
    return accounted == kKeys;
  })) << accounted;
  EXPECT_LT(own_lines, std::uint64_t{kKeys} / 2);
  const std::string log = proxy.log_text();
  EXPECT_NE(log.find("\"counts\":{\"api\":{\"rejected\":"), std::string::npos) << log;
  EXPECT_NE(log.find("\"distinct_keys\":"), std::string::npos);
}

// Row 7: requests refused before masking (%00, Transfer-Encoding: gzip, above the root, no
// Host) were logged with the key parameter in clear.
TEST(SecondPass, RequestsRefusedEarlyAreLoggedWithKeyParametersMasked) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, kQueryKeyRoute), "access: true");
  const std::string requests[] = {
      "GET /a%00b?api_key=SECRET HTTP/1.1\r\nHost: localhost\r\n\r\n",
      "POST /a?API_KEY=SECRET HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n",
      "GET /../x?api_key=SECRET HTTP/1.1\r\nHost: localhost\r\n\r\n",
      "GET /x?api%5Fkey=SECRET HTTP/1.1\r\n\r\n"};
  for (const std::string& request : requests) {
    EXPECT_EQ(raw(proxy.port(), request).status, 400u) << request;
  }
  ASSERT_TRUE(proxy.wait_for_log("\"status\":400", std::size(requests)));
  const std::string log = proxy.log_text();
  EXPECT_EQ(log.find("SECRET"), std::string::npos) << log;
  EXPECT_EQ(count_lines_with(log, "=***"), std::size(requests)) << log;
}

// Row 8: `Upgrade: "h2c"` and `Upgrade: HTTP/2.0` were forwarded (the refusal was a string match).
TEST(SecondPass, OnlyListedUpgradesAreForwardedAndH2cNever) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, ""));
  const auto upgrade = [&](const std::string& protocols) {
    return raw(proxy.port(),
               "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
               "Upgrade: " +
                   protocols + "\r\n\r\n");
  };
  for (const char* protocols :
       {"\"h2c\"", "HTTP/2.0", "H2C", "websocket, h2c", "foo/1", "\"\"", ",,"}) {
    EXPECT_EQ(upgrade(protocols).status, 200u) << protocols;  // served as a plain request
  }
  EXPECT_EQ(upgrade("\"WebSocket\"").status, 200u);  // the test upstream does not switch
  const auto got = upstream.requests();
  ASSERT_EQ(got.size(), 8u);
  for (std::size_t i = 0; i + 1 < got.size(); ++i) {
    EXPECT_FALSE(got[i].has_header("Upgrade")) << i << ": " << got[i].header("Upgrade");
    EXPECT_FALSE(got[i].has_header("Connection")) << i;
  }
  EXPECT_EQ(got.back().header("Upgrade"), "WebSocket");
  EXPECT_EQ(got.back().header("Connection"), "Upgrade");
}

TEST(SecondPass, UpgradesCanBeListed) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, "upgrades: [Foo]\n"));
  raw(proxy.port(),
      "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: upgrade\r\nUpgrade: foo/2\r\n\r\n");
  raw(proxy.port(),
      "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
  const auto got = upstream.requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].header("Upgrade"), "foo/2");
  EXPECT_FALSE(got[1].has_header("Upgrade"));
}

class SecondPassStateFile : public ::testing::Test {
 protected:
  void SetUp() override { ::unlink(path_.c_str()); }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::unlink(planted_.c_str());
    ::unlink(victim_.c_str());
  }
  std::string config(const TestUpstream& upstream) const {
    return with_upstream(upstream, "state_file: " + path_ +
                                       "\nroutes:\n  - { name: api, max_rate: 2, time_period: "
                                       "60s }\n");
  }
  // One client over its limit, then a graceful stop that saves the state.
  void fill_and_stop(const TestUpstream& upstream) {
    ProxyHarness proxy(config(upstream));
    Client client(proxy.port());
    client.request("GET", "/");
    client.request("GET", "/");
    EXPECT_EQ(client.request("GET", "/").status, 429u);
    client.close();
    proxy.server().shutdown();
    EXPECT_TRUE(proxy.wait_for_log("\"event\":\"state_saved\""));
  }
  const std::string path_ = temp_file("second-pass-state.bin", "");
  const std::string planted_ = path_ + ".tmp." + std::to_string(::getpid());
  const std::string victim_ = temp_file("second-pass-victim", "precious\n");
};

// Row 9: a symlink or a 0666 file planted at `<state_file>.tmp.<pid>` was followed or reused.
TEST_F(SecondPassStateFile, APlantedTemporaryFileIsNeitherFollowedNorReused) {
  TestUpstream upstream;
  ASSERT_EQ(::symlink(victim_.c_str(), planted_.c_str()), 0);
  fill_and_stop(upstream);
  std::ifstream victim(victim_);
  std::string text((std::istreambuf_iterator<char>(victim)), {});
  EXPECT_EQ(text, "precious\n");
  struct stat saved {};
  ASSERT_EQ(::lstat(path_.c_str(), &saved), 0);
  EXPECT_TRUE(S_ISREG(saved.st_mode));
  EXPECT_EQ(saved.st_mode & 0777, 0600u);

  ::unlink(planted_.c_str());
  ::unlink(path_.c_str());
  const int fd = ::open(planted_.c_str(), O_CREAT | O_WRONLY, 0666);
  ASSERT_GE(fd, 0);
  ::fchmod(fd, 0666);
  ::close(fd);
  fill_and_stop(upstream);
  ASSERT_EQ(::lstat(path_.c_str(), &saved), 0);
  EXPECT_EQ(saved.st_mode & 0777, 0600u);
}

// Row 10: a state file forged with a recomputed checksum held a 30-year backlog.
TEST_F(SecondPassStateFile, AForgedBacklogIsClampedToWhatTheLimitCanHold) {
  TestUpstream upstream;
  fill_and_stop(upstream);
  std::string bytes;
  {
    std::ifstream in(path_, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto decoded = limit::decode(bytes);
  ASSERT_TRUE(decoded.snapshot) << decoded.error;
  ASSERT_EQ(decoded.snapshot->buckets.size(), 1u);
  decoded.snapshot->buckets[0].backlog = std::int64_t{30} * 365 * 86400 * kNanosPerSecond;
  std::ofstream(path_, std::ios::binary | std::ios::trunc) << limit::encode(*decoded.snapshot);

  ProxyHarness proxy(config(upstream));
  EXPECT_TRUE(proxy.wait_for_log("\"clamped\":1"));
  Client client(proxy.port());
  const Response limited = client.request("GET", "/");
  EXPECT_EQ(limited.status, 429u);
  EXPECT_LE(std::stoi(limited.header("retry-after")), 30);  // one unit of a full 60 s bucket
}

// Row 11: `OPTIONS *` matched no route, not even the catch-all.
TEST(SecondPass, OptionsStarIsCaughtByTheCatchAllRoute) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(
      upstream,
      "routes:\n  - { name: all, match: { path_prefix: / }, key: global, max_rate: 1, "
      "time_period: 60s }\n"));
  const std::string options = "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(raw(proxy.port(), options).status, 200u);
  EXPECT_EQ(raw(proxy.port(), options).status, 429u);
  EXPECT_EQ(proxy.decisions("all", "rejected"), 1u);
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests()[0].target, "*");
}

// Row 12: `/%2Fadmin` and `/x/..%2Fadmin` dodged an /admin limit under the default `keep`.
TEST(SecondPass, EncodedSlashesAreMatchedDecodedByDefault) {
  TestUpstream upstream;
  ProxyHarness proxy(
      with_upstream(upstream,
                    "routes:\n  - { name: admin, match: { path_prefix: /admin }, key: global, "
                    "max_rate: 1, time_period: 60s }\n"));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/x/..%2Fadmin").status, 200u);
  for (const char* spelling : {"/%2Fadmin", "/admin", "/%2fadmin%2F", "/a/%2E%2E%2Fadmin"}) {
    EXPECT_EQ(client.request("GET", spelling).status, 429u) << spelling;
  }
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests()[0].target, "/x/..%2Fadmin");          // as sent
  EXPECT_EQ(client.request("GET", "/..%2F..%2Fadmin").status, 400u);  // climbs above the root
}

// Row 13: the admin listener answered any Host: a DNS-rebinding page could read /config.
TEST(SecondPass, TheAdminListenerAnswersOnlyAddressesLocalhostAndAdminHosts) {
  TestUpstream upstream;
  ProxyHarness proxy(with_admin(upstream, "admin_hosts: [Sluice.Internal]\n"));
  const auto config_with_host = [&](const std::string& host) {
    return raw(proxy.server().admin_port(), "GET /config HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
  };
  for (const char* host :
       {"evil.example", "evil.example:9901", "localhost.evil.example", "127.0.0.1.nip.io"}) {
    const Response res = config_with_host(host);
    EXPECT_EQ(res.status, 421u) << host;
    EXPECT_EQ(res.body.find("\"listen\""), std::string::npos);
    EXPECT_TRUE(res.header("access-control-allow-origin").empty());
  }
  for (const char* host :
       {"127.0.0.1:9901", "localhost", "LOCALHOST.", "[::1]:9901", "sluice.internal:9901"}) {
    EXPECT_EQ(config_with_host(host).status, 200u) << host;
  }
}

// Row 14: `Content-Length: 5, 5`, `05` and two equal lines were forwarded as sent.
TEST(SecondPass, OneNormalisedContentLengthGoesUpstream) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, ""));
  for (const char* lengths :
       {"Content-Length: 5, 5", "Content-Length: 05", "Content-Length: 5\r\nContent-Length: 5"}) {
    EXPECT_EQ(raw(proxy.port(), std::string("POST /p HTTP/1.1\r\nHost: localhost\r\n") + lengths +
                                    "\r\n\r\nhello")
                  .status,
              200u)
        << lengths;
  }
  EXPECT_EQ(
      raw(proxy.port(), "POST /p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5, 6\r\n\r\nhello")
          .status,
      400u);
  const auto got = upstream.requests();
  ASSERT_EQ(got.size(), 3u);
  for (const ReceivedRequest& r : got) {
    int lines = 0;
    for (const auto& [name, value] : r.headers) {
      if (boost::beast::iequals(name, "Content-Length")) {
        ++lines;
        EXPECT_EQ(value, "5");
      }
    }
    EXPECT_EQ(lines, 1);
    EXPECT_EQ(r.body, "hello");
  }
}

}  // namespace
}  // namespace sluice::testing
