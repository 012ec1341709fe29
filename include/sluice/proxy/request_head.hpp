#pragma once
// A request head on its way to an upstream, whatever protocol brought it and whichever carries
// it on: the client's fields as views, with the rules of a forwarding proxy applied in one place
// (RFC 9110 §7.6): the hop-by-hop fields stay on their hop, X-Forwarded-For gains the client,
// X-Forwarded-Proto and X-Request-Id are sluice's, Via gains this hop, and Host is the upstream's
// when the route says so. wire.hpp writes it for HTTP/1.1; http2_request_headers for HTTP/2.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/client_head.hpp"
#include "sluice/proxy/response_head.hpp"

namespace sluice::proxy {

// What the forwarding fields say about how the request reached sluice.
struct Forwarding {
  std::string_view peer;  // the connection's address; empty when not over IP
  unsigned version = kHttp11;
  bool tls = false;
  std::string_view request_id;
  std::string authority;  // the upstream's, when it replaces the client's Host; else empty
};

class UpstreamRequestHead {
 public:
  UpstreamRequestHead(const ClientHead& request, const Forwarding& how);
  // Its views may point into the head itself (the values this hop makes).
  UpstreamRequestHead(const UpstreamRequestHead&) = delete;
  UpstreamRequestHead& operator=(const UpstreamRequestHead&) = delete;

  std::string_view method;
  std::string_view target;
  HeadFields fields;            // Host among them, as it goes out
  bool trailers_asked = false;  // TE: trailers (a gRPC client): an HTTP/2 upstream is told so

  [[nodiscard]] std::string_view host() const noexcept;
  // One Content-Length, whatever the client sent ("5, 5", two equal lines, "05").
  void set_content_length(std::uint64_t length);
  void remove(http::field name);

 private:
  std::string host_;  // the upstream's authority, when it is sent as Host
  std::string forwarded_for_;
  std::string via_;
  std::string content_length_;
};

// The head as HTTP/2 headers for an HTTP/2 upstream: the pseudo-headers, then the fields with
// lower-case names (Host becomes :authority), and "te: trailers" when the client asked for them.
std::vector<std::pair<std::string, std::string>> http2_request_headers(
    const UpstreamRequestHead& head, bool tls_upstream);

}  // namespace sluice::proxy
