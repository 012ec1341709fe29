#pragma once
// TLS for the tests: throwaway certificates made by the `openssl` command, an HTTPS upstream and
// an HTTPS client.

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/loopback_server.hpp"
#include "support/proxy_harness.hpp"

namespace sluice::testing {

// A test CA and what it signed, in a temporary directory removed at destruction:
//   ca.crt           the CA
//   other-ca.crt     a CA that signed nothing here (the "wrong CA")
//   server.crt/.key  CN=localhost, for localhost and 127.0.0.1
//   renewed.crt      the same key and names, CN=renewed.localhost (a renewal)
//   wrong-name.crt   the same key, for example.invalid only
//   expired.crt      the same key and names, expired yesterday
//   client.crt/.key  CN=client-one, a client certificate
//   client2.crt/.key CN=client-two
//   stranger.crt/.key CN=stranger, signed by other-ca
class TestCertificates {
 public:
  TestCertificates();
  ~TestCertificates();
  TestCertificates(const TestCertificates&) = delete;
  TestCertificates& operator=(const TestCertificates&) = delete;
  [[nodiscard]] std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

// An HTTPS upstream on 127.0.0.1:0 (a LoopbackServer): every request gets 200 with
// body "tls:<Host header>". It counts handshakes and how many resumed a session.
class TlsUpstream {
 public:
  // Connection: close after every response, so that each request needs a new connection.
  enum class Connections { keep_alive, close_each };
  TlsUpstream(const std::string& cert, const std::string& key,
              Connections connections = Connections::keep_alive);
  [[nodiscard]] std::uint16_t port() const { return server_.port(); }
  [[nodiscard]] std::string url(const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(server_.port());
  }
  [[nodiscard]] int handshakes() const { return handshakes_.load(); }
  [[nodiscard]] int resumed() const { return resumed_.load(); }
  [[nodiscard]] int requests() const { return requests_.load(); }

 private:
  void serve(LoopbackServer::Socket& socket);

  boost::asio::ssl::context context_;
  Connections connections_;
  std::atomic<int> handshakes_{0};
  std::atomic<int> resumed_{0};
  std::atomic<int> requests_{0};
  LoopbackServer server_;  // last: its threads use the members above
};

// An HTTPS client to sluice's TLS listener that trusts `ca`, optionally with a certificate.
class TlsClient {
 public:
  struct Identity {
    std::string cert;
    std::string key;
  };
  // Connects and completes the handshake; throws on failure.
  TlsClient(std::uint16_t port, const std::string& ca, const Identity& identity = {});
  Response request(const std::string& method, const std::string& target,
                   const Headers& headers = {});
  [[nodiscard]] std::string alpn();
  // The CN of the certificate the server presented.
  [[nodiscard]] std::string server_name();

 private:
  boost::asio::io_context io_;
  boost::asio::ssl::context context_;  // complete before the stream: SSL_new copies it
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace sluice::testing
