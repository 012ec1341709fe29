// HTTP/2 on the listener, driven by HTTP/2 implementations that are not sluice's: curl, Python's
// h2 (tests/support/h2_peer.py) and grpcio (tests/support/grpc_call.py). Every stream is a
// request: matched, limited, held, forwarded and logged like an HTTP/1.1 one.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/asio/read.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "support/configs.hpp"
#include "support/proxy_harness.hpp"
#include "support/raw_upstream.hpp"
#include "support/test_upstream.hpp"
#include "support/tls_support.hpp"

namespace sluice::testing {
namespace {

// A command's standard output (its standard error too), whatever its exit status.
std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> chunk{};
  while (const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), pipe)) {
    out.append(chunk.data(), n);
  }
  ::pclose(pipe);
  return out;
}

const std::string kPeer =
    std::string("/usr/bin/python3 ") + SLUICE_SOURCE_DIR + "/tests/support/h2_peer.py ";

// One line of h2_peer.py's output as its key=value pairs.
using Fields = std::map<std::string, std::string>;
std::vector<Fields> parse_lines(const std::string& text) {
  std::vector<Fields> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    Fields fields;
    std::istringstream words(line);
    for (std::string word; words >> word;) {
      const auto eq = word.find('=');
      fields[word.substr(0, eq)] = eq == std::string::npos ? "" : word.substr(eq + 1);
    }
    lines.push_back(std::move(fields));
  }
  return lines;
}

// Streams opened together on one connection; their results by stream, in opening order.
std::vector<Fields> streams(std::uint16_t port, const std::vector<std::string>& specs) {
  std::string command = kPeer + std::to_string(port) + " requests";
  for (const auto& spec : specs) command += " '" + spec + "'";
  const std::string out = run(command);
  std::vector<Fields> results;
  for (auto& line : parse_lines(out)) {
    if (line.count("stream") > 0) results.push_back(std::move(line));
  }
  EXPECT_EQ(results.size(), specs.size()) << out;
  results.resize(specs.size());
  return results;
}

std::uint64_t metric(ProxyHarness& proxy, observe::Family family, const observe::Labels& labels) {
  return proxy.server().metrics().counter(family, labels).load();
}

std::string curl(const std::string& args) {
  return run("curl -s -S --max-time 10 " + args);
}

TEST(Http2, CurlByPriorKnowledgeIsServedAndForwarded) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, ""), "access: true");
  const std::string port = std::to_string(proxy.port());
  const std::string out = curl(
      "--http2-prior-knowledge -d 'hello h2' -w ' %{http_version} %{http_code}' http://127.0.0.1:" +
      port + "/echo");
  EXPECT_EQ(out, "hello h2 2 200");
  ASSERT_EQ(upstream.request_count(), 1u);
  const ReceivedRequest r = upstream.requests()[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/echo");
  EXPECT_EQ(r.body, "hello h2");
  EXPECT_EQ(r.header("Host"), "127.0.0.1:" + port);
  EXPECT_EQ(r.header("Via"), "2 sluice");
  EXPECT_EQ(r.header("X-Forwarded-For"), "127.0.0.1");
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"access\""));
  EXPECT_NE(proxy.log_text().find("\"protocol\":\"h2c\""), std::string::npos);
  EXPECT_EQ(metric(proxy, observe::Family::http2_streams_total, {}), 1u);
  EXPECT_EQ(metric(proxy, observe::Family::protocol_requests_total, {{"protocol", "h2c"}}), 1u);
  EXPECT_EQ(metric(proxy, observe::Family::protocol_requests_total, {{"protocol", "http/1.1"}}),
            0u);
}

TEST(Http2, TlsListenerOffersH2ByAlpn) {
  TestCertificates certs;
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, "tls: { cert: " + certs.path("server.crt") +
                                                 ", key: " + certs.path("server.key") + " }\n"),
                     "access: true");
  const std::string url = "https://127.0.0.1:" + std::to_string(proxy.port()) + "/over-tls";
  EXPECT_EQ(curl("--http2 --cacert " + certs.path("ca.crt") +
                 " -o /dev/null -w '%{http_version} %{http_code}' " + url),
            "2 200");
  // HTTP/1.1 still works on the same port.
  EXPECT_EQ(curl("--http1.1 --cacert " + certs.path("ca.crt") +
                 " -o /dev/null -w '%{http_version} %{http_code}' " + url),
            "1.1 200");
  ASSERT_TRUE(proxy.wait_for_log("\"event\":\"access\"", 2));
  EXPECT_NE(proxy.log_text().find("\"protocol\":\"h2\""), std::string::npos);
}

TEST(Http2, DisabledTheListenerSpeaksHttp11Only) {
  TestCertificates certs;
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(
      upstream, "http2: { enabled: false }\ntls: { cert: " + certs.path("server.crt") +
                    ", key: " + certs.path("server.key") + " }\n"));
  const std::string url = "https://127.0.0.1:" + std::to_string(proxy.port()) + "/";
  EXPECT_EQ(curl("--http2 --cacert " + certs.path("ca.crt") +
                 " -o /dev/null -w '%{http_version} %{http_code}' " + url),
            "1.1 200");
  ProxyHarness plain(with_upstream(upstream, "http2: { enabled: false }\n"));
  Client client(plain.port());
  client.write_raw("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  EXPECT_EQ(client.receive().status, 505u);
}

TEST(Http2, StreamsOnOneConnectionAreRequestsEach) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - { name: api, match: { path_prefix: /api }, max_rate: 3, time_period: 60s }
)"));
  const auto results =
      streams(proxy.port(), {"GET:/api/1", "GET:/api/2", "GET:/api/3", "GET:/api/4", "GET:/api/5"});
  std::map<std::string, int> statuses;
  for (const auto& r : results) ++statuses[r.at("status")];
  EXPECT_EQ(statuses["200"], 3);
  EXPECT_EQ(statuses["429"], 2);
  EXPECT_EQ(upstream.request_count(), 3u);
  for (const auto& r : results) {
    EXPECT_EQ(r.at("h.ratelimit-policy"), "\"api\";q=3;w=60");
    if (r.at("status") == "429") {
      EXPECT_FALSE(r.at("h.retry-after").empty());
    }
  }
  EXPECT_EQ(proxy.decisions("api", "rejected"), 2u);
}

TEST(Http2, AHeldStreamHoldsOnlyItself) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - { name: slow, match: { path_prefix: /slow }, max_rate: 1, time_period: 1s, action: delay, max_delay: 5s }
)"));
  const auto results = streams(proxy.port(), {"GET:/slow/a", "GET:/slow/b", "GET:/free"});
  for (const auto& r : results) EXPECT_EQ(r.at("status"), "200");
  const int held = std::stoi(results[1].at("elapsed_ms"));
  const int free = std::stoi(results[2].at("elapsed_ms"));
  EXPECT_GE(held, 900);
  EXPECT_LT(free, held);  // answered while /slow/b waited, on the same connection
  EXPECT_EQ(proxy.decisions("slow", "delayed"), 1u);
}

TEST(Http2, AStreamResetWhileHeldIsRefunded) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - { name: slow, match: { path_prefix: /slow }, max_rate: 1, time_period: 10s, action: delay, max_delay: 60s }
)"),
                     "throttled_lines_per_key: 0");
  // a passes, b waits 10 s and is reset after 200 ms: its slot is given back, so c waits
  // 10 s, not 20 s.
  auto results = streams(proxy.port(), {"GET:/slow/a", "GET:/slow/b:reset_ms=200"});
  EXPECT_EQ(results[0].at("status"), "200");
  EXPECT_EQ(results[1].at("reset"), "sent");
  ASSERT_TRUE(proxy.wait_for_log("\"status\":499"));
  results = streams(proxy.port(), {"GET:/slow/c:reset_ms=200"});
  ASSERT_TRUE(proxy.wait_for_log("\"status\":499", 2));
  const std::string log = proxy.log_text();
  const auto c = log.find("\"path\":\"/slow/c\"");
  ASSERT_NE(c, std::string::npos) << log;
  const auto line_start = log.rfind('\n', c) + 1;
  const std::string line = log.substr(line_start, log.find('\n', c) - line_start);
  const auto delay_at = line.find("\"delay_ms\":");
  ASSERT_NE(delay_at, std::string::npos) << line;
  const long delay_ms = std::stol(line.substr(delay_at + 11));
  EXPECT_LE(delay_ms, 10000) << line;
  EXPECT_GE(delay_ms, 9000) << line;
  EXPECT_EQ(upstream.request_count(), 1u);
}

const std::string kGrpc = ":content-type=application/grpc,te=trailers:body=5";

TEST(Http2, ARejectedGrpcCallGetsATrailersOnlyGrpcAnswer) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - { name: orders, match: { path_prefix: /shop.Orders/ }, max_rate: 1, time_period: 60s }
  - { name: custom, match: { path_prefix: /shop.Custom/ }, max_rate: 1, time_period: 60s, grpc_status: 14 }
)"),
                     "access: true");
  // (h2_peer.py prints spaces as underscores.)
  const auto results =
      streams(proxy.port(), {"POST:/shop.Orders/Get" + kGrpc, "POST:/shop.Orders/Get" + kGrpc,
                             "POST:/shop.Custom/Get" + kGrpc, "POST:/shop.Custom/Get" + kGrpc});
  const Fields& rejected = results[1];
  EXPECT_EQ(rejected.at("status"), "200");
  EXPECT_EQ(rejected.at("h.content-type"), "application/grpc");
  EXPECT_EQ(rejected.at("h.grpc-status"), "8");
  EXPECT_NE(rejected.at("h.grpc-message").find("rate_limit_1/60s_of_route_orders"),
            std::string::npos)
      << rejected.at("h.grpc-message");
  EXPECT_GT(std::stol(rejected.at("h.grpc-retry-pushback-ms")), 50000);
  EXPECT_EQ(rejected.at("h.ratelimit-policy"), "\"orders\";q=1;w=60");
  EXPECT_EQ(rejected.at("body"), "0");
  EXPECT_EQ(results[3].at("h.grpc-status"), "14");
  ASSERT_TRUE(proxy.wait_for_log("\"grpc_status\":8"));
}

TEST(Http2, AGrpcCallWhoseDeadlineComesFirstIsRejectedAndChargedNothing) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
routes:
  - { name: slow, match: { path_prefix: /svc.Slow/ }, max_rate: 1, time_period: 10s, action: delay, max_delay: 60s }
)"),
                     "throttled_lines_per_key: 0");
  const std::string deadline = ":content-type=application/grpc,grpc-timeout=200m:body=5";
  const auto results =
      streams(proxy.port(), {"POST:/svc.Slow/A" + kGrpc, "POST:/svc.Slow/B" + deadline});
  EXPECT_EQ(results[1].at("h.grpc-status"), "8");
  EXPECT_LT(std::stoi(results[1].at("elapsed_ms")), 1000);  // at once, not after the deadline
  // Charged nothing: the next call waits one period, not two.
  streams(proxy.port(), {"POST:/svc.Slow/C" + kGrpc.substr(0, kGrpc.size() - 7) + ":reset_ms=200"});
  ASSERT_TRUE(proxy.wait_for_log("\"status\":499"));
  const std::string log = proxy.log_text();
  const auto c = log.find("\"path\":\"/svc.Slow/C\"");
  ASSERT_NE(c, std::string::npos) << log;
  const auto delay_at = log.find("\"delay_ms\":", log.rfind('\n', c));
  EXPECT_LE(std::stol(log.substr(delay_at + 11)), 10000);
}

TEST(Http2, AGrpcCallToAnUnreachableUpstreamIsUnavailable) {
  const RefusingPort refusing;
  ProxyHarness proxy("version: 1\nupstream: http://127.0.0.1:" + std::to_string(refusing.port()) +
                     "\n");
  const auto results = streams(proxy.port(), {"POST:/svc.Any/Call" + kGrpc});
  EXPECT_EQ(results[0].at("status"), "200");
  EXPECT_EQ(results[0].at("h.grpc-status"), "14");
}

TEST(Http2, ShutdownSendsGoawayAndLetsOpenStreamsFinish) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, R"(
timeouts: { shutdown_grace: 10s }
routes:
  - { name: slow, match: { path_prefix: /slow }, max_rate: 1, time_period: 1s, action: delay, max_delay: 5s }
)"));
  // nghttp (nghttp2's client): Python's h2 closes its side on a GOAWAY and reads no further.
  std::string output;
  const std::string url = "http://127.0.0.1:" + std::to_string(proxy.port());
  std::thread client(
      [&] { output = run("timeout 20 nghttp -nv " + url + "/slow/a " + url + "/slow/b"); });
  // /slow/b is held for a second; shutting down meanwhile must not cut it.
  EXPECT_TRUE(wait_until([&] { return proxy.decisions("slow", "delayed") == 1; }));
  proxy.server().shutdown();
  client.join();
  EXPECT_NE(output.find("recv GOAWAY frame"), std::string::npos) << output;
  EXPECT_NE(output.find("error_code=NO_ERROR"), std::string::npos) << output;
  EXPECT_EQ(count_lines_with(output, ":status: 200"), 2u) << output;  // the held one too
  EXPECT_EQ(metric(proxy, observe::Family::http2_goaways_total, {{"reason", "shutdown"}}), 1u);
}

TEST(Http2, AReloadKeepsOpenConnectionsAndTheirNewStreamsTakeTheNewConfig) {
  const std::string routes =
      "routes:\n  - { name: r, match: { path: /which }, respond: { body: %s } }\n";
  const auto with_body = [&](const std::string& body) {
    std::string yaml = routes;
    yaml.replace(yaml.find("%s"), 2, body);
    return "version: 1\n" + yaml;
  };
  ProxyHarness proxy(with_body("old"));
  const std::string go = "/tmp/sluice-h2-reload-" + std::to_string(::getpid());
  ::unlink(go.c_str());
  std::string output;
  std::thread client([&] {
    output = run(kPeer + std::to_string(proxy.port()) + " two_apart /which /which " + go);
  });
  // EXPECT, not ASSERT: the client thread is joined below whatever happens.
  EXPECT_TRUE(wait_until([&] {
    return proxy.server()
               .metrics()
               .counter(observe::Family::protocol_requests_total, {{"protocol", "h2c"}})
               .load() == 1;
  }));
  auto reloaded = config::load_string("listen: 127.0.0.1:0\nlog: { file: " + proxy.log_path() +
                                          ", format: json }\n" + with_body("new"),
                                      "reload.yaml");
  ASSERT_NE(reloaded.config, nullptr);
  proxy.server().reload(reloaded.config);
  { std::ofstream(go) << "go"; }
  client.join();
  ::unlink(go.c_str());
  EXPECT_NE(output.find("stream=1 status=200 body=old"), std::string::npos) << output;
  EXPECT_NE(output.find("stream=3 status=200 body=new"), std::string::npos) << output;
}

// The real gRPC server of tests/support/grpc_server.py, as a child process: it stops when its
// standard input closes, which the destructor does (and a kill, should it not).
class GrpcServer {
 public:
  // `tls`: the certificate and key to serve with (TLS, ALPN h2); empty: clear text (h2c).
  explicit GrpcServer(const std::vector<std::string>& tls = {}) {
    int to_child[2];
    int from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) return;
    // Built before the fork: the child of a threaded process may only exec.
    const std::string script = std::string(SLUICE_SOURCE_DIR) + "/tests/support/grpc_server.py";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::close(to_child[1]);
      ::close(from_child[0]);
      if (tls.size() == 2) {
        ::execl("/usr/bin/python3", "python3", script.c_str(), "--tls", tls[0].c_str(),
                tls[1].c_str(), static_cast<char*>(nullptr));
      }
      ::execl("/usr/bin/python3", "python3", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    stdin_ = to_child[1];
    FILE* out = ::fdopen(from_child[0], "r");
    char line[64] = {};
    if (out != nullptr && std::fgets(line, sizeof line, out) != nullptr) {
      const std::string text(line);
      if (text.starts_with("port=")) port_ = static_cast<std::uint16_t>(std::stoi(text.substr(5)));
    }
    if (out != nullptr) std::fclose(out);
  }
  ~GrpcServer() {
    if (stdin_ >= 0) ::close(stdin_);
    if (pid_ > 0) {
      for (int i = 0; i < 100 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i) ::usleep(50000);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::uint16_t port_ = 0;
};

std::string grpc_call(std::uint16_t port, const std::string& args) {
  return run(std::string("/usr/bin/python3 ") + SLUICE_SOURCE_DIR + "/tests/support/grpc_call.py " +
             std::to_string(port) + " " + args);
}

class Grpc : public ::testing::Test {
 protected:
  void start(const std::string& routes) {
    ASSERT_NE(server_.port(), 0) << "the gRPC server did not start";
    proxy_ =
        std::make_unique<ProxyHarness>("version: 1\nupstream: " + server_.url() + "\n" + routes);
  }
  std::string call(const std::string& args) { return grpc_call(proxy_->port(), args); }

  GrpcServer server_;
  std::unique_ptr<ProxyHarness> proxy_;
};

TEST_F(Grpc, UnaryStreamingAndBidirectionalCallsPassThrough) {
  start("");
  EXPECT_EQ(call("/test.Echo/Unary unary 100"), "code=OK messages=1 bytes=100\n");
  EXPECT_EQ(call("/test.Echo/Stream stream 10"), "code=OK messages=3 bytes=30\n");
  // Messages larger than a flow-control window, both ways.
  EXPECT_EQ(call("/test.Echo/Bidi bidi 1000000 4"), "code=OK messages=4 bytes=4000000\n");
}

TEST_F(Grpc, TheServersStatusAndMessageComeThrough) {
  start("");
  const std::string out = call("/test.Echo/Fail");
  EXPECT_NE(out.find("code=PERMISSION_DENIED details='not for you'"), std::string::npos) << out;
  EXPECT_NE(out.find("via=2 sluice"), std::string::npos) << out;
}

TEST_F(Grpc, AStreamingCallCountsOnceAndRejectedCallsNeverReachTheServer) {
  start(R"(
routes:
  - { name: echo, match: { path_prefix: /test.Echo/ }, max_rate: 1, time_period: 60s }
)");
  EXPECT_EQ(call("/test.Echo/Bidi bidi 10 5"), "code=OK messages=5 bytes=50\n");
  const std::string rejected = call("/test.Echo/Unary");
  EXPECT_NE(rejected.find("code=RESOURCE_EXHAUSTED"), std::string::npos) << rejected;
  EXPECT_NE(rejected.find("grpc-retry-pushback-ms="), std::string::npos) << rejected;
  EXPECT_EQ(proxy_->decisions("echo", "allowed"), 1u);
  EXPECT_EQ(proxy_->decisions("echo", "rejected"), 1u);
}

// HTTP/1.1 in, HTTP/2 out: a gRPC call written by hand over HTTP/1.1 reaches the real gRPC server
// over HTTP/2, and its answer comes back chunked, the gRPC status in the trailer section.
TEST_F(Grpc, AnHttp11ClientReachesAnHttp2UpstreamAndGetsItsTrailers) {
  start("upstream_protocol: http2\n");
  const std::string message("\0\0\0\0\x05hello", 10);  // uncompressed, 5 bytes
  Client client(proxy_->port());
  client.write_raw(
      "POST /test.Echo/Unary HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\n"
      "TE: trailers\r\nContent-Length: 10\r\n\r\n" +
      message);
  const Response r = client.receive();
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("content-type"), "application/grpc");
  EXPECT_EQ(r.header("via"), "2 sluice");
  EXPECT_EQ(r.body, message);
  // The trailer section reached the client (Beast's parser folds it into the fields).
  EXPECT_EQ(r.header("grpc-status"), "0");
  // The connection is kept: a second call on it.
  client.write_raw(
      "POST /test.Echo/Unary HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\n"
      "TE: trailers\r\nContent-Length: 10\r\n\r\n" +
      message);
  EXPECT_EQ(client.receive().header("grpc-status"), "0");
}

// An https:// upstream speaking HTTP/2: chosen by ALPN, its certificate verified like any
// https:// upstream's.
TEST(GrpcOverTls, CallsReachAnHttpsUpstreamOverH2ByAlpn) {
  TestCertificates certs;
  const GrpcServer server({certs.path("server.crt"), certs.path("server.key")});
  ASSERT_NE(server.port(), 0);
  ProxyHarness proxy("version: 1\nupstream: https://localhost:" + std::to_string(server.port()) +
                     "\nupstream_tls: { ca: " + certs.path("ca.crt") + " }\n");
  EXPECT_EQ(grpc_call(proxy.port(), "/test.Echo/Unary unary 100"),
            "code=OK messages=1 bytes=100\n");
  EXPECT_EQ(grpc_call(proxy.port(), "/test.Echo/Bidi bidi 300000 3"),
            "code=OK messages=3 bytes=900000\n");
}

TEST(GrpcOverTls, AnUpstreamThatFailsVerificationIsUnavailable) {
  TestCertificates certs;
  const GrpcServer server({certs.path("server.crt"), certs.path("server.key")});
  ASSERT_NE(server.port(), 0);
  ProxyHarness proxy("version: 1\nupstream: https://localhost:" + std::to_string(server.port()) +
                     "\nupstream_tls: { ca: " + certs.path("other-ca.crt") + " }\n");
  const std::string out = grpc_call(proxy.port(), "/test.Echo/Unary");
  EXPECT_NE(out.find("code=UNAVAILABLE"), std::string::npos) << out;
  EXPECT_NE(out.find("TLS handshake failed"), std::string::npos) << out;
}

// config/grpc.yaml as the README runs it, in front of the same echo server.
TEST_F(Grpc, TheReadmeExampleLimitsUnaryCallsAndCountsStreamsOnce) {
  ASSERT_NE(server_.port(), 0);
  const std::string log_path = "/tmp/sluice-grpc-example-" + std::to_string(::getpid()) + ".log";
  ::setenv("GRPC_LISTEN", "127.0.0.1:0", 1);
  ::setenv("GRPC_UPSTREAM", server_.url().c_str(), 1);
  ::setenv("GRPC_LOG", log_path.c_str(), 1);
  ProxyHarness proxy(ProxyHarness::File{std::string(SLUICE_SOURCE_DIR) + "/config/grpc.yaml"});
  ::unsetenv("GRPC_LISTEN");
  ::unsetenv("GRPC_UPSTREAM");
  ::unsetenv("GRPC_LOG");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(grpc_call(proxy.port(), "/test.Echo/Unary"), "code=OK messages=1 bytes=4\n");
  }
  const std::string sixth = grpc_call(proxy.port(), "/test.Echo/Unary");
  EXPECT_NE(sixth.find("code=RESOURCE_EXHAUSTED details='rate limit 5/10s of route echo exceeded'"),
            std::string::npos)
      << sixth;
  EXPECT_EQ(grpc_call(proxy.port(), "/test.Echo/Stream stream"), "code=OK messages=3 bytes=12\n");
  EXPECT_EQ(proxy.decisions("streams", "allowed"), 1u);
}

// Each attack ends only its own connection, with GOAWAY, counted by reason; the listener goes
// on serving.
class Http2Attack : public ::testing::Test {
 protected:
  void expect_still_serving() {
    EXPECT_EQ(curl("--http2-prior-knowledge -o /dev/null -w '%{http_code}' http://127.0.0.1:" +
                   std::to_string(proxy_.port()) + "/after"),
              "200");
  }
  std::uint64_t goaways(const std::string& reason) {
    return metric(proxy_, observe::Family::http2_goaways_total, {{"reason", reason}});
  }
  std::string attack(const std::string& args) {
    return run(kPeer + std::to_string(proxy_.port()) + " " + args);
  }

  TestUpstream upstream_;
  ProxyHarness proxy_{with_upstream(upstream_, "http2: { max_resets_per_second: 50 }\n")};
};

TEST_F(Http2Attack, RapidResetEndsTheConnection) {
  const std::string out = attack("rapid_reset 500");
  EXPECT_NE(out.find("goaway error=11"), std::string::npos) << out;  // ENHANCE_YOUR_CALM
  EXPECT_EQ(goaways("rapid_reset"), 1u);
  expect_still_serving();
}

TEST_F(Http2Attack, ContinuationFloodEndsTheConnection) {
  const std::string out = attack("continuation_flood 10000");
  EXPECT_NE(out.find("goaway error=11"), std::string::npos) << out;
  EXPECT_EQ(goaways("flood"), 1u);
  expect_still_serving();
}

TEST_F(Http2Attack, PingFloodEndsTheConnection) {
  attack("ping_flood 400000");
  EXPECT_EQ(goaways("flood"), 1u);
  expect_still_serving();
}

TEST_F(Http2Attack, SettingsFloodEndsTheConnection) {
  attack("settings_flood 1000000");
  EXPECT_EQ(goaways("flood"), 1u);
  expect_still_serving();
}

// Trailers both ways between an HTTP/2 client and an HTTP/1.1 upstream: the request's become the
// trailer section of its chunked body, and the chunked response's become HTTP/2 trailers.
TEST(Http2, TrailersPassBetweenHttp2AndChunkedHttp11) {
  // Written on the upstream's thread, read here: the socket orders the two, but only the lock
  // says so to ThreadSanitizer.
  std::mutex mutex;
  std::string seen;
  RawUpstream upstream([&](RawUpstream::Socket& socket, int) {
    std::string received = RawUpstream::read_request_head(socket);
    // The chunked body up to the end of its trailer section (the head's read may hold some).
    const auto complete = [&] {
      const auto last = received.find("\r\n0\r\n");
      return last != std::string::npos && received.find("\r\n\r\n", last) != std::string::npos;
    };
    char c;
    while (!complete() && boost::asio::read(socket, boost::asio::buffer(&c, 1)) == 1) {
      received += c;
    }
    {
      const std::lock_guard lock(mutex);
      seen = received;
    }
    RawUpstream::write(socket,
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n");
  });
  ProxyHarness proxy("version: 1\nupstream: " + upstream.url() + "\n");
  const std::string out =
      run(kPeer + std::to_string(proxy.port()) + " requests 'POST:/t:body=3:trailer.x-sum=42'");
  EXPECT_NE(out.find("status=200 body=5"), std::string::npos) << out;
  EXPECT_NE(out.find("t.x-checksum=abc"), std::string::npos) << out;
  const std::lock_guard lock(mutex);
  EXPECT_NE(seen.find("Transfer-Encoding: chunked"), std::string::npos) << seen;
  EXPECT_NE(seen.find("0\r\nx-sum: 42\r\n\r\n"), std::string::npos) << seen;
}

TEST(Http2, ABodyOverMaxBodyBytesEndsItsStreamAtOnce) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, "http: { max_body_bytes: 1000 }\n"), "access: true");
  const auto results = streams(proxy.port(), {"POST:/big:body=50000", "GET:/small"});
  EXPECT_EQ(results[0].at("reset"), "7");     // REFUSED_STREAM
  EXPECT_EQ(results[1].at("status"), "200");  // the connection goes on
  ASSERT_TRUE(proxy.wait_for_log("\"status\":413"));
}

TEST(Http2, AStreamWhoseWindowNeverOpensIsResetAfterClientIdle) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, "timeouts: { client_idle: 1s }\n"));
  const std::string out =
      run(kPeer + std::to_string(proxy.port()) + " stall '/chunked?bytes=2000000'");
  EXPECT_NE(out.find("reset code=8"), std::string::npos) << out;  // CANCEL
  // The upstream connection went back or was closed; the listener serves on.
  EXPECT_EQ(curl("--http2-prior-knowledge -o /dev/null -w '%{http_code}' http://127.0.0.1:" +
                 std::to_string(proxy.port()) + "/after"),
            "200");
}

TEST(Http2, ARequestBodyThatStallsIsAnsweredWith408) {
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, "timeouts: { client_idle: 300ms }\n"), "access: true");
  // The head, then nothing: neither a body nor its end.
  const auto results = streams(proxy.port(), {"POST:/upload:content-length=10:open"});
  EXPECT_EQ(results[0].at("status"), "408");
  ASSERT_TRUE(proxy.wait_for_log("\"status\":408"));
}

TEST(Http2, AnUnaskedSwitchFromTheUpstreamIs502) {
  RawUpstream upstream([](RawUpstream::Socket& s, int) {
    RawUpstream::read_request_head(s);
    RawUpstream::write(s, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\n\r\n");
    RawUpstream::read_request_head(s);  // until sluice closes it
  });
  ProxyHarness proxy("version: 1\nupstream: " + upstream.url() +
                     "\ntimeouts: { upstream_response: 2s }\n");
  const std::string url = "http://127.0.0.1:" + std::to_string(proxy.port()) + "/";
  EXPECT_EQ(curl("--http2-prior-knowledge -o /dev/null -w '%{http_code}' " + url), "502");
  EXPECT_EQ(curl("--http1.1 -o /dev/null -w '%{http_code}' " + url), "502");
}

TEST_F(Http2Attack, StreamsBeyondTheConcurrencyLimitAreRefused) {
  std::vector<std::string> specs(120, "GET:/slow?ms=300");
  const auto results = streams(proxy_.port(), specs);
  int ok = 0;
  int refused = 0;
  for (const auto& r : results) {
    if (r.at("status") == "200") ++ok;
    if (r.at("reset") == "7") ++refused;  // REFUSED_STREAM
  }
  EXPECT_EQ(ok, 100);
  EXPECT_EQ(refused, 20);
}

}  // namespace
}  // namespace sluice::testing
