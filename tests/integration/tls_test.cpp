// TLS both ways (README, "TLS") over real sockets, with certificates made for each test by the
// openssl command: an HTTPS listener, https:// upstreams and their verification, mTLS and its
// key part, certificate reloads, and clients that do not speak TLS at all.
#include <gtest/gtest.h>

#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "sluice/proxy/tls.hpp"
#include "support/configs.hpp"
#include "support/daemon.hpp"
#include "support/tls_support.hpp"
#include "support/websocket_upstream.hpp"

namespace sluice::testing {
namespace {

std::string listener_tls(const TestCertificates& certs, const std::string& extra = "") {
  return "tls: { cert: " + certs.path("server.crt") + ", key: " + certs.path("server.key") + extra +
         " }\n";
}

std::uint64_t handshake_failures(ProxyHarness& proxy, const char* side, const char* reason) {
  return proxy.server()
      .metrics()
      .counter(observe::Family::tls_handshake_failures_total, {{"side", side}, {"reason", reason}})
      .load();
}

// A config forwarding to `upstream` over HTTPS, trusting the test CA.
std::string https_upstream(const std::string& url, const std::string& ca,
                           const std::string& rest = "") {
  return "version: 1\nupstream: " + url + "\nupstream_tls: { ca: " + ca + " }\n" + rest;
}

void copy(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

TEST(Tls, HttpsClientToAPlainUpstreamOverOneKeptAliveConnection) {
  TestCertificates certs;
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, listener_tls(certs)));
  TlsClient client(proxy.port(), certs.path("ca.crt"));
  EXPECT_EQ(client.alpn(), "http/1.1");  // offered alone (h2 by ALPN: the HTTP/2 tests)
  EXPECT_EQ(client.server_name(), "localhost");
  for (int i = 0; i < 3; ++i) {
    const Response r = client.request("GET", "/hello/" + std::to_string(i));
    EXPECT_EQ(r.status, 200u);
    EXPECT_FALSE(r.header("x-request-id").empty());
  }
  const auto received = upstream.requests();
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[2].target, "/hello/2");
  EXPECT_EQ(received[2].header("Host"), "localhost");
  EXPECT_EQ(received[2].header("X-Forwarded-Proto"), "https");
  EXPECT_EQ(
      proxy.server().metrics().gauge(observe::Family::connections, {{"side", "downstream"}}).load(),
      1);
}

TEST(Tls, PlainClientToAnHttpsUpstreamSendsTheUpstreamsHostUnlessPreserved) {
  TestCertificates certs;
  TlsUpstream upstream(certs.path("server.crt"), certs.path("server.key"));
  ProxyHarness proxy(https_upstream(upstream.url(), certs.path("ca.crt"), R"(routes:
  - { name: kept, match: { path_prefix: /kept }, host_header: preserve }
  - { name: provider, match: { path_prefix: / } }
)"));
  Client client(proxy.port());
  const Response r = client.request("GET", "/v1/things");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "tls:127.0.0.1:" + std::to_string(upstream.port()));
  EXPECT_EQ(client.request("GET", "/kept").body, "tls:localhost");
  EXPECT_EQ(upstream.requests(), 2);
  EXPECT_EQ(upstream.handshakes(), 1);  // the pooled connection served both
}

TEST(Tls, NewUpstreamConnectionsResumeTheTlsSession) {
  TestCertificates certs;
  TlsUpstream upstream(certs.path("server.crt"), certs.path("server.key"),
                       TlsUpstream::Connections::close_each);
  ProxyHarness proxy(https_upstream(upstream.url("localhost"), certs.path("ca.crt")));
  Client client(proxy.port());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.request("GET", "/").status, 200u);
  EXPECT_EQ(upstream.handshakes(), 5);
  EXPECT_EQ(upstream.resumed(), 4);  // every one after the first
}

struct VerificationCase {
  const char* cert;
  const char* host;
  const char* ca;
  const char* expected;  // in the upstream_error event and the 502's body
};

TEST(Tls, UpstreamsThatFailVerificationGet502AndAnUpstreamErrorSayingWhy) {
  TestCertificates certs;
  const VerificationCase cases[] = {
      {"server.crt", "127.0.0.1", "other-ca.crt", "unable to get local issuer certificate"},
      {"wrong-name.crt", "localhost", "ca.crt", "hostname mismatch"},
      {"wrong-name.crt", "127.0.0.1", "ca.crt", "IP address mismatch"},
      {"expired.crt", "localhost", "ca.crt", "certificate has expired"},
  };
  for (const VerificationCase& c : cases) {
    SCOPED_TRACE(c.expected);
    TlsUpstream upstream(certs.path(c.cert), certs.path("server.key"));
    ProxyHarness proxy(https_upstream(upstream.url(c.host), certs.path(c.ca)));
    Client client(proxy.port());
    const Response r = client.request("GET", "/");
    EXPECT_EQ(r.status, 502u);
    EXPECT_NE(r.body.find(c.expected), std::string::npos) << r.body;
    ASSERT_TRUE(proxy.wait_for_log("\"upstream_error\""));
    const std::string log = proxy.log_text();
    EXPECT_NE(log.find("\"kind\":\"tls\""), std::string::npos) << log;
    EXPECT_NE(log.find(std::string("certificate verify failed: ") + c.expected), std::string::npos)
        << log;
    EXPECT_EQ(handshake_failures(proxy, "upstream", "certificate"), 1u);
    EXPECT_EQ(upstream.requests(), 0);
  }
}

TEST(Tls, InsecureSkipsVerificationAndWarnsAtStart) {
  TestCertificates certs;
  TlsUpstream upstream(certs.path("expired.crt"), certs.path("server.key"));
  ProxyHarness proxy("version: 1\nupstream: " + upstream.url() +
                     "\nupstream_tls: { insecure: true }\n");
  ASSERT_TRUE(proxy.wait_for_log("\"upstream_tls_insecure\""));
  Client client(proxy.port());
  EXPECT_EQ(client.request("GET", "/").status, 200u);
}

TEST(Tls, ClientCertificatesAreRequiredAndKeyTheLimit) {
  TestCertificates certs;
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(
      upstream, listener_tls(certs, ", client_ca: " + certs.path("ca.crt")) + R"(routes:
  - { name: api, key: client_cert, max_rate: 1, time_period: 60s }
)"));
  const TlsClient::Identity one{certs.path("client.crt"), certs.path("client.key")};
  const TlsClient::Identity two{certs.path("client2.crt"), certs.path("client2.key")};
  TlsClient first(proxy.port(), certs.path("ca.crt"), one);
  EXPECT_EQ(first.request("GET", "/").status, 200u);
  EXPECT_EQ(first.request("GET", "/").status, 429u);
  TlsClient second(proxy.port(), certs.path("ca.crt"), two);
  EXPECT_EQ(second.request("GET", "/").status, 200u);  // its own bucket, same address
  ASSERT_TRUE(proxy.wait_for_log("\"throttled\""));
  EXPECT_NE(proxy.log_text().find("\"key\":\"cert:client-one\""), std::string::npos);

  // Without a certificate, or with one from another CA, the handshake fails (under TLS 1.3 the
  // client learns it on its first read).
  auto refused = [&](const TlsClient::Identity& identity) {
    try {
      TlsClient client(proxy.port(), certs.path("ca.crt"), identity);
      client.request("GET", "/");
    } catch (const std::exception&) {
      return true;
    }
    return false;
  };
  EXPECT_TRUE(refused({}));
  EXPECT_TRUE(refused({certs.path("stranger.crt"), certs.path("stranger.key")}));
  EXPECT_TRUE(
      wait_until([&] { return handshake_failures(proxy, "downstream", "certificate") == 2; }));
  EXPECT_EQ(upstream.request_count(), 2u);
}

TEST(Tls, PlainHttpAndGarbageOnTheTlsPortAreCountedAndServingGoesOn) {
  TestCertificates certs;
  TestUpstream upstream;
  ProxyHarness proxy(with_upstream(upstream, listener_tls(certs)));
  {
    Client plain(proxy.port());
    plain.write_raw("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const std::string answer = plain.read_all();
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 400 Bad Request\r\n")) << answer;
    EXPECT_NE(answer.find("This port speaks HTTPS"), std::string::npos);
    EXPECT_EQ(proxy.server()
                  .metrics()
                  .counter(observe::Family::local_responses_total, {{"status", "400"}})
                  .load(),
              1u);
  }
  for (const std::string& garbage :
       {std::string("\x16\x03\x01\x00\x05hello", 10), std::string(4096, '\xff'),
        std::string("\x17\x03\x03\x00\x05"
                    "abcde",
                    10)}) {
    Client client(proxy.port());
    client.write_raw(garbage);
    client.read_all();  // closed, not hung
  }
  {
    Client silent(proxy.port());
    silent.close();
  }
  EXPECT_TRUE(wait_until([&] {
    return handshake_failures(proxy, "downstream", "plain_http") == 1 &&
           handshake_failures(proxy, "downstream", "protocol") == 3 &&
           handshake_failures(proxy, "downstream", "closed") == 1;
  })) << handshake_failures(proxy, "downstream", "plain_http")
      << " " << handshake_failures(proxy, "downstream", "protocol") << " "
      << handshake_failures(proxy, "downstream", "closed") << " "
      << handshake_failures(proxy, "downstream", "timeout");
  TlsClient client(proxy.port(), certs.path("ca.crt"));
  EXPECT_EQ(client.request("GET", "/").status, 200u);
  EXPECT_EQ(proxy.log_text().find("\"level\":\"warn\""), std::string::npos);
}

TEST(Tls, AHandshakeThatStallsEndsAtClientHeader) {
  TestCertificates certs;
  TestUpstream upstream;
  ProxyHarness proxy(
      with_upstream(upstream, listener_tls(certs) + "timeouts: { client_header: 300ms }\n"));
  Client stalled(proxy.port());
  stalled.write_raw(std::string("\x16\x03\x01", 3));  // a record header, then nothing
  const auto start = std::chrono::steady_clock::now();
  stalled.read_all();  // returns when sluice closes
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(wait_until([&] { return handshake_failures(proxy, "downstream", "timeout") == 1; }));
}

// The binary itself, reloaded by a real SIGHUP.
TEST(Tls, SighupSwapsTheCertificateForNewConnectionsAndKeepsOpenOnes) {
  TestCertificates certs;
  TestUpstream upstream;
  const std::string cert = temp_file("reload.crt", "");
  const std::string key = temp_file("reload.key", "");
  copy(certs.path("server.crt"), cert);
  copy(certs.path("server.key"), key);
  const std::string log = temp_file("tls-reload.log", "");
  const std::string config =
      temp_file("tls-reload.yaml", "version: 1\nlisten: 127.0.0.1:0\nlog: { file: " + log +
                                       ", format: json }\nupstream: " + upstream.url() +
                                       "\ntls: { cert: " + cert + ", key: " + key + " }\n");
  Daemon daemon(config, log);
  const auto port = daemon.port();
  ASSERT_NE(port, 0);
  TlsClient before(port, certs.path("ca.crt"));
  EXPECT_EQ(before.request("GET", "/").status, 200u);
  auto reloads = [&] { return count_lines_with(daemon.log(), "\"reload"); };

  // A certificate for the same names with another subject, as a renewal would bring.
  copy(certs.path("renewed.crt"), cert);
  daemon.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return reloads() == 1; }));
  EXPECT_NE(daemon.log().find("\"event\":\"reloaded\""), std::string::npos);
  TlsClient after(port, certs.path("ca.crt"));
  EXPECT_EQ(after.server_name(), "renewed.localhost");
  EXPECT_EQ(after.request("GET", "/").status, 200u);
  EXPECT_EQ(before.request("GET", "/").status, 200u);  // the open connection stayed up

  // A broken file keeps the running certificate, and says why.
  std::ofstream(cert) << "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  daemon.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return reloads() == 2; }));
  EXPECT_NE(daemon.log().find("\"event\":\"reload_failed\""), std::string::npos);
  EXPECT_NE(daemon.log().find("tls.cert: cannot load " + cert), std::string::npos);
  TlsClient later(port, certs.path("ca.crt"));
  EXPECT_EQ(later.server_name(), "renewed.localhost");
  EXPECT_EQ(before.request("GET", "/").status, 200u);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait_exit(std::chrono::seconds(10)), 0);
}

TEST(Tls, WatchConfigReloadsWhenOnlyTheCertificateFileChanges) {
  TestCertificates certs;
  TestUpstream upstream;
  const std::string cert = temp_file("watched.crt", "");
  copy(certs.path("server.crt"), cert);
  const std::string log = temp_file("tls-watch.log", "");
  const std::string path =
      temp_file("tls-watch.yaml",
                "version: 1\nlisten: 127.0.0.1:0\nwatch_config: true\nlog: { file: " + log +
                    ", format: json }\nupstream: " + upstream.url() + "\ntls: { cert: " + cert +
                    ", key: " + certs.path("server.key") + " }\n");
  ProxyHarness proxy(ProxyHarness::File{path});
  EXPECT_EQ(TlsClient(proxy.port(), certs.path("ca.crt")).server_name(), "localhost");
  copy(certs.path("renewed.crt"), cert);  // cert-manager renewing the secret, say
  ASSERT_TRUE(proxy.wait_for_log("\"reloaded\""));
  EXPECT_EQ(TlsClient(proxy.port(), certs.path("ca.crt")).server_name(), "renewed.localhost");
}

TEST(Tls, WebSocketOverTheTlsListenerIsTunnelledBothWays) {
  namespace asio = boost::asio;
  namespace websocket = boost::beast::websocket;
  TestCertificates certs;
  WebSocketUpstream upstream;
  ProxyHarness proxy("version: 1\nupstream: " + upstream.url() + "\n" + listener_tls(certs));
  asio::io_context io;
  asio::ssl::context context(asio::ssl::context::tls_client);
  context.load_verify_file(certs.path("ca.crt"));
  context.set_verify_mode(asio::ssl::verify_peer);
  websocket::stream<asio::ssl::stream<asio::ip::tcp::socket>> ws(io, context);
  ws.next_layer().next_layer().connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), proxy.port()));
  ws.next_layer().handshake(asio::ssl::stream_base::client);
  ws.handshake("localhost", "/ws");
  // Messages larger than a TLS record and a relay piece, both ways.
  const std::string big(100 * 1024, 'w');
  for (const std::string& message : {std::string("hello"), big}) {
    ws.write(asio::buffer(message));
    boost::beast::flat_buffer buffer;
    ws.read(buffer);
    EXPECT_EQ(boost::beast::buffers_to_string(buffer.data()), message);
  }
  ws.close(websocket::close_code::normal);
  EXPECT_TRUE(wait_until([&] { return upstream.ended() == 1; }));
}

// With its place in the file, like every other config error.
TEST(Tls, ContextsRefuseFilesThatDoNotLoadNamingTheFieldAndItsPlace) {
  TestCertificates certs;
  auto errors_of = [](const std::string& yaml) {
    const auto loaded = config::load_string("version: 1\nlisten: 127.0.0.1:0\n" + yaml, "t.yaml");
    EXPECT_NE(loaded.config, nullptr);
    std::vector<std::string> errors;
    EXPECT_EQ(proxy::TlsContexts::load(*loaded.config, errors), nullptr);
    return errors.empty() ? std::string() : errors.front();
  };
  EXPECT_NE(errors_of("upstream: http://127.0.0.1:9\ntls: { cert: /nonexistent.crt, key: " +
                      certs.path("server.key") + " }\n")
                .find("t.yaml:4:14: tls.cert: cannot read /nonexistent.crt: No such file or "
                      "directory"),
            std::string::npos);
  EXPECT_NE(errors_of("upstream: http://127.0.0.1:9\ntls: { cert: " + certs.path("server.crt") +
                      ", key: " + certs.path("client.key") + " }\n")
                .find("tls.key: cannot load " + certs.path("client.key") + ": key values mismatch"),
            std::string::npos);
  EXPECT_NE(errors_of("upstream: https://127.0.0.1:9\nupstream_tls: { ca: " +
                      certs.path("server.key") + " }\n")
                .find("t.yaml:4:21: upstream_tls.ca: cannot load"),
            std::string::npos);
}

}  // namespace
}  // namespace sluice::testing
