#include "sluice/proxy/request_checks.hpp"

#include <algorithm>

#include "sluice/core/token.hpp"

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
  auto path = uri::normalize_path(raw_path, options, error);
  if (!path) return Refusal{400, std::move(error)};
  out.path = std::move(*path);
  out.forwarded = q == std::string_view::npos ? out.path : out.path + "?" + out.query;
  out.host = uri::canonical_host(host_header);
  return out;
}

uri::Lookup HeadFacts::header(std::string_view name) const {
  auto range = fields_.equal_range(name);
  if (range.first == range.second) return {};
  const auto value = trim(view(range.first->value()));
  if (++range.first != range.second) return {uri::Lookup::State::ambiguous, {}};
  return {uri::Lookup::State::found, std::string(value)};
}

uri::Lookup HeadFacts::query(std::string_view param) const {
  return uri::find_query_param(query_, param);
}

}  // namespace sluice::proxy
