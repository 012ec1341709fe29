#include "support/tls_support.hpp"

#include <openssl/ssl.h>
#include <unistd.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace sluice::testing {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

void run(const std::string& command) {
  if (std::system((command + " 2>/dev/null >/dev/null").c_str()) != 0) {
    throw std::runtime_error("failed: " + command);
  }
}

}  // namespace

TestCertificates::TestCertificates()
    : dir_("/tmp/sluice-test-certs-" + std::to_string(::getpid()) + "-" +
           std::to_string(reinterpret_cast<std::uintptr_t>(this))) {
  std::filesystem::create_directories(dir_);
  const std::string d = dir_ + "/";
  const std::string ec_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  auto ca = [&](const std::string& name, const std::string& cn) {
    run("openssl req -x509 " + ec_key + " -keyout " + d + name + ".key -out " + d + name +
        ".crt -days 2 -subj '/CN=" + cn + "'");
  };
  // Signs `key`'s request as `cn`, valid for `days` (negative: expired), with `names`.
  auto sign = [&](const std::string& name, const std::string& key, const std::string& cn,
                  const std::string& by, const std::string& names, int days) {
    const std::string ext = d + name + ".ext";
    std::ofstream(ext) << (names.empty() ? "basicConstraints=CA:FALSE\n"
                                         : "subjectAltName=" + names + "\n");
    run("openssl req -new -key " + d + key + ".key -out " + d + name + ".csr -subj '/CN=" + cn +
        "'");
    run("openssl x509 -req -in " + d + name + ".csr -CA " + d + by + ".crt -CAkey " + d + by +
        ".key -CAcreateserial -out " + d + name + ".crt -days " + std::to_string(days) +
        " -extfile " + ext);
  };
  auto key = [&](const std::string& name) {
    run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out " + d + name +
        ".key");
  };
  ca("ca", "sluice test CA");
  ca("other-ca", "another CA");
  key("server");
  sign("server", "server", "localhost", "ca", "DNS:localhost,IP:127.0.0.1", 2);
  sign("renewed", "server", "renewed.localhost", "ca", "DNS:localhost,IP:127.0.0.1", 2);
  sign("wrong-name", "server", "example.invalid", "ca", "DNS:example.invalid", 2);
  sign("expired", "server", "localhost", "ca", "DNS:localhost,IP:127.0.0.1", -1);
  key("client");
  sign("client", "client", "client-one", "ca", "", 2);
  key("client2");
  sign("client2", "client2", "client-two", "ca", "", 2);
  key("stranger");
  sign("stranger", "stranger", "stranger", "other-ca", "", 2);
}

TestCertificates::~TestCertificates() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

TlsUpstream::TlsUpstream(const std::string& cert, const std::string& key, Connections connections)
    : context_(ssl::context::tls_server),
      connections_(connections),
      server_([this](LoopbackServer::Socket& s, int) { serve(s); }) {
  context_.use_certificate_chain_file(cert);
  context_.use_private_key_file(key, ssl::context::pem);
}

void TlsUpstream::serve(LoopbackServer::Socket& socket) {
  ssl::stream<tcp::socket&> stream(socket, context_);
  boost::system::error_code ec;
  stream.handshake(ssl::stream_base::server, ec);
  if (ec) return;  // a client that refused our certificate, as tests intend
  handshakes_.fetch_add(1);
  if (SSL_session_reused(stream.native_handle()) != 0) resumed_.fetch_add(1);
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    http::read(stream, buffer, req, ec);
    if (ec) break;
    requests_.fetch_add(1);
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain");
    res.body() = "tls:" + std::string(req[http::field::host]);
    res.prepare_payload();
    const bool keep_alive = req.keep_alive() && connections_ == Connections::keep_alive;
    res.keep_alive(keep_alive);
    http::write(stream, res, ec);
    if (ec || !keep_alive) break;
  }
  stream.shutdown(ec);
}

namespace {

ssl::context client_context(const std::string& ca, const TlsClient::Identity& identity) {
  ssl::context context(ssl::context::tls_client);
  context.load_verify_file(ca);
  context.set_verify_mode(ssl::verify_peer);
  if (!identity.cert.empty()) {
    context.use_certificate_chain_file(identity.cert);
    context.use_private_key_file(identity.key, ssl::context::pem);
  }
  return context;
}

}  // namespace

TlsClient::TlsClient(std::uint16_t port, const std::string& ca, const Identity& identity)
    : context_(client_context(ca, identity)), stream_(io_, context_) {
  // An HTTP/1.1 client offers what it speaks: offered h2 too, it would be given h2.
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_set_alpn_protos(stream_.native_handle(), kAlpn, sizeof kAlpn);
  SSL_set_tlsext_host_name(stream_.native_handle(), "localhost");
  SSL_set1_host(stream_.native_handle(), "localhost");
  stream_.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  stream_.handshake(ssl::stream_base::client);
}

std::string TlsClient::alpn() {
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(stream_.native_handle(), &data, &length);
  return {reinterpret_cast<const char*>(data), length};
}

std::string TlsClient::server_name() {
  X509* cert = SSL_get0_peer_certificate(stream_.native_handle());
  if (cert == nullptr) return {};
  char name[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof name);
  return name;
}

Response TlsClient::request(const std::string& method, const std::string& target,
                            const Headers& headers) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "localhost");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.prepare_payload();
  http::write(stream_, req);
  http::response<http::string_body> res;
  http::read(stream_, buffer_, res);
  return to_response(std::move(res));
}

}  // namespace sluice::testing
