// The http2 block, upstream_protocol and grpc_status: one test per rule, inline YAML.
#include <gtest/gtest.h>

#include "support/config_checks.hpp"

namespace sluice::testing {
namespace {

using config::UpstreamProtocol;

TEST(ConfigHttp2, OnByDefaultWithNginxLikeBounds) {
  const auto c = ok("");
  EXPECT_TRUE(c->http2.enabled);
  EXPECT_EQ(c->http2.max_concurrent_streams, 100u);
  EXPECT_EQ(c->http2.max_resets_per_second, 100u);
}

TEST(ConfigHttp2, SettingsAreRead) {
  const auto c =
      ok("http2: { enabled: false, max_concurrent_streams: 16, max_resets_per_second: 5 }\n");
  EXPECT_FALSE(c->http2.enabled);
  EXPECT_EQ(c->http2.max_concurrent_streams, 16u);
  EXPECT_EQ(c->http2.max_resets_per_second, 5u);
}

TEST(ConfigHttp2, ZeroStreamsIsAnError) {
  EXPECT_NE(error_of("http2: { max_concurrent_streams: 0 }\n").find("http2.max_concurrent_streams"),
            std::string::npos);
}

TEST(ConfigHttp2, UnknownKeysAreErrors) {
  EXPECT_NE(error_of("http2: { max_streams: 5 }\n").find("http2.max_streams"), std::string::npos);
}

TEST(ConfigUpstreamProtocol, AutoByDefaultAndInheritedByRoutes) {
  const auto c =
      ok("upstream_protocol: http2\nroutes:\n"
         "  - { name: a, match: { path_prefix: /a } }\n"
         "  - { name: b, match: { path_prefix: /b }, upstream_protocol: http1 }\n");
  EXPECT_EQ(c->upstream_protocol, UpstreamProtocol::http2);
  EXPECT_EQ(c->routes[0].upstream_protocol, UpstreamProtocol::http2);
  EXPECT_EQ(c->routes[1].upstream_protocol, UpstreamProtocol::http1);
  EXPECT_EQ(ok("")->upstream_protocol, UpstreamProtocol::automatic);
}

TEST(ConfigUpstreamProtocol, UnknownValuesAreErrors) {
  EXPECT_NE(
      error_of("upstream_protocol: h2\n").find("upstream_protocol: must be auto, http1 or http2"),
      std::string::npos);
}

TEST(ConfigUpstreamProtocol, Http2ToAnHttpsUpstreamGoesByAlpn) {
  const auto c =
      ok("routes:\n  - { name: a, upstream: https://example.com, "
         "upstream_protocol: http2 }\n");
  EXPECT_EQ(c->routes[0].upstream_protocol, UpstreamProtocol::http2);
  EXPECT_TRUE(c->routes[0].upstream->tls.has_value());
}

TEST(ConfigGrpcStatus, ResourceExhaustedByDefault) {
  const auto c =
      ok("routes:\n  - { name: a, max_rate: 1, time_period: 1s }\n"
         "  - { name: b, max_rate: 1, time_period: 1s, grpc_status: 14 }\n");
  EXPECT_EQ(c->routes[0].grpc_status, 8u);
  EXPECT_EQ(c->routes[1].grpc_status, 14u);
}

TEST(ConfigGrpcStatus, OkAndUnknownCodesAreErrors) {
  EXPECT_NE(error_of("routes:\n  - { name: a, max_rate: 1, time_period: 1s, grpc_status: 0 }\n")
                .find("grpc_status"),
            std::string::npos);
  EXPECT_NE(error_of("routes:\n  - { name: a, max_rate: 1, time_period: 1s, grpc_status: 17 }\n")
                .find("grpc_status"),
            std::string::npos);
}

}  // namespace
}  // namespace sluice::testing
