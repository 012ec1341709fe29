#pragma once
// One spelling per path, key and host (DESIGN §3a). A client may write "/admin" as "//admin",
// "/x/../admin" or "/%61dmin", and the upstream will read them all as "/admin": sluice matches
// routes on, keys on and forwards the one canonical form, so no spelling gets around a limit.

#include <optional>
#include <string>
#include <string_view>

namespace sluice::uri {

// What to do with %2F and %5C, which upstreams disagree on (a path separator or a byte).
enum class EscapedSlashes { keep, reject, decode };

constexpr std::string_view to_string(EscapedSlashes e) noexcept {
  return e == EscapedSlashes::keep ? "keep" : e == EscapedSlashes::reject ? "reject" : "decode";
}

struct PathOptions {
  bool merge_slashes = true;
  EscapedSlashes escaped_slashes = EscapedSlashes::keep;
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
struct Lookup {
  enum class State { missing, found, ambiguous, malformed };
  State state = State::missing;
  std::string value;
};
// Query parameters are compared and returned decoded (form_decode).
Lookup find_query_param(std::string_view query, std::string_view name);

// The query string with the values of `name` replaced by "***", for logs.
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
