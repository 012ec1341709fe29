// config/egress.yaml as the README runs it: an app calls sluice over plain HTTP on loopback, and
// sluice paces the calls to an HTTPS provider (here a local test server with a test CA, trusted
// through SSL_CERT_FILE as the example's comment says).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "support/environment.hpp"
#include "support/tls_support.hpp"

namespace sluice::testing {
namespace {

TEST(EgressExample, PacesCallsToAnHttpsProviderAtItsQuota) {
  TestCertificates certs;
  TlsUpstream provider(certs.path("server.crt"), certs.path("server.key"));
  const Environment env{{"PROVIDER_URL", provider.url("localhost")},
                        {"EGRESS_LISTEN", "127.0.0.1:0"},
                        {"EGRESS_ADMIN", "127.0.0.1:0"},
                        {"SSL_CERT_FILE", certs.path("ca.crt")}};
  ProxyHarness proxy(ProxyHarness::File{std::string(SLUICE_SOURCE_DIR) + "/config/egress.yaml"});
  Client app(proxy.port());
  // The quota's burst: 60 calls at once, each answered by the provider under its own name.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 60; ++i) {
    const Response r = app.request("GET", "/v1/things", {{"Host", "127.0.0.1:8080"}});
    ASSERT_EQ(r.status, 200u);
    ASSERT_EQ(r.body, "tls:localhost:" + std::to_string(provider.port()));
  }
  const double burst_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The 61st waits for the bucket to drain one call's worth: 1 s at 60 a minute.
  const auto before = std::chrono::steady_clock::now();
  const Response late = app.request("GET", "/v1/things");
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
  EXPECT_EQ(late.status, 200u);
  EXPECT_EQ(late.header("ratelimit-policy"), "\"provider\";q=60;w=60");
  EXPECT_GE(waited + burst_s, 0.9);
  EXPECT_LT(waited, 3.0);
  EXPECT_EQ(provider.requests(), 61);
  EXPECT_EQ(provider.handshakes(), 1);  // one pooled HTTPS connection carried every call
  EXPECT_EQ(proxy.decisions("provider", "delayed"), 1u);
}

}  // namespace
}  // namespace sluice::testing
