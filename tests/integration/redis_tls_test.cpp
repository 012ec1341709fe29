// TLS to Redis (README, "Shared limits across instances"): a real redis-server speaking only
// TLS, its certificate verified like an https:// upstream's, client certificates for a Redis
// that asks for them, and what a certificate that does not verify costs (on_error decides).
#include <gtest/gtest.h>

#include "support/proxy_harness.hpp"
#include "support/redis_server.hpp"
#include "support/tls_support.hpp"

namespace sluice::testing {
namespace {

constexpr const char* kRoute =
    "routes:\n"
    "  - { name: g, match: { path_prefix: /g }, respond: { body: ok }, key: global,\n"
    "      max_rate: 2, time_period: 1h, shared: true }\n";
constexpr const char* kBucket = "sluice:route:g#0:global:2/3600s:global";

RedisTlsFiles server_files(const TestCertificates& certs, bool require_client_certs = false) {
  return {certs.path("server.crt"), certs.path("server.key"), certs.path("ca.crt"),
          require_client_certs,     certs.path("client.crt"), certs.path("client.key")};
}

std::string config(const RedisServer& redis, const std::string& tls) {
  return "version: 1\nadmin: 127.0.0.1:0\nredis: { address: \"rediss://127.0.0.1:" +
         std::to_string(redis.port()) + "\", on_error: local, tls: { " + tls + " } }\n" + kRoute;
}

std::uint64_t fallbacks(ProxyHarness& proxy) {
  return proxy.server().metrics().counter(observe::Family::redis_fallbacks_total, {{"route", "g"}});
}

TEST(RedisTls, SharedDecisionsGoToARedisThatSpeaksOnlyTls) {
  TestCertificates certs;
  RedisServer redis(server_files(certs));
  ProxyHarness proxy(config(redis, "ca: " + certs.path("ca.crt")));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\""));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_EQ(client.request("GET", "/g").status, 429u);
  EXPECT_EQ(redis.cli({"EXISTS", kBucket}), "1");  // the bucket lives in Redis
  EXPECT_EQ(fallbacks(proxy), 0u);
}

TEST(RedisTls, ACertificateFromAnotherCaIsRefusedAndOnErrorDecides) {
  TestCertificates certs;
  RedisServer redis(server_files(certs));
  ProxyHarness proxy(config(redis, "ca: " + certs.path("other-ca.crt")));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_down\""));
  EXPECT_TRUE(proxy.wait_for_log("certificate not trusted"));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/g").status, 200u);  // on_error: local
  EXPECT_GE(fallbacks(proxy), 1u);
  EXPECT_EQ(redis.cli({"EXISTS", kBucket}), "0");
}

TEST(RedisTls, ACertificateForAnotherNameIsRefused) {
  TestCertificates certs;
  RedisTlsFiles files = server_files(certs);
  files.cert = certs.path("wrong-name.crt");  // example.invalid, not 127.0.0.1
  RedisServer redis(files);
  ProxyHarness proxy(config(redis, "ca: " + certs.path("ca.crt")));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_down\""));
  EXPECT_TRUE(proxy.wait_for_log("certificate not trusted"));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/g").status, 200u);  // on_error: local
  EXPECT_GE(fallbacks(proxy), 1u);
}

TEST(RedisTls, InsecureSkipsVerificationAndIsWarnedAbout) {
  TestCertificates certs;
  RedisServer redis(server_files(certs));
  ProxyHarness proxy(config(redis, "insecure: true"));
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"redis_up\""));
  EXPECT_TRUE(proxy.wait_for_log("\"event\":\"redis_tls_insecure\""));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_EQ(redis.cli({"EXISTS", kBucket}), "1");
}

TEST(RedisTls, AClientCertificateIsPresentedWhenRedisAsksForOne) {
  TestCertificates certs;
  RedisServer redis(server_files(certs, true));
  ProxyHarness without(config(redis, "ca: " + certs.path("ca.crt")));
  ASSERT_TRUE(without.wait_for_log("\"event\":\"redis_down\""));
  EXPECT_EQ(without.log_text().find("certificate not trusted"), std::string::npos);
  ProxyHarness with(config(redis, "ca: " + certs.path("ca.crt") +
                                      ", cert: " + certs.path("client.crt") +
                                      ", key: " + certs.path("client.key")));
  ASSERT_TRUE(with.wait_for_log("\"event\":\"redis_up\""));
  Client client(with.port());
  EXPECT_EQ(client.request("GET", "/g").status, 200u);
  EXPECT_EQ(redis.cli({"EXISTS", kBucket}), "1");
  EXPECT_EQ(fallbacks(with), 0u);
}

}  // namespace
}  // namespace sluice::testing
