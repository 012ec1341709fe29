#include "config/reader.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <sstream>

#include "config/text_parsers.hpp"
#include "sluice/core/token.hpp"

namespace sluice::config {

using limit::KeyKind;
using limit::KeySpec;

void Reader::error(const Node& node, std::string_view path, std::string_view message) {
  error_at(node.mark(), path, message);
}

void Reader::error_at(const Mark& mark, std::string_view path, std::string_view message) {
  std::string line = position_at(mark, path);
  line += ": ";
  line += message;
  errors_.push_back(std::move(line));
}

std::string Reader::position(const Node& node, std::string_view path) const {
  return position_at(node.mark(), path);
}

std::string Reader::position_at(const Mark& mark, std::string_view path) const {
  std::ostringstream out;
  out << file_;
  if (mark.line >= 0) out << ':' << mark.line + 1 << ':' << mark.column + 1;
  if (!path.empty()) out << ": " << path;
  return out.str();
}

namespace {

// Levenshtein distance, cut off above `limit` (keys are short; this runs on errors only).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The allowed key a typo most likely meant: within two edits (one for short keys), else none.
std::string_view nearest(std::string_view key, std::initializer_list<std::string_view> allowed) {
  std::string_view best;
  std::size_t best_distance = key.size() <= 4 ? 1 : 2;
  for (std::string_view candidate : allowed) {
    const std::size_t d = edit_distance(key, candidate);
    if (d <= best_distance && (best.empty() || d < best_distance)) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace

void Reader::check_keys(const Node& map, const std::string& path,
                        std::initializer_list<std::string_view> allowed) {
  for (const auto& item : map) {
    const std::string key = item.first.scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      const std::string_view meant = nearest(key, allowed);
      error(item.first, join_path(path, key),
            meant.empty() ? std::string("unknown key")
                          : "unknown key; did you mean " + std::string(meant) + "?");
      maps_with_unknown_keys_.emplace_back(map.mark().line, map.mark().column);
    }
  }
}

const Node& Reader::required(const Node& map, const std::string& path, std::string_view key) {
  const Node& node = map[key];
  // A map with a misspelled key most likely holds this one misspelled: one error, not two.
  const bool misspelled =
      std::find(maps_with_unknown_keys_.begin(), maps_with_unknown_keys_.end(),
                std::pair{map.mark().line, map.mark().column}) != maps_with_unknown_keys_.end();
  if (!node && !misspelled) error(map, join_path(path, key), "is required");
  return node;
}

std::optional<std::string> Reader::scalar(const Node& node, const std::string& path) {
  if (node.reported()) return std::nullopt;
  if (!node.is_scalar()) {
    error(node, path, "must be a scalar");
    return std::nullopt;
  }
  return node.scalar();
}

std::optional<double> Reader::number(const Node& node, const std::string& path) {
  auto text = scalar(node, path);
  if (!text) return std::nullopt;
  auto value = parse_number(*text);
  if (!value) error(node, path, "must be a number");
  return value;
}

std::optional<long long> Reader::integer(const Node& node, const std::string& path) {
  auto text = scalar(node, path);
  if (!text) return std::nullopt;
  long long value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size()) {
    error(node, path, "must be an integer");
    return std::nullopt;
  }
  return value;
}

std::optional<long long> Reader::bounded_integer(const Node& node, const std::string& path,
                                                 long long min, long long max) {
  auto n = integer(node, path);
  if (!n) return std::nullopt;
  if (*n < min || *n > max) {
    error(node, path,
          max == std::numeric_limits<long long>::max()
              ? "must be >= " + std::to_string(min)
              : "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return n;
}

std::optional<bool> Reader::boolean(const Node& node, const std::string& path) {
  auto text = scalar(node, path);
  if (!text) return std::nullopt;
  if (*text == "true") return true;
  if (*text == "false") return false;
  error(node, path, "must be true or false");
  return std::nullopt;
}

std::optional<Nanos> Reader::duration(const Node& node, const std::string& path) {
  auto text = scalar(node, path);
  if (!text) return std::nullopt;
  auto value = parse_duration(*text);
  if (!value && text->starts_with('-')) {
    // "-1s" is a duration, just not a usable one: positive_duration says so.
    if (auto magnitude = parse_duration(text->substr(1))) return -*magnitude;
  }
  if (!value) error(node, path, "must be a duration: seconds (10, 0.5) or 250ms, 10s, 1m, 1h");
  return value;
}

std::optional<Nanos> Reader::positive_duration(const Node& node, const std::string& path) {
  auto value = duration(node, path);
  if (value && *value <= 0) {
    error(node, path, "must be > 0");
    return std::nullopt;
  }
  return value;
}

std::optional<Endpoint> Reader::endpoint(const Node& node, const std::string& path) {
  auto text = scalar(node, path);
  if (!text) return std::nullopt;
  auto e = parse_endpoint(*text);
  if (!e) error(node, path, "must be ip:port, e.g. 127.0.0.1:8080 or [::1]:8080");
  return e;
}

std::optional<UpstreamTarget> Reader::upstream_target(const Node& node, const std::string& path) {
  auto text = scalar(node, path);
  if (!text) return std::nullopt;
  std::string why;
  auto target = parse_upstream(*text, why);
  if (!target) error(node, path, why);
  return target;
}

std::optional<KeySpec> Reader::key_spec(const Node& node, const std::string& path) {
  KeySpec spec;
  auto add = [&](const Node& item, const std::string& item_path) {
    auto text = scalar(item, item_path);
    if (!text) return false;
    if (*text == "client_ip") {
      spec.parts.push_back({KeyKind::client_ip, {}});
    } else if (*text == "global") {
      spec.parts.push_back({KeyKind::global, {}});
    } else if (*text == "client_cert") {
      if (!client_certs_asked_) {
        // Without client_ca no client sends a certificate: every request would fall back to
        // its address, and the limit would not be the one written.
        error(item, item_path,
              "client_cert needs tls.client_ca: clients are asked for certificates only then");
        return false;
      }
      spec.parts.push_back({KeyKind::client_cert, {}});
    } else if (text->starts_with("header:") && is_token(text->substr(7))) {
      spec.parts.push_back({KeyKind::header, text->substr(7)});
    } else if (text->starts_with("query:") && text->size() > 6) {
      spec.parts.push_back({KeyKind::query, text->substr(6)});
    } else {
      error(item, item_path,
            "must be client_ip, global, client_cert, header:<Name> or query:<param>");
      return false;
    }
    return true;
  };
  if (node.is_sequence()) {
    if (node.size() == 0) error(node, path, "must not be empty");
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (!add(node[i], index_path(path, i))) return std::nullopt;
    }
  } else if (!add(node, path)) {
    return std::nullopt;
  }
  if (spec.parts.empty()) return std::nullopt;
  return spec;
}

bool Reader::map_or_error(const Node& node, const std::string& path) {
  if (node.is_map()) return true;
  error(node, path, "must be a mapping");
  return false;
}

}  // namespace sluice::config
