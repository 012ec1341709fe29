#include "sluice/proxy/tls.hpp"

#include <map>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace sluice::proxy {
namespace {

using FilePositions = std::map<std::string, std::string, std::less<>>;

// ALPN's wire form: length-prefixed protocols, in the server's order of preference.
constexpr std::array<unsigned char, 9> kAlpnHttp11 = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr std::array<unsigned char, 12> kAlpnH2Http11 = {2,   'h', '2', 8,   'h', 't',
                                                         't', 'p', '/', '1', '.', '1'};

// TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3's defaults are all of that kind):
// Mozilla's "intermediate" list, which every client of the last decade speaks.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Settings both sides share. SSL_MODE_RELEASE_BUFFERS as nginx sets it, though behind Asio's
// ssl::stream (its own 2 × 17 KB buffers and a BIO pair) it measured neutral: 69.3 k against
// 69.2 k instructions per request and 77 KB per idle connection either way (docs/BENCHMARKS.md).
void common_settings(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_cipher_list(ctx, kTls12Ciphers);
}

// Answers ALPN with h2 (when `arg` is non-null: http2.enabled) or http/1.1, whichever the client
// offers first in the server's order; a client offering neither gets no ALPN answer (as from
// nginx) rather than a failed handshake.
int select_protocol(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length,
                    const unsigned char* offered, unsigned int offered_length, void* arg) {
  unsigned char* selected = nullptr;
  const bool h2 = arg != nullptr;
  const unsigned char* ours = h2 ? kAlpnH2Http11.data() : kAlpnHttp11.data();
  const unsigned ours_length = h2 ? kAlpnH2Http11.size() : kAlpnHttp11.size();
  if (SSL_select_next_proto(&selected, out_length, ours, ours_length, offered, offered_length) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// Loads one file with `load`, reporting "field: cannot load PATH: why". A file that cannot be
// read at all is said so in the system's words, not OpenSSL's.
// The field is named where the config wrote the file ("sluice.yaml:5:9: tls.cert") when the
// loader recorded its place.
// A file the config names, and the field that names it.
struct NamedFile {
  std::string field;
  const std::string& path;
};

template <class Load>
bool load_file(const NamedFile& file, const FilePositions& where, std::vector<std::string>& errors,
               Load load) {
  const std::string& path = file.path;
  const auto written = where.find(path);
  const std::string& name = written != where.end() ? written->second : file.field;
  if (::access(path.c_str(), R_OK) != 0) {
    errors.push_back(name + ": cannot read " + path + ": " + std::strerror(errno));
    return false;
  }
  error_code ec;
  load(ec);
  if (ec) errors.push_back(name + ": cannot load " + path + ": " + ec.message());
  return !ec;
}

std::shared_ptr<ssl::context> listener_context(const config::ListenerTls& tls, bool offer_h2,
                                               const FilePositions& where,
                                               std::vector<std::string>& errors) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  common_settings(native);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  // The callback's argument only says yes or no: any non-null pointer will do.
  static int h2_offered = 1;
  SSL_CTX_set_alpn_select_cb(native, select_protocol, offer_h2 ? &h2_offered : nullptr);
  const bool cert = load_file({"tls.cert", tls.cert}, where, errors, [&](error_code& ec) {
    ctx->use_certificate_chain_file(tls.cert, ec);
  });
  const bool key = load_file({"tls.key", tls.key}, where, errors, [&](error_code& ec) {
    ctx->use_private_key_file(tls.key, ssl::context::pem, ec);
  });
  if (cert && key && SSL_CTX_check_private_key(native) != 1) {
    errors.push_back("tls.key: " + tls.key + " is not the key of the certificate in " + tls.cert);
  }
  if (!tls.client_ca.empty()) {
    load_file({"tls.client_ca", tls.client_ca}, where, errors, [&](error_code& ec) {
      ctx->load_verify_file(tls.client_ca, ec);
      if (ec) return;
      // The CA names the server sends in its request, so a client with several certificates
      // picks the right one.
      SSL_CTX_set_client_CA_list(native, SSL_load_client_CA_file(tls.client_ca.c_str()));
      ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    });
    // Sessions are resumed only where they were verified: OpenSSL refuses to resume a session
    // of a verifying server that has no session id context.
    static constexpr unsigned char kSessionContext[] = "sluice";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  }
  return ctx;
}

// How a client context checks the server it connects to: against `ca` (or the system CA store),
// or not at all when `insecure`. `field` names the setting in errors.
void verify_server(ssl::context& ctx, const std::string& ca, bool insecure,
                   const std::string& field, const FilePositions& where,
                   std::vector<std::string>& errors) {
  error_code ec;
  if (insecure) {
    ctx.set_verify_mode(ssl::verify_none, ec);
    return;
  }
  ctx.set_verify_mode(ssl::verify_peer, ec);
  if (ca.empty()) {
    ctx.set_default_verify_paths(ec);
    if (ec) errors.push_back(field + ": cannot load the system CA store: " + ec.message());
  } else {
    load_file({field + ".ca", ca}, where, errors,
              [&](error_code& load_ec) { ctx.load_verify_file(ca, load_ec); });
  }
}

std::shared_ptr<ssl::context> upstream_context(const config::UpstreamTls& tls,
                                               const std::string& field, const FilePositions& where,
                                               std::vector<std::string>& errors) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  common_settings(native);
  SSL_CTX_set_alpn_protos(native, kAlpnHttp11.data(), kAlpnHttp11.size());
  verify_server(*ctx, tls.ca, tls.insecure, field, where, errors);
  return ctx;
}

// The client context of every connection to Redis (redis.tls, or a rediss:// address): verified
// like an https:// upstream, with a client certificate for a Redis that asks for one.
std::shared_ptr<ssl::context> redis_context(const config::RedisTls& tls, const FilePositions& where,
                                            std::vector<std::string>& errors) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  common_settings(ctx->native_handle());
  verify_server(*ctx, tls.ca, tls.insecure, "redis.tls", where, errors);
  if (!tls.cert.empty()) {
    const bool cert = load_file({"redis.tls.cert", tls.cert}, where, errors, [&](error_code& e) {
      ctx->use_certificate_chain_file(tls.cert, e);
    });
    const bool key = load_file({"redis.tls.key", tls.key}, where, errors, [&](error_code& e) {
      ctx->use_private_key_file(tls.key, ssl::context::pem, e);
    });
    if (cert && key && SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      errors.push_back("redis.tls.key: " + tls.key + " is not the key of the certificate in " +
                       tls.cert);
    }
  }
  return ctx;
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

std::shared_ptr<const TlsContexts> TlsContexts::load(const config::Config& config,
                                                     std::vector<std::string>& errors) {
  auto contexts = std::make_shared<TlsContexts>();
  const std::size_t errors_before = errors.size();
  if (config.tls) {
    contexts->listener_ =
        listener_context(*config.tls, config.http2.enabled, config.file_positions, errors);
  }
  auto add = [&](const std::optional<config::UpstreamTarget>& target, const std::string& field) {
    if (!target || !target->tls) return;
    const auto id = std::make_pair(target->tls->ca, target->tls->insecure);
    if (!contexts->upstream_.contains(id)) {
      contexts->upstream_[id] =
          upstream_context(*target->tls, field, config.file_positions, errors);
    }
  };
  add(config.upstream, "upstream_tls");
  if (config.redis && config.redis->tls) {
    contexts->redis_ = redis_context(*config.redis->tls, config.file_positions, errors);
  }
  for (const config::Route& route : config.routes) {
    add(route.upstream, "routes[" + route.name + "].upstream_tls");
  }
  if (errors.size() != errors_before) return nullptr;
  return contexts;
}

std::shared_ptr<ssl::context> TlsContexts::upstream(const config::UpstreamTls& tls) const {
  const auto it = upstream_.find(std::make_pair(tls.ca, tls.insecure));
  return it == upstream_.end() ? nullptr : it->second;
}

std::string_view to_string(Side side) noexcept {
  return side == Side::upstream ? "upstream" : "downstream";
}

std::string_view to_string(HandshakeFailure f) noexcept {
  switch (f) {
    case HandshakeFailure::timeout:
      return "timeout";
    case HandshakeFailure::closed:
      return "closed";
    case HandshakeFailure::plain_http:
      return "plain_http";
    case HandshakeFailure::protocol:
      return "protocol";
    case HandshakeFailure::certificate:
      return "certificate";
  }
  return "protocol";
}

HandshakeFailure classify_handshake_failure(const error_code& ec, bool timed_out) {
  if (timed_out) return HandshakeFailure::timeout;
  if (ec.category() != asio::error::get_ssl_category()) return HandshakeFailure::closed;
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return HandshakeFailure::plain_http;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return HandshakeFailure::certificate;
    default:
      return HandshakeFailure::protocol;
  }
}

void offer_h2_only(TlsStream& tls) {
  static constexpr std::array<unsigned char, 3> kAlpnH2 = {2, 'h', '2'};
  SSL_set_alpn_protos(tls.native_handle(), kAlpnH2.data(), kAlpnH2.size());
}

bool negotiated_h2(TlsStream& tls) {
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(tls.native_handle(), &protocol, &length);
  return length == 2 && protocol[0] == 'h' && protocol[1] == '2';
}

std::string verified_peer_name(TlsStream& tls) {
  SSL* ssl = tls.native_handle();
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  unsigned char* utf8 = nullptr;
  const int length =
      ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
  if (length < 0) return {};
  std::string name(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return name;
}

void prepare_upstream_handshake(TlsStream& tls, const config::UpstreamTarget& target,
                                SSL_SESSION* resume) {
  SSL* ssl = tls.native_handle();
  const bool ip = is_ip_literal(target.host);
  // SNI names hosts only (RFC 6066 §3): an address is not sent.
  if (!ip) SSL_set_tlsext_host_name(ssl, target.host.c_str());
  if (target.tls && !target.tls->insecure) {
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), target.host.c_str());
    } else {
      SSL_set1_host(ssl, target.host.c_str());
    }
  }
  if (resume != nullptr) SSL_set_session(ssl, resume);
}

std::string upstream_handshake_error(TlsStream& tls, const error_code& ec) {
  const long result = SSL_get_verify_result(tls.native_handle());
  if (result != X509_V_OK) {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(result);
  }
  return "TLS handshake failed: " + ec.message();
}

void SessionFree::operator()(SSL_SESSION* session) const noexcept {
  SSL_SESSION_free(session);
}

// A copy, not the connection's own session: OpenSSL marks that one unresumable when the
// connection ends without close_notify, as pooled upstream connections do.
TlsSession resumable_session(TlsStream& tls) {
  const SSL_SESSION* current = SSL_get0_session(tls.native_handle());
  if (current == nullptr || SSL_SESSION_is_resumable(current) != 1) return nullptr;
  return TlsSession(SSL_SESSION_dup(current));
}

}  // namespace sluice::proxy
