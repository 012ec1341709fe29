// The TLS schema of README, "TLS", one test per validation rule, with inline YAML. The files are
// only named here: they are read when the TLS contexts are built (tls_contexts tests).
#include <gtest/gtest.h>

#include "sluice/config/load.hpp"
#include "support/config_checks.hpp"

namespace sluice::config {
namespace {

// Without an upstream: the tests below set their own.
constexpr const char* kHead = "version: 1\nlisten: 127.0.0.1:8080\n";

std::string error_of(const std::string& body) {
  return testing::error_of(body, kHead);
}

std::shared_ptr<const Config> ok(const std::string& body) {
  return testing::ok(body, kHead);
}

TEST(ConfigTls, ListenerNeedsCertAndKey) {
  EXPECT_NE(error_of("upstream: http://127.0.0.1:9\ntls: { cert: /c.pem }\n").find("tls.key"),
            std::string::npos);
  EXPECT_NE(error_of("upstream: http://127.0.0.1:9\ntls: { key: /k.pem }\n").find("tls.cert"),
            std::string::npos);
  const auto c = ok("upstream: http://127.0.0.1:9\ntls: { cert: /c.pem, key: /k.pem }\n");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->tls.has_value());
  EXPECT_EQ(c->tls->cert, "/c.pem");
  EXPECT_EQ(c->tls->key, "/k.pem");
  EXPECT_EQ(c->tls->client_ca, "");
  EXPECT_FALSE(ok("upstream: http://127.0.0.1:9\n")->tls.has_value());
}

TEST(ConfigTls, ListenerKeysAreChecked) {
  EXPECT_NE(error_of("upstream: http://127.0.0.1:9\ntls: { cert: /c, key: /k, ciphers: x }\n")
                .find("tls.ciphers"),
            std::string::npos);
  EXPECT_NE(error_of("upstream: http://127.0.0.1:9\ntls: { cert: \"\", key: /k }\n")
                .find("must be a file path"),
            std::string::npos);
}

TEST(ConfigTls, HttpsUpstreamVerifiesWithTheSystemStoreByDefault) {
  const auto c = ok("upstream: https://api.example.com\n");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->upstream->tls.has_value());
  EXPECT_EQ(c->upstream->port, 443);
  EXPECT_EQ(c->upstream->tls->ca, "");
  EXPECT_FALSE(c->upstream->tls->insecure);
  EXPECT_EQ(c->upstream->authority(), "api.example.com");
  EXPECT_FALSE(ok("upstream: http://127.0.0.1:9\n")->upstream->tls.has_value());
}

TEST(ConfigTls, AuthorityLeavesOutTheSchemesDefaultPort) {
  EXPECT_EQ(ok("upstream: https://a.example:8443\n")->upstream->authority(), "a.example:8443");
  EXPECT_EQ(ok("upstream: http://a.example:80\n")->upstream->authority(), "a.example");
  EXPECT_EQ(ok("upstream: \"https://[::1]:443\"\n")->upstream->authority(), "[::1]");
}

TEST(ConfigTls, TopLevelUpstreamTlsAppliesToEveryHttpsUpstream) {
  const auto c = ok(R"(upstream: https://a.example
upstream_tls: { ca: /ca.pem }
routes:
  - { name: own, match: { path_prefix: /own }, upstream: "https://b.example" }
  - { name: inherited, match: { path_prefix: /i } }
)");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->upstream->tls->ca, "/ca.pem");
  EXPECT_EQ(c->routes[0].upstream->tls->ca, "/ca.pem");
  EXPECT_EQ(c->routes[1].upstream->tls->ca, "/ca.pem");
}

TEST(ConfigTls, RouteUpstreamTlsOverridesTheTopLevelOne) {
  const auto c = ok(R"(upstream: https://a.example
upstream_tls: { ca: /ca.pem }
routes:
  - name: provider
    upstream: https://api.provider.example
    upstream_tls: { ca: /provider.pem }
)");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->routes[0].upstream->tls->ca, "/provider.pem");
  EXPECT_EQ(c->upstream->tls->ca, "/ca.pem");
}

TEST(ConfigTls, RouteUpstreamTlsOnAPlainUpstreamIsAnError) {
  EXPECT_NE(error_of(R"(upstream: http://127.0.0.1:9
routes:
  - { name: a, upstream_tls: { ca: /ca.pem } }
)")
                .find("applies to https:// upstreams only"),
            std::string::npos);
}

TEST(ConfigTls, InsecureAndCaContradict) {
  EXPECT_NE(error_of("upstream: https://a.example\nupstream_tls: { ca: /ca.pem, insecure: true }\n")
                .find("contradict"),
            std::string::npos);
  const auto c = ok("upstream: https://a.example\nupstream_tls: { insecure: true }\n");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->upstream->tls->insecure);
}

TEST(ConfigTls, HostHeaderDefaultsToTheUpstreamForHttpsOnly) {
  const auto c = ok(R"(upstream: http://127.0.0.1:9
routes:
  - { name: plain, match: { path_prefix: /p } }
  - { name: secure, match: { path_prefix: /s }, upstream: "https://a.example" }
  - { name: kept, match: { path_prefix: /k }, upstream: "https://a.example", host_header: preserve }
  - { name: set, match: { path_prefix: /u }, host_header: upstream }
)");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->routes[0].host_header, HostHeader::preserve);
  EXPECT_EQ(c->routes[1].host_header, HostHeader::upstream);
  EXPECT_EQ(c->routes[2].host_header, HostHeader::preserve);
  EXPECT_EQ(c->routes[3].host_header, HostHeader::upstream);
  EXPECT_NE(
      error_of("upstream: http://127.0.0.1:9\nroutes:\n  - { name: a, host_header: client }\n")
          .find("must be upstream or preserve"),
      std::string::npos);
}

TEST(ConfigTls, ClientCertKeyNeedsClientCa) {
  EXPECT_NE(error_of(R"(upstream: http://127.0.0.1:9
tls: { cert: /c, key: /k }
routes:
  - { name: a, key: client_cert, max_rate: 1, time_period: 1s }
)")
                .find("client_cert needs tls.client_ca"),
            std::string::npos);
  const auto c = ok(R"(upstream: http://127.0.0.1:9
tls: { cert: /c, key: /k, client_ca: /ca }
routes:
  - { name: a, key: client_cert, max_rate: 1, time_period: 1s }
)");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->routes[0].policy.limits[0].key.to_string(), "client_cert");
}

}  // namespace
}  // namespace sluice::config
