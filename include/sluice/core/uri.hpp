#pragma once
// One spelling per path, key and host (README, "No way around a limit by spelling"). A client may
// write "/admin" as "//admin", "/x/../admin" or "/%61dmin", and the upstream will read them all
// as "/admin": sluice matches routes on, keys on and forwards the one canonical form, so no
// spelling gets around a limit.

#include <optional>
#include <string>
#include <string_view>

namespace sluice::uri {

// What to do with %2F and %5C, which upstreams disagree on (a path separator or a byte).
// match_decoded: routes see them decoded (as nginx serves them), the upstream gets them as sent.
enum class EscapedSlashes { match_decoded, keep, reject, decode };

inline constexpr EscapedSlashes kEscapedSlashes[] = {EscapedSlashes::match_decoded,
                                                     EscapedSlashes::keep, EscapedSlashes::reject,
                                                     EscapedSlashes::decode};

constexpr std::string_view to_string(EscapedSlashes e) noexcept {
  switch (e) {
    case EscapedSlashes::match_decoded:
      return "match_decoded";
    case EscapedSlashes::keep:
      return "keep";
    case EscapedSlashes::reject:
      return "reject";
    case EscapedSlashes::decode:
      return "decode";
  }
  return "keep";
}

struct PathOptions {
  bool merge_slashes = true;
  EscapedSlashes escaped_slashes = EscapedSlashes::match_decoded;
};

// The canonical form of an origin-form path ("/a/b", no query), or nullopt with `error` set.
// In order: percent-encodings of unreserved characters decoded and the others upper-cased
// (RFC 3986 §6.2.2.1-2), %2F/%5C as `options` say, repeated slashes merged, dot segments removed
// (§5.2.4). Refused: a malformed escape, a decoded NUL, a path that climbs above the root.
std::optional<std::string> normalize_path(std::string_view path, const PathOptions& options,
                                          std::string& error);

// A query component as application/x-www-form-urlencoded: percent-decoded, '+' as a space.
// Nullopt on a malformed escape.
std::optional<std::string> form_decode(std::string_view text);

// A header or query parameter looked up by name: missing, found once (its value), found more
// than once (ambiguous: frameworks disagree on which one counts), or malformed.
// A header may also come under a look-alike name: `X_Api_Key` for `X-Api-Key`, which CGI, WSGI
// and Rack map to the same variable (`value` then holds the name it came under).
struct Lookup {
  enum class State { missing, found, ambiguous, malformed, lookalike };
  State state = State::missing;
  std::string value;
};
// Query parameters are compared decoded (form_decode) and, as nginx's $arg_ and PHP-less
// frameworks that fold case read them, case-insensitively: `API_KEY=a&api_key=b` is ambiguous,
// not two different parameters. The value is returned decoded.
Lookup find_query_param(std::string_view query, std::string_view name);

// The query string with the values of `name` (any spelling, any case) replaced by "***", for logs.
std::string mask_query_param(std::string_view query, std::string_view name);

// A Host header value as routes match it: lower-cased, without port and trailing dot.
std::string canonical_host(std::string_view host);

// An absolute-form request target (RFC 9112 §3.2.2) split into authority and origin-form.
struct AbsoluteTarget {
  std::string authority;  // host[:port], the Host the request is forwarded with
  std::string origin;     // "/path?query", "/" when the URI has no path
};
// Nullopt when `target` is not an http(s) URI with an authority and no user info.
std::optional<AbsoluteTarget> split_absolute_target(std::string_view target);

}  // namespace sluice::uri
