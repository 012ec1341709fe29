#pragma once
// What a request must be before sluice serves it, as pure functions over its bytes and parsed
// head: the session calls them in order, and so do the unit tests and the fuzzers.

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "sluice/config/config.hpp"
#include "sluice/core/ip.hpp"
#include "sluice/core/uri.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/client_head.hpp"

namespace sluice::proxy {

// A request sluice answers itself instead of serving: the status and why.
struct Refusal {
  unsigned status = 400;
  std::string detail;
};

// The raw head, before Beast parses it: Beast accepts obs-fold (unfolding it) and bare LF line
// ends, and a proxy must refuse what its upstream might read differently.
std::optional<Refusal> check_head_bytes(std::string_view head);

// Whether `data` (the start of a request) can still be HTTP: a method token up to the first
// space. A TLS hello, say, is refused at once rather than waited on.
bool starts_like_http(std::string_view data);

// Framing a proxy cannot be sure of is refused, never forwarded (request smuggling); so are
// versions other than 1.0 and 1.1 and heads with too many fields.
std::optional<Refusal> check_framing(const ClientHead& request, bool chunked);

// The request target as sluice matches and forwards it (README, "No way around a limit by
// spelling").
struct Target {
  std::string path;       // canonical; what routes match
  std::string query;      // as sent
  std::string forwarded;  // the origin-form target sent upstream ("*" for OPTIONS *)
  std::string host;       // canonical, what `match.host` compares
  std::string authority;  // absolute-form only: the URI's host[:port], forwarded as Host
};
std::variant<Target, Refusal> resolve_target(http::verb method, std::string_view target,
                                             std::string_view host_header,
                                             const uri::PathOptions& options);

// A request head as sluice serves it: framing checked, the target resolved (and `request`
// rewritten to the forwarded origin form, with the URI's host as Host for an absolute target),
// the client found behind trusted proxies, the route matched. `peer_text`: `peer` rendered (the
// connection did it once for all its requests). The session's admission runs
// exactly this, and so does the request-head fuzzer, so the two cannot drift apart.
struct ReadRequest {
  Target target;
  IpAddress client;
  std::string client_text;  // as logs show it
  std::string client_key;   // as keys render it (limit::client_key_text)
  const config::Route* route = nullptr;
};
std::variant<ReadRequest, Refusal> read_request(ClientHead& request, bool chunked,
                                                const IpAddress& peer, std::string_view peer_text,
                                                const config::Config& config);

// A request's key inputs as the limiter reads them, from the parsed head.
class HeadFacts final : public limit::RequestFacts {
 public:
  // Who sent it: the client address as keys render it, and a verified certificate's subject.
  struct Client {
    std::string_view key;
    std::string_view cert;  // empty without a client certificate
  };
  HeadFacts(const ClientHead& fields, std::string_view query, Client client)
      : fields_(fields), query_(query), client_(client) {}
  [[nodiscard]] uri::Lookup header(std::string_view name) const override;
  [[nodiscard]] uri::Lookup query(std::string_view param) const override;
  [[nodiscard]] std::string_view client_ip() const override { return client_.key; }
  [[nodiscard]] std::string_view client_cert() const override { return client_.cert; }

 private:
  const ClientHead& fields_;
  std::string_view query_;
  Client client_;
};

}  // namespace sluice::proxy
