// The YAML schema, one test per validation rule, with inline YAML.
#include <gtest/gtest.h>

#include "sluice/config/load.hpp"
#include "sluice/config/router.hpp"
#include "support/config_checks.hpp"

namespace sluice::config {
namespace {

using testing::error_of;
using testing::load_body;
using testing::ok;

LoadResult load(const std::string& body) {
  return testing::load_body(body);
}

TEST(ConfigLoad, DesignExampleLoadsWithEveryFeature) {
  const auto c = ok(R"(admin: 127.0.0.1:9901
workers: 2
trusted_proxies: [127.0.0.1/32, "::1"]
timeouts: { client_header: 10s, client_idle: 60s, upstream_connect: 2s, upstream_response: 60s, shutdown_grace: 10s }
http: { max_header_bytes: 16384, max_body_bytes: 10485760, max_connections: 10000, merge_slashes: true, escaped_slashes: keep }
max_keys: 1000000
ipv6_prefix: 64
log: { level: info, format: json, file: "-", access: false, show_keys: false, throttled_lines_per_key: 1 }
buckets:
  api-quota: { key: header:X-Api-Key, max_rate: 100, time_period: 1m }
routes:
  - name: search
    match: { path_prefix: /api/search, methods: [GET, HEAD], host: api.example.com }
    key: client_ip
    max_rate: 5
    time_period: 10s
    weight: 1
    action: delay
    max_delay: 30s
    status: 429
    dry_run: false
    upstream: http://127.0.0.1:9001
  - name: login
    match: { path: /login, methods: [POST] }
    action: reject
    limits:
      - { key: client_ip, max_rate: 5, time_period: 1m }
      - { key: global, max_rate: 100, time_period: 1s, weight: 1 }
  - name: search-cost
    match: { path_prefix: /api/v2/search }
    bucket: api-quota
    weight: 5
  - name: demo
    match: { path_prefix: /demo }
    respond: { status: 200, body: "hello from sluice\n" }
    max_rate: 5
    time_period: 10s
)");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->workers, 2u);
  EXPECT_EQ(c->log.format, LogFormat::json);
  ASSERT_EQ(c->routes.size(), 4u);
  const Route& search = c->routes[0];
  EXPECT_EQ(search.policy.action, limit::Action::delay);
  EXPECT_EQ(search.policy.max_delay, 30 * kNanosPerSecond);
  EXPECT_EQ(search.upstream->port, 9001);
  EXPECT_EQ(search.policy.limits[0].rate.period, 10 * kNanosPerSecond);
  const Route& login = c->routes[1];
  ASSERT_EQ(login.policy.limits.size(), 2u);
  EXPECT_EQ(login.policy.limits[0].policy_name, "login-1");
  EXPECT_EQ(login.policy.limits[1].policy_name, "login-2");
  EXPECT_EQ(login.policy.limits[1].key.to_string(), "global");
  EXPECT_EQ(c->routes[2].policy.limits[0].owner, "bucket:api-quota");
  EXPECT_EQ(c->routes[2].policy.limits[0].weight, 5);
  EXPECT_TRUE(c->routes[3].respond.has_value());
  EXPECT_FALSE(c->routes[3].upstream.has_value());
}

TEST(ConfigLoad, DurationsTakeSecondsOrUnits) {
  const auto c =
      ok("timeouts: { client_header: 0.5, client_idle: 250ms, upstream_connect: 2s, "
         "upstream_response: 1m, shutdown_grace: 1h }\n");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->timeouts.client_header, 500 * kNanosPerMilli);
  EXPECT_EQ(c->timeouts.client_idle, 250 * kNanosPerMilli);
  EXPECT_EQ(c->timeouts.upstream_connect, 2 * kNanosPerSecond);
  EXPECT_EQ(c->timeouts.upstream_response, 60 * kNanosPerSecond);
  EXPECT_EQ(c->timeouts.shutdown_grace, 3600 * kNanosPerSecond);
}

TEST(ConfigLoad, ErrorsNameFileLineColumnAndField) {
  EXPECT_EQ(error_of("routes:\n  - name: a\n    max_rate: 0\n    time_period: 1s\n"),
            "sluice.yaml:6:15: routes[0].max_rate: must be > 0");
}

TEST(ConfigLoad, UnknownKeyIsAnErrorThatSuggestsTheNearestKey) {
  EXPECT_EQ(error_of("routes:\n  - name: a\n    max_rte: 5\n"),
            "sluice.yaml:6:5: routes[0].max_rte: unknown key; did you mean max_rate?");
  EXPECT_EQ(error_of("timeout: { client_header: 1s }\n"),
            "sluice.yaml:4:1: timeout: unknown key; did you mean timeouts?");
  EXPECT_EQ(error_of("routes:\n  - { name: a, respond: { body: x }, max_dealy: 1s }\n"),
            "sluice.yaml:5:38: routes[0].max_dealy: unknown key; did you mean max_delay?");
  EXPECT_EQ(error_of("colour: blue\n"), "sluice.yaml:4:1: colour: unknown key");
}

// One mistake, one error: a misspelled key is not also reported as a missing one.
TEST(ConfigLoad, AMisspelledRequiredKeyIsOneError) {
  const auto r = load_body("routes:\n  - { nme: a, respond: { body: x } }\n");
  ASSERT_EQ(r.errors.size(), 1u) << r.errors.at(1);
  EXPECT_EQ(r.errors[0], "sluice.yaml:5:7: routes[0].nme: unknown key; did you mean name?");
}

TEST(ConfigLoad, AnUnsetVariableIsOneError) {
  const auto r = load_string("version: 1\nlisten: 127.0.0.1:1\nupstream: ${SLUICE_TEST_UNSET}\n",
                             "sluice.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << r.errors.at(1);
  EXPECT_NE(r.errors[0].find("environment variable SLUICE_TEST_UNSET is not set"),
            std::string::npos);
}

// An error in one route does not hide another route's.
TEST(ConfigLoad, EveryRoutesErrorsAreReported) {
  const auto r = load_body(
      "routes:\n  - { name: a, respond: { body: x }, max_rate: 0, time_period: 1s }\n"
      "  - { name: a, respond: { body: x } }\n");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_NE(r.errors[0].find("routes[0].max_rate: must be > 0"), std::string::npos);
  EXPECT_EQ(r.errors[1], "sluice.yaml:6:13: routes[1].name: duplicate route name \"a\"");
}

TEST(ConfigLoad, ANegativeDurationMustBePositive) {
  EXPECT_EQ(
      error_of("routes:\n  - { name: a, respond: { body: x }, max_rate: 1, time_period: -1s }\n"),
      "sluice.yaml:5:64: routes[0].time_period: must be > 0");
}

TEST(ConfigLoad, AnUnquotedDashForStderrGetsAHint) {
  EXPECT_EQ(error_of("log:\n  file: -\n"),
            "sluice.yaml:5:9: invalid YAML: illegal block entry (a bare - starts a list: quote it, "
            "\"-\")");
}

TEST(ConfigLoad, VersionMustBeOne) {
  const auto r = load_string("version: 2\nlisten: 127.0.0.1:1\n", "v.yaml");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0], "v.yaml:1:10: version: must be 1");
}

TEST(ConfigLoad, ListenIsRequiredAndMustBeIpPort) {
  EXPECT_NE(load_string("version: 1\n", "f.yaml").errors.at(0).find("listen: is required"),
            std::string::npos);
  EXPECT_NE(
      load_string("version: 1\nlisten: nowhere\n", "f.yaml").errors.at(0).find("must be ip:port"),
      std::string::npos);
  EXPECT_NE(load_string("version: 1\nlisten: \"[::1]:8080\"\n", "f.yaml").config, nullptr);
}

TEST(ConfigLoad, UpstreamMustBeHttpOrHttps) {
  EXPECT_NE(error_of("routes:\n  - name: a\n    upstream: ftp://x:1\n")
                .find("must start with http:// or https://"),
            std::string::npos);
  EXPECT_NE(error_of("routes:\n  - name: a\n    upstream: http://x:1/base\n")
                .find("must not have a path"),
            std::string::npos);
}

TEST(ConfigLoad, MaxRateMustBePositiveAndMayBeFractional) {
  EXPECT_NE(error_of("routes:\n  - { name: a, max_rate: -1, time_period: 1s }\n")
                .find("max_rate: must be > 0"),
            std::string::npos);
  EXPECT_NE(ok("routes:\n  - { name: a, max_rate: 0.5, time_period: 1s, weight: 0.5 }\n"), nullptr);
}

TEST(ConfigLoad, TimePeriodMustBePositiveDuration) {
  EXPECT_NE(error_of("routes:\n  - { name: a, max_rate: 1, time_period: 0s }\n")
                .find("time_period: must be > 0"),
            std::string::npos);
  EXPECT_NE(error_of("routes:\n  - { name: a, max_rate: 1, time_period: 10 parsecs }\n")
                .find("must be a duration"),
            std::string::npos);
}

TEST(ConfigLoad, RateNeedsBothMaxRateAndTimePeriod) {
  EXPECT_NE(error_of("routes:\n  - { name: a, max_rate: 1 }\n").find("time_period: is required"),
            std::string::npos);
}

TEST(ConfigLoad, WeightAboveMaxRateCouldNeverBeAdmitted) {
  EXPECT_NE(error_of("routes:\n  - { name: a, max_rate: 2, time_period: 1s, weight: 3 }\n")
                .find("weight 3 exceeds max_rate 2"),
            std::string::npos);
  EXPECT_NE(error_of("buckets:\n  q: { max_rate: 2, time_period: 1s }\n"
                     "routes:\n  - { name: a, bucket: q, weight: 5 }\n")
                .find("exceeds max_rate 2"),
            std::string::npos);
}

TEST(ConfigLoad, WeightMustBePositive) {
  EXPECT_NE(error_of("routes:\n  - { name: a, max_rate: 2, time_period: 1s, weight: 0 }\n")
                .find("weight: must be > 0"),
            std::string::npos);
}

TEST(ConfigLoad, RouteNamesAreRequiredAndUnique) {
  EXPECT_NE(error_of("routes:\n  - { match: { path: /a } }\n").find("routes[0].name: is required"),
            std::string::npos);
  EXPECT_NE(error_of("routes:\n  - { name: a }\n  - { name: a }\n").find("duplicate route name"),
            std::string::npos);
  EXPECT_NE(error_of("routes:\n  - { name: \"a b\" }\n").find("without spaces"), std::string::npos);
}

TEST(ConfigLoad, OnePathMatcherAtMost) {
  EXPECT_NE(error_of("routes:\n  - { name: a, match: { path: /a, path_prefix: /b } }\n")
                .find("use one of path, path_prefix, path_regex"),
            std::string::npos);
}

TEST(ConfigLoad, PathRegexMustCompile) {
  EXPECT_NE(error_of("routes:\n  - { name: a, match: { path_regex: \"/(unclosed\" } }\n")
                .find("invalid regex"),
            std::string::npos);
}

TEST(ConfigLoad, KeyKindsAreChecked) {
  EXPECT_NE(error_of("routes:\n  - { name: a, key: cookie:x, max_rate: 1, time_period: 1s }\n")
                .find("must be client_ip, global, client_cert, header:<Name> or query:<param>"),
            std::string::npos);
  const auto c =
      ok("routes:\n  - { name: a, key: [client_ip, \"header:X-Api-Key\", \"query:k\"], "
         "max_rate: 1, time_period: 1s }\n");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->routes[0].policy.limits[0].key.to_string(), "client_ip|header:X-Api-Key|query:k");
}

TEST(ConfigLoad, ActionIsRejectOrDelay) {
  EXPECT_NE(error_of("routes:\n  - { name: a, action: queue }\n").find("must be reject or delay"),
            std::string::npos);
}

TEST(ConfigLoad, MaxDelayOnlyForDelayAndDefaultsToTimePeriod) {
  EXPECT_NE(error_of("routes:\n  - { name: a, max_rate: 1, time_period: 1s, max_delay: 5s }\n")
                .find("only applies to action: delay"),
            std::string::npos);
  const auto c = ok("routes:\n  - { name: a, max_rate: 1, time_period: 7s, action: delay }\n");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->routes[0].policy.max_delay, 7 * kNanosPerSecond);
}

TEST(ConfigLoad, StatusIsAnErrorStatus) {
  EXPECT_NE(error_of("routes:\n  - { name: a, max_rate: 1, time_period: 1s, status: 200 }\n")
                .find("must be between 400 and 599"),
            std::string::npos);
}

TEST(ConfigLoad, NamedBucketMustExistAndOwnsItsKeyAndRate) {
  EXPECT_NE(error_of("routes:\n  - { name: a, bucket: nope }\n").find("no bucket named \"nope\""),
            std::string::npos);
  EXPECT_NE(error_of("buckets:\n  q: { max_rate: 2, time_period: 1s }\n"
                     "routes:\n  - { name: a, bucket: q, max_rate: 1, time_period: 1s }\n")
                .find("drop them from the route"),
            std::string::npos);
}

TEST(ConfigLoad, LimitsListInheritsTheRoutesFields) {
  const auto c =
      ok("routes:\n  - name: a\n    key: header:X-K\n    max_rate: 4\n    time_period: 2s\n"
         "    limits:\n      - { key: global }\n      - { max_rate: 1 }\n");
  ASSERT_NE(c, nullptr);
  const auto& limits = c->routes[0].policy.limits;
  ASSERT_EQ(limits.size(), 2u);
  EXPECT_EQ(limits[0].key.to_string(), "global");
  EXPECT_EQ(limits[0].rate.max_rate, 4);
  EXPECT_EQ(limits[1].key.to_string(), "header:X-K");
  EXPECT_EQ(limits[1].rate.max_rate, 1);
  EXPECT_EQ(limits[1].rate.period, 2 * kNanosPerSecond);
}

TEST(ConfigLoad, AtMostEightLimitsPerRoute) {
  std::string yaml = "routes:\n  - name: a\n    limits:\n";
  for (int i = 0; i < 9; ++i) yaml += "      - { max_rate: 1, time_period: 1s }\n";
  EXPECT_NE(error_of(yaml).find("at most 8 limits"), std::string::npos);
}

TEST(ConfigLoad, ForwardingRouteNeedsAnUpstream) {
  const auto r =
      load_string("version: 1\nlisten: 127.0.0.1:1\nroutes:\n  - { name: a }\n", "u.yaml");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(r.errors[0].find("no upstream is set"), std::string::npos);
  EXPECT_EQ(load_string(
                "version: 1\nlisten: 127.0.0.1:1\nroutes:\n  - { name: a, respond: { body: x } }\n",
                "u.yaml")
                .errors.size(),
            0u);
}

TEST(ConfigLoad, RespondRouteCannotAlsoForward) {
  EXPECT_NE(error_of("routes:\n  - { name: a, upstream: \"http://x:1\", respond: { body: x } }\n")
                .find("either responds or has an upstream"),
            std::string::npos);
}

TEST(ConfigLoad, TrustedProxiesAreCidrs) {
  EXPECT_NE(error_of("trusted_proxies: [10.0.0.0/33]\n").find("must be an address or CIDR"),
            std::string::npos);
}

TEST(ConfigLoad, LogSettingsAreChecked) {
  EXPECT_NE(error_of("log: { level: loud }\n").find("log.level"), std::string::npos);
  EXPECT_NE(error_of("log: { format: xml }\n").find("must be text or json"), std::string::npos);
}

TEST(ConfigLoad, SizesAndCountsAreChecked) {
  EXPECT_NE(error_of("http: { max_header_bytes: 10 }\n").find("must be >= 512"), std::string::npos);
  EXPECT_NE(error_of("max_keys: 0\n").find("max_keys: must be >= 1"), std::string::npos);
  EXPECT_NE(error_of("workers: -1\n").find("between 0 and 256"), std::string::npos);
}

TEST(ConfigLoad, InvalidYamlIsReportedWithItsPosition) {
  const auto r = load_string("version: 1\nlisten: [unclosed\n", "bad.yaml");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].rfind("bad.yaml:", 0), 0u);
  EXPECT_NE(r.errors[0].find("invalid YAML"), std::string::npos);
}

TEST(ConfigLoad, EveryErrorIsListedNotJustTheFirst) {
  const LoadResult r =
      load("routes:\n  - { name: a, max_rate: 0, time_period: 1s }\n  - { name: b, action: x }\n");
  EXPECT_EQ(r.errors.size(), 2u);
}

TEST(Router, FirstMatchWinsOnPathMethodAndHost) {
  const auto c = ok(R"(routes:
  - { name: exact, match: { path: /login, methods: [POST] } }
  - { name: regex, match: { path_regex: "/items/[0-9]+" } }
  - { name: hosted, match: { path_prefix: /api, host: api.example.com } }
  - { name: prefix, match: { path_prefix: /api } }
)");
  ASSERT_NE(c, nullptr);
  auto name = [&](std::string_view method, std::string_view path, std::string_view host) {
    const Route* r = match_route(*c, method, path, host);
    return r ? r->name : std::string("-");
  };
  EXPECT_EQ(name("POST", "/login", "x"), "exact");
  EXPECT_EQ(name("GET", "/login", "x"), "-");
  EXPECT_EQ(name("GET", "/items/42", "x"), "regex");
  EXPECT_EQ(name("GET", "/items/42/more", "x"), "-");
  EXPECT_EQ(name("GET", "/api/x", uri::canonical_host("API.example.com.:8080")), "hosted");
  EXPECT_EQ(name("GET", "/api/x", "other"), "prefix");
}

TEST(ConfigMethods, LowerCaseMethodIsAnErrorThatSuggestsTheFix) {
  EXPECT_EQ(error_of("routes:\n  - { name: a, match: { methods: [GET, post] } }\n"),
            "sluice.yaml:5:40: routes[0].match.methods[1]: \"post\" is not a method; methods are "
            "upper-case: POST");
}

TEST(ConfigMethods, UnknownMethodIsAnError) {
  EXPECT_NE(error_of("routes:\n  - { name: a, match: { methods: [GTE] } }\n")
                .find("routes[0].match.methods[0]: \"GTE\" is not an HTTP method"),
            std::string::npos);
}

TEST(ConfigMethods, RegisteredMethodsLoad) {
  const auto c =
      ok("routes:\n  - { name: a, match: { methods: [GET, PATCH, PROPFIND, QUERY] } }\n");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->routes[0].match.methods.size(), 4u);
}

TEST(ConfigDuplicates, RepeatedTopLevelKeyIsAnErrorNamingBothPositions) {
  EXPECT_EQ(error_of("routes: []\nroutes:\n  - { name: a }\n"),
            "sluice.yaml:5:1: routes: duplicate key; first at line 4, column 1");
}

TEST(ConfigDuplicates, RepeatedKeyInARouteIsAnError) {
  EXPECT_EQ(
      error_of("routes:\n  - name: a\n    action: delay\n    max_delay: 3s\n    max_delay: 1s\n"
               "    max_rate: 1\n    time_period: 1s\n"),
      "sluice.yaml:8:5: routes[0].max_delay: duplicate key; first at line 7, column 5");
}

TEST(ConfigDuplicates, RepeatedKeyInAFlowMappingDeepDownIsAnError) {
  EXPECT_EQ(error_of("routes:\n  - { name: a, limits: [ { max_rate: 1, time_period: 1s, "
                     "max_rate: 2 } ] }\n"),
            "sluice.yaml:5:58: routes[0].limits[0].max_rate: duplicate key; first at line 5, "
            "column 28");
}

TEST(ConfigDuplicates, AliasesAreNotDuplicates) {
  EXPECT_NE(ok("buckets:\n  a: &rate { max_rate: 1, time_period: 1s }\n  b: *rate\n"), nullptr);
}

TEST(ConfigLogFile, MissingDirectoryIsAnError) {
  EXPECT_EQ(error_of("log: { file: /nonexistent-sluice-dir/sluice.log }\n"),
            "sluice.yaml:4:14: log.file: directory /nonexistent-sluice-dir does not exist");
}

TEST(ConfigLogFile, WritableDirectoryLoads) {
  EXPECT_NE(ok("log: { file: " + ::testing::TempDir() + "sluice-config-test.log }\n"), nullptr);
}

TEST(ConfigUpstream, UpstreamWithoutSchemeIsOneErrorNotACascade) {
  const LoadResult r = load_string(
      "version: 1\nlisten: 127.0.0.1:8080\nupstream: 127.0.0.1:9100\nroutes:\n"
      "  - { name: a }\n  - { name: b }\n",
      "sluice.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("upstream: must start with http://"), std::string::npos);
}

TEST(ConfigPaths, EscapedSlashesAreMatchedDecodedByDefault) {
  EXPECT_EQ(ok("")->http.paths.escaped_slashes, uri::EscapedSlashes::match_decoded);
  EXPECT_EQ(ok("http: { escaped_slashes: keep }\n")->http.paths.escaped_slashes,
            uri::EscapedSlashes::keep);
}

TEST(ConfigUpgrades, WebSocketByDefaultAndNamesLowerCased) {
  EXPECT_EQ(ok("")->upgrades, std::vector<std::string>{"websocket"});
  EXPECT_EQ(ok("upgrades: [WebSocket, Foo]\n")->upgrades,
            (std::vector<std::string>{"websocket", "foo"}));
  EXPECT_TRUE(ok("upgrades: []\n")->upgrades.empty());
}

TEST(ConfigUpgrades, H2cIsNeverForwarded) {
  EXPECT_NE(error_of("upgrades: [websocket, H2C]\n")
                .find("sluice.yaml:4:23: upgrades[1]: HTTP/2 upgrades (h2c) are never forwarded"),
            std::string::npos);
}

TEST(ConfigUpgrades, MustBeAList) {
  EXPECT_NE(error_of("upgrades: websocket\n").find("upgrades: must be a list of protocols"),
            std::string::npos);
}

TEST(ConfigAdminHosts, NamesAreLowerCased) {
  EXPECT_EQ(ok("admin_hosts: [Sluice.Internal]\n")->admin_hosts,
            std::vector<std::string>{"sluice.internal"});
  EXPECT_NE(error_of("admin_hosts: [\"\"]\n").find("admin_hosts[0]: must not be empty"),
            std::string::npos);
}

TEST(ConfigHttp, MaxConnectionsPerClientIsOffByDefault) {
  EXPECT_EQ(ok("")->http.max_connections_per_client, 0u);
  EXPECT_EQ(ok("http: { max_connections_per_client: 64 }\n")->http.max_connections_per_client, 64u);
  EXPECT_NE(error_of("http: { max_connections_per_client: -1 }\n")
                .find("http.max_connections_per_client"),
            std::string::npos);
}

TEST(ConfigLog, ThrottledLinesPerSecondIsAtLeastOne) {
  EXPECT_EQ(ok("")->log.throttled_lines_per_second, 200u);
  EXPECT_EQ(ok("log: { throttled_lines_per_second: 10 }\n")->log.throttled_lines_per_second, 10u);
  EXPECT_NE(
      error_of("log: { throttled_lines_per_second: 0 }\n").find("log.throttled_lines_per_second"),
      std::string::npos);
}

TEST(ConfigPaths, EscapedSlashesMustBeAMode) {
  EXPECT_NE(error_of("http: { escaped_slashes: drop }\n")
                .find("http.escaped_slashes: must be match_decoded, keep, reject or decode"),
            std::string::npos);
}

TEST(ConfigPaths, MatchPathsMustBeCanonical) {
  EXPECT_NE(error_of("routes:\n  - { name: a, match: { path_prefix: /api//v1 } }\n")
                .find("routes[0].match.path_prefix: requests are matched in canonical form, "
                      "write it /api/v1"),
            std::string::npos);
  EXPECT_NE(
      error_of("routes:\n  - { name: a, match: { path: /%61dmin } }\n").find("write it /admin"),
      std::string::npos);
}

TEST(ConfigPaths, Ipv6PrefixIsBounded) {
  EXPECT_NE(error_of("ipv6_prefix: 32\n").find("ipv6_prefix: must be between 48 and 128"),
            std::string::npos);
}

TEST(ConfigLog, ThrottledLinesPerKeyIsANonNegativeCount) {
  EXPECT_NE(error_of("log: { throttled_lines_per_key: -1 }\n")
                .find("log.throttled_lines_per_key: must be between 0"),
            std::string::npos);
  const auto c = ok("log: { throttled_lines_per_key: 0, show_keys: true }\n");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->log.throttled_lines_per_key, 0u);
  EXPECT_TRUE(c->log.show_keys);
}

TEST(Router, HostsMatchCanonicallyAndPathsMayIgnoreCase) {
  const auto c = ok(R"(routes:
  - { name: admin, match: { path_prefix: /Admin, ignore_case: true, host: API.Example.com. } }
  - { name: rest, match: { path_prefix: / } }
)");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->routes[0].match.host, "api.example.com");
  auto name = [&](std::string_view path, std::string_view host) {
    const Route* r = match_route(*c, "GET", path, uri::canonical_host(host));
    return r ? r->name : std::string("-");
  };
  EXPECT_EQ(name("/ADMIN/x", "api.example.com."), "admin");
  EXPECT_EQ(name("/admin", "Api.Example.Com:80"), "admin");
  EXPECT_EQ(name("/admin", "other.example.com"), "rest");
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

TEST(ConfigLoad, WatchConfigAndStateFileAreRead) {
  const LoadResult r = load_string(
      "version: 1\nlisten: 127.0.0.1:1\nwatch_config: true\nstate_file: /tmp/sluice.state\n",
      "w.yaml");
  ASSERT_NE(r.config, nullptr) << r.errors.at(0);
  EXPECT_TRUE(r.config->watch_config);
  EXPECT_EQ(r.config->state_file, "/tmp/sluice.state");
}

TEST(ConfigLoad, WatchConfigMustBeABoolean) {
  const LoadResult r =
      load_string("version: 1\nlisten: 127.0.0.1:1\nwatch_config: often\n", "w.yaml");
  ASSERT_EQ(r.config, nullptr);
  EXPECT_NE(r.errors.at(0).find("watch_config"), std::string::npos) << r.errors.at(0);
}

TEST(ConfigLoad, StateFileMustNotBeEmpty) {
  const LoadResult r = load_string("version: 1\nlisten: 127.0.0.1:1\nstate_file: \"\"\n", "w.yaml");
  ASSERT_EQ(r.config, nullptr);
  EXPECT_NE(r.errors.at(0).find("state_file: must be a file path"), std::string::npos)
      << r.errors.at(0);
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

// Found by --check and at start, not at the first graceful stop, which would lose the buckets.
TEST(ConfigLoad, StateFileDirectoryMustExist) {
  const LoadResult r = load_string(
      "version: 1\nlisten: 127.0.0.1:1\nstate_file: /nonexistent-dir/state.bin\n", "w.yaml");
  ASSERT_EQ(r.config, nullptr);
  EXPECT_EQ(r.errors.at(0), "w.yaml:3:13: state_file: directory /nonexistent-dir does not exist");
}

TEST(ConfigLoad, UpstreamWithAPasswordIsRefusedWithoutPrintingIt) {
  const LoadResult r = load_string(
      "version: 1\nlisten: 127.0.0.1:1\nupstream: http://user:s3cret@127.0.0.1:9000\n", "w.yaml");
  ASSERT_EQ(r.config, nullptr);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("w.yaml:3:11: upstream: must not hold a user name or password"),
            std::string::npos)
      << r.errors[0];
  EXPECT_EQ(r.errors[0].find("s3cret"), std::string::npos);
}

}  // namespace
}  // namespace sluice::config
