#include "sluice/proxy/request_checks.hpp"

#include <algorithm>

#include "sluice/config/router.hpp"
#include "sluice/core/ascii.hpp"
#include "sluice/core/token.hpp"
#include "sluice/proxy/headers.hpp"

namespace sluice::proxy {
namespace {

constexpr std::ptrdiff_t kMaxHeaderFields = 100;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<Refusal> check_head_bytes(std::string_view head) {
  for (std::size_t i = 0; i + 1 < head.size(); ++i) {
    if (head[i] == '\r' && head[i + 1] != '\n') return Refusal{400, "bare CR in the request head"};
    if (head[i + 1] == '\n' && head[i] != '\r') return Refusal{400, "bare LF in the request head"};
    if (head[i] == '\n' && (head[i + 1] == ' ' || head[i + 1] == '\t')) {
      return Refusal{400, "obsolete line folding in a header field"};
    }
  }
  return std::nullopt;
}

bool starts_like_http(std::string_view data) {
  const auto method_end = std::min(data.find(' '), data.size());
  return std::all_of(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(method_end),
                     is_tchar);
}

std::optional<Refusal> check_framing(const http::request_header<>& request, bool chunked) {
  const unsigned version = request.version();
  if (version != kHttp10 && version != kHttp11) {
    return Refusal{505, "only HTTP/1.0 and HTTP/1.1 are supported"};
  }
  if (std::distance(request.begin(), request.end()) > kMaxHeaderFields) {
    return Refusal{431, "too many header fields"};
  }
  const auto transfer_encodings = request.count(http::field::transfer_encoding);
  if (request.count(http::field::content_length) > 0 && transfer_encodings > 0) {
    return Refusal{400, "both Content-Length and Transfer-Encoding"};
  }
  if (transfer_encodings > 0 && !chunked) {
    return Refusal{400, "Transfer-Encoding other than chunked"};
  }
  if (transfer_encodings > 1 ||
      (chunked && !beast::iequals(request[http::field::transfer_encoding], "chunked"))) {
    return Refusal{400, "Transfer-Encoding must be exactly chunked"};
  }
  if (version == kHttp10 && chunked) {
    return Refusal{400, "chunked encoding in an HTTP/1.0 request"};
  }
  if (request.count(http::field::host) > 1 ||
      (version == kHttp11 && request.count(http::field::host) == 0)) {
    return Refusal{400, "exactly one Host header is required"};
  }
  return std::nullopt;
}

std::variant<Target, Refusal> resolve_target(http::verb method, std::string_view target,
                                             std::string_view host_header,
                                             const uri::PathOptions& options) {
  if (method == http::verb::connect) return Refusal{405, "CONNECT is not supported"};
  // RFC 9112 allows no fragment in a request target; upstreams that drop it would serve "/a#x"
  // as "/a" while the fragment made it a different key or path here.
  if (target.find('#') != std::string_view::npos) {
    return Refusal{400, "a fragment (#) in the request target"};
  }
  Target out;
  if (method == http::verb::options && target == "*") {
    out.path = out.forwarded = "*";
    out.host = uri::canonical_host(host_header);
    return out;
  }
  std::string absolute_origin;
  if (!target.starts_with('/')) {
    // Absolute-form (RFC 9112 §3.2.2): the URI's authority replaces the Host header.
    auto absolute = uri::split_absolute_target(target);
    if (!absolute) {
      return Refusal{400, "the request target must be a path or an http(s) URI"};
    }
    out.authority = std::move(absolute->authority);
    host_header = out.authority;
    absolute_origin = std::move(absolute->origin);
    target = absolute_origin;
  }
  const auto q = target.find('?');
  const std::string_view raw_path = target.substr(0, q);
  if (q != std::string_view::npos) out.query = std::string(target.substr(q + 1));
  std::string error;
  const bool match_decoded = options.escaped_slashes == uri::EscapedSlashes::match_decoded;
  uri::PathOptions forwarding = options;
  if (match_decoded) forwarding.escaped_slashes = uri::EscapedSlashes::keep;
  auto path = uri::normalize_path(raw_path, forwarding, error);
  if (!path) return Refusal{400, std::move(error)};
  std::string forwarded_path = *path;
  if (match_decoded && path->find('%') != std::string::npos) {
    // Routes see %2F and %5C as the separators nginx and most frameworks make of them, so
    // "/x/..%2Fadmin" is matched as "/admin"; the upstream still gets the path as sent.
    uri::PathOptions matching = options;
    matching.escaped_slashes = uri::EscapedSlashes::decode;
    path = uri::normalize_path(raw_path, matching, error);
    if (!path) return Refusal{400, std::move(error)};
  }
  out.path = std::move(*path);
  out.forwarded = q == std::string_view::npos ? forwarded_path : forwarded_path + "?" + out.query;
  out.host = uri::canonical_host(host_header);
  return out;
}

std::variant<ReadRequest, Refusal> read_request(http::request_header<>& request, bool chunked,
                                                const IpAddress& peer, std::string_view peer_text,
                                                const config::Config& config) {
  if (auto refusal = check_framing(request, chunked)) return std::move(*refusal);
  auto resolved = resolve_target(request.method(), view(request.target()),
                                 view(request[http::field::host]), config.http.paths);
  if (auto* refusal = std::get_if<Refusal>(&resolved)) return std::move(*refusal);
  ReadRequest out{std::move(std::get<Target>(resolved)), {}, {}, {}, nullptr};
  request.target(out.target.forwarded);
  if (!out.target.authority.empty()) request.set(http::field::host, out.target.authority);
  // Most requests carry no X-Forwarded-For, or one line: no list is built for them.
  const std::size_t forwarded_lines = request.count("X-Forwarded-For");
  out.client =
      forwarded_lines == 0 ? peer
      : forwarded_lines == 1
          ? limit::client_address(peer, view(request["X-Forwarded-For"]), config.trusted_proxies)
          : limit::client_address(peer, combined_field(request, "X-Forwarded-For"),
                                  config.trusted_proxies);
  // Rendering an address costs ~270 instructions: the connection's is reused, and an IPv4 key
  // is the address itself.
  out.client_text = out.client == peer ? std::string(peer_text) : out.client.to_string();
  out.client_key = out.client.v4 || config.ipv6_prefix >= 128
                       ? out.client_text
                       : limit::client_key_text(out.client, config.ipv6_prefix);
  out.route =
      config::match_route(config, view(request.method_string()), out.target.path, out.target.host);
  return out;
}

namespace {

// Field values the upstream reads byte for byte as sluice does: visible ASCII, SP and HTAB.
// Others (obs-text such as NBSP, controls) are trimmed or decoded by some frameworks and not by
// others, so a key padded with them could be one client to the upstream and many to sluice.
bool plain_field_value(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte >= 0x20 && byte < 0x7f) || byte == '\t';
  });
}

// `X_Api_Key` for `X-Api-Key` (or the other way round): another name to sluice, the same
// header to CGI, WSGI and Rack, which read '_' as '-'.
bool lookalike_name(std::string_view sent, std::string_view name) {
  if (sent.size() != name.size() || beast::iequals(sent, name)) return false;
  const auto fold = [](char c) { return c == '_' ? '-' : ascii_lower(c); };
  for (std::size_t i = 0; i < sent.size(); ++i) {
    if (fold(sent[i]) != fold(name[i])) return false;
  }
  return true;
}

}  // namespace

uri::Lookup HeadFacts::header(std::string_view name) const {
  uri::Lookup found;
  for (const auto& field : fields_) {
    const std::string_view sent = view(field.name_string());
    if (lookalike_name(sent, name)) return {uri::Lookup::State::lookalike, std::string(sent)};
    if (!beast::iequals(sent, name)) continue;
    if (found.state == uri::Lookup::State::found) return {uri::Lookup::State::ambiguous, {}};
    const auto value = view(field.value());
    if (!plain_field_value(value)) return {uri::Lookup::State::malformed, {}};
    found = {uri::Lookup::State::found, std::string(trim(value))};
  }
  return found;
}

uri::Lookup HeadFacts::query(std::string_view param) const {
  return uri::find_query_param(query_, param);
}

}  // namespace sluice::proxy
