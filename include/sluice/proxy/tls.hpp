#pragma once
// TLS both ways (README, "TLS"), through OpenSSL as Asio wraps it: the contexts a config generation
// builds from its certificate files, what a handshake failure is counted as, and what an upstream
// connection checks of its server.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/config/config.hpp"
#include "sluice/proxy/stream.hpp"

namespace sluice::proxy {

// The contexts of one config generation. Built whole or not at all: a file that does not load
// fails the start, --check or the reload, and a failed reload keeps the running contexts.
class TlsContexts {
 public:
  // Null with `errors` filled ("tls.cert: cannot load /etc/…: no start line").
  static std::shared_ptr<const TlsContexts> load(const config::Config& config,
                                                 std::vector<std::string>& errors);

  // The listener's context; null when the listener speaks plain HTTP.
  [[nodiscard]] const std::shared_ptr<ssl::context>& listener() const noexcept { return listener_; }
  // The client context for an https:// upstream with these settings (built by load()).
  [[nodiscard]] std::shared_ptr<ssl::context> upstream(const config::UpstreamTls& tls) const;
  // The client context for Redis; null when Redis is spoken to in clear text.
  [[nodiscard]] const std::shared_ptr<ssl::context>& redis() const noexcept { return redis_; }

 private:
  std::shared_ptr<ssl::context> listener_;
  std::shared_ptr<ssl::context> redis_;
  std::map<std::pair<std::string, bool>, std::shared_ptr<ssl::context>> upstream_;
};

enum class Side { downstream, upstream };
std::string_view to_string(Side side) noexcept;

// Why a handshake failed, as the label `reason` of sluice_tls_handshake_failures_total: a small
// fixed set, so the series stay bounded whatever the peers send.
enum class HandshakeFailure { timeout, closed, plain_http, protocol, certificate };
inline constexpr HandshakeFailure kHandshakeFailures[] = {
    HandshakeFailure::timeout, HandshakeFailure::closed, HandshakeFailure::plain_http,
    HandshakeFailure::protocol, HandshakeFailure::certificate};
std::string_view to_string(HandshakeFailure f) noexcept;
HandshakeFailure classify_handshake_failure(const error_code& ec, bool timed_out);

// Whether the handshake chose HTTP/2 by ALPN.
bool negotiated_h2(TlsStream& tls);
// An upstream connection that will speak HTTP/2: ALPN offers h2 alone.
void offer_h2_only(TlsStream& tls);

// The subject CN of the certificate the peer presented and the handshake verified; empty if none.
std::string verified_peer_name(TlsStream& tls);

// Readies a new upstream connection's handshake: SNI, the host name (or IP address) its
// certificate must name, and a session to resume if one is kept for this upstream.
void prepare_upstream_handshake(TlsStream& tls, const config::UpstreamTarget& target,
                                SSL_SESSION* resume);

// An upstream handshake's failure for the upstream_error event: OpenSSL's verification result
// ("certificate has expired", "hostname mismatch") when verification is what failed.
std::string upstream_handshake_error(TlsStream& tls, const error_code& ec);

// An OpenSSL session kept to resume the next connection to the same upstream.
struct SessionFree {
  void operator()(SSL_SESSION* session) const noexcept;
};
using TlsSession = std::unique_ptr<SSL_SESSION, SessionFree>;
// The connection's session if it can be resumed (TLS 1.3 tickets arrive after the handshake:
// asked again when the connection goes back to the pool).
TlsSession resumable_session(TlsStream& tls);

}  // namespace sluice::proxy
