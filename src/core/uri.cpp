#include "sluice/core/uri.hpp"

#include <strings.h>

#include "sluice/core/ascii.hpp"

namespace sluice::uri {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte of "%XY" at `text[i]`, or -1 when it is not a well-formed escape.
int escaped_byte(std::string_view text, std::size_t i) noexcept {
  if (i + 2 >= text.size()) return -1;
  const int high = hex_value(text[i + 1]);
  const int low = hex_value(text[i + 2]);
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

bool unreserved(int byte) noexcept {
  return (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
         (byte >= '0' && byte <= '9') || byte == '-' || byte == '.' || byte == '_' || byte == '~';
}

void append_escape(std::string& out, int byte) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += '%';
  out += kHex[byte >> 4];
  out += kHex[byte & 0xf];
}

// RFC 3986 §6.2.2.1-2 on a whole path: one spelling per octet.
std::optional<std::string> normalize_escapes(std::string_view path, EscapedSlashes slashes,
                                             std::string& error) {
  std::string out;
  out.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    const auto c = static_cast<unsigned char>(path[i]);
    if (c <= ' ' || c == 0x7f) {
      // HTTP parsers refuse these in a target; a caller that did not must not pass them on.
      error = "control character or space in the path";
      return std::nullopt;
    }
    if (c != '%') {
      out += path[i];
      continue;
    }
    const int byte = escaped_byte(path, i);
    if (byte < 0) {
      error = "malformed percent-encoding in the path";
      return std::nullopt;
    }
    i += 2;
    if (byte == 0) {
      error = "the path decodes to a NUL byte";
      return std::nullopt;
    }
    if (byte == '/' || byte == '\\') {
      if (slashes == EscapedSlashes::reject) {
        error = "encoded slash (%2F or %5C) in the path";
        return std::nullopt;
      }
      if (slashes == EscapedSlashes::decode) {
        out += static_cast<char>(byte);
      } else {
        append_escape(out, byte);
      }
    } else if (unreserved(byte)) {
      out += static_cast<char>(byte);
    } else {
      append_escape(out, byte);
    }
  }
  return out;
}

// Slash merging and RFC 3986 §5.2.4 dot-segment removal in one walk over the segments; where
// the RFC stops at the root ("/.." is "/"), sluice refuses: no honest client climbs there.
std::optional<std::string> remove_dot_segments(std::string_view path, bool merge_slashes,
                                               std::string& error) {
  std::string out;  // "/seg" per kept segment
  out.reserve(path.size());
  bool trailing_slash = false;
  for (std::size_t pos = 1;;) {
    const std::size_t next = path.find('/', pos);
    const bool last = next == std::string_view::npos;
    const std::string_view segment = path.substr(pos, last ? std::string_view::npos : next - pos);
    if (segment == "..") {
      if (out.empty()) {
        error = "the path climbs above the root";
        return std::nullopt;
      }
      out.erase(out.rfind('/'));
      trailing_slash = last;
    } else if (segment == ".") {
      trailing_slash = last;
    } else if (!segment.empty() || last || !merge_slashes) {
      out += '/';
      out += segment;
    }
    if (last) break;
    pos = next + 1;
  }
  if (trailing_slash || out.empty()) out += '/';
  return out;
}

}  // namespace

std::optional<std::string> normalize_path(std::string_view path, const PathOptions& options,
                                          std::string& error) {
  if (!path.starts_with('/')) {
    error = "the path must start with /";
    return std::nullopt;
  }
  const auto escaped = normalize_escapes(path, options.escaped_slashes, error);
  if (!escaped) return std::nullopt;
  return remove_dot_segments(*escaped, options.merge_slashes, error);
}

std::optional<std::string> form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] != '%') {
      out += text[i];
    } else {
      const int byte = escaped_byte(text, i);
      if (byte < 0) return std::nullopt;
      out += static_cast<char>(byte);
      i += 2;
    }
  }
  return out;
}

namespace {

// Calls `visit(raw_name, raw_value, has_value)` for each non-empty pair of a query string.
template <typename Visit>
void for_each_pair(std::string_view query, Visit&& visit) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      visit(pair.substr(0, eq),
            eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

}  // namespace

Lookup find_query_param(std::string_view query, std::string_view name) {
  Lookup found;
  for_each_pair(query, [&](std::string_view raw_name, std::string_view raw_value) {
    if (found.state == Lookup::State::malformed) return;
    const auto decoded_name = form_decode(raw_name);
    // A name that cannot be decoded might be the one asked for: nothing can be decided.
    if (!decoded_name) {
      found = {Lookup::State::malformed, {}};
      return;
    }
    if (!equals_ignoring_case(*decoded_name, name)) return;
    if (found.state == Lookup::State::found) {
      found.state = Lookup::State::ambiguous;
      return;
    }
    if (found.state == Lookup::State::ambiguous) return;
    auto value = form_decode(raw_value);
    found = value ? Lookup{Lookup::State::found, std::move(*value)}
                  : Lookup{Lookup::State::malformed, {}};
  });
  return found;
}

std::string mask_query_param(std::string_view query, std::string_view name) {
  std::string out;
  out.reserve(query.size());
  for (bool first = true; !query.empty(); first = false) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!first) out += '&';
    const auto eq = pair.find('=');
    const auto decoded_name = form_decode(pair.substr(0, eq));
    if (eq != std::string_view::npos && decoded_name && equals_ignoring_case(*decoded_name, name)) {
      out.append(pair.substr(0, eq + 1)).append("***");
    } else {
      out.append(pair);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::string canonical_host(std::string_view host) {
  if (host.starts_with('[')) {
    const auto end = host.find(']');
    if (end != std::string_view::npos) host = host.substr(0, end + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  while (host.ends_with('.')) host.remove_suffix(1);
  return ascii_lower(host);
}

std::optional<AbsoluteTarget> split_absolute_target(std::string_view target) {
  std::size_t scheme_end = 0;
  if (target.size() > 7 && ::strncasecmp(target.data(), "http://", 7) == 0) {
    scheme_end = 7;
  } else if (target.size() > 8 && ::strncasecmp(target.data(), "https://", 8) == 0) {
    scheme_end = 8;
  } else {
    return std::nullopt;
  }
  const std::string_view rest = target.substr(scheme_end);
  const auto authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  const std::string_view authority = rest.substr(0, authority_end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  AbsoluteTarget out{std::string(authority), std::string(rest.substr(authority_end))};
  if (!out.origin.starts_with('/')) out.origin.insert(0, "/");
  return out;
}

}  // namespace sluice::uri
