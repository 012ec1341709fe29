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

// Line ends only are looked at, found with memchr: a test of every byte cost 450 instructions
// per request. Every LF must follow a CR and start no continuation line, and there must be as
// many CRs as LFs: then no CR stands alone either.
std::optional<Refusal> check_head_bytes(std::string_view head) {
  std::size_t line_feeds = 0;
  for (std::size_t at = head.find('\n'); at != std::string_view::npos;
       at = head.find('\n', at + 1)) {
    ++line_feeds;
    if (at == 0 || head[at - 1] != '\r') return Refusal{400, "bare LF in the request head"};
    if (at + 1 < head.size() && (head[at + 1] == ' ' || head[at + 1] == '\t')) {
      return Refusal{400, "obsolete line folding in a header field"};
    }
  }
  if (static_cast<std::size_t>(std::count(head.begin(), head.end(), '\r')) != line_feeds) {
    return Refusal{400, "bare CR in the request head"};
  }
  return std::nullopt;
}

bool starts_like_http(std::string_view data) {
  const auto method_end = std::min(data.find(' '), data.size());
  return std::all_of(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(method_end),
                     is_tchar);
}

std::optional<Refusal> check_framing(const ClientHead& request, bool chunked) {
  const unsigned version = request.version();
  if (version != kHttp10 && version != kHttp11) {
    return Refusal{505, "only HTTP/1.0 and HTTP/1.1 are supported"};
  }
  // One pass, by Beast's field enum: a lookup by name walks Beast's field tree with a
  // case-insensitive compare per node, and four of them cost 600 instructions per request.
  std::ptrdiff_t fields = 0;
  std::size_t content_lengths = 0;
  std::size_t transfer_encodings = 0;
  std::size_t hosts = 0;
  std::string_view transfer_encoding;
  for (const auto& field : request) {
    ++fields;
    switch (field.name()) {
      case http::field::content_length:
        ++content_lengths;
        break;
      case http::field::transfer_encoding:
        ++transfer_encodings;
        transfer_encoding = view(field.value());
        break;
      case http::field::host:
        ++hosts;
        break;
      default:
        break;
    }
  }
  if (fields > kMaxHeaderFields) return Refusal{431, "too many header fields"};
  if (content_lengths > 0 && transfer_encodings > 0) {
    return Refusal{400, "both Content-Length and Transfer-Encoding"};
  }
  if (transfer_encodings > 0 && !chunked) {
    return Refusal{400, "Transfer-Encoding other than chunked"};
  }
  if (transfer_encodings > 1 || (chunked && !beast::iequals(transfer_encoding, "chunked"))) {
    return Refusal{400, "Transfer-Encoding must be exactly chunked"};
  }
  if (version == kHttp10 && chunked) {
    return Refusal{400, "chunked encoding in an HTTP/1.0 request"};
  }
  if (hosts > 1 || (version == kHttp11 && hosts == 0)) {
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

std::variant<ReadRequest, Refusal> read_request(ClientHead& request, bool chunked,
                                                const IpAddress& peer, std::string_view peer_text,
                                                const config::Config& config) {
  if (auto refusal = check_framing(request, chunked)) return std::move(*refusal);
  // Host and X-Forwarded-For in one pass. Their views are the head's: used before the head is
  // rewritten below, which may move its bytes.
  std::string_view host;
  std::string_view forwarded_for;
  std::size_t forwarded_lines = 0;
  for (const auto& field : request) {
    if (field.name() == http::field::host) {
      host = view(field.value());
    } else if (field.name() == http::field::unknown &&
               beast::iequals(field.name_string(), "X-Forwarded-For")) {
      ++forwarded_lines;
      forwarded_for = view(field.value());
    }
  }
  auto resolved = resolve_target(request.method(), view(request.target()), host, config.http.paths);
  if (auto* refusal = std::get_if<Refusal>(&resolved)) return std::move(*refusal);
  ReadRequest out{std::move(std::get<Target>(resolved)), {}, {}, {}, nullptr};
  // Most requests carry no X-Forwarded-For, or one line: no list is built for them.
  out.client = forwarded_lines == 0 ? peer
               : forwarded_lines == 1
                   ? limit::client_address(peer, forwarded_for, config.trusted_proxies)
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
  request.target(out.target.forwarded);
  if (!out.target.authority.empty()) request.set(http::field::host, out.target.authority);
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
