#pragma once
// A YAML document as a plain tree with positions: what the section loaders read. yaml_tree.cpp
// is the only file that includes yaml-cpp; nothing else of sluice depends on it.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::config {

struct Mark {
  int line = -1;  // 0-based, -1 when unknown
  int column = -1;
};

class Node {
 public:
  enum class Kind { missing, null, scalar, sequence, map };
  using Entry = std::pair<Node, Node>;

  Node() = default;
  Node(Kind kind, Mark mark) : kind_(kind), mark_(mark) {}

  // False for a key the mapping does not have.
  explicit operator bool() const noexcept { return kind_ != Kind::missing; }
  [[nodiscard]] bool is_scalar() const noexcept { return kind_ == Kind::scalar; }
  [[nodiscard]] bool is_sequence() const noexcept { return kind_ == Kind::sequence; }
  [[nodiscard]] bool is_map() const noexcept { return kind_ == Kind::map; }
  [[nodiscard]] const std::string& scalar() const noexcept { return scalar_; }
  [[nodiscard]] Mark mark() const noexcept { return mark_; }
  // A value whose error is already reported (an unset ${VAR}): readers skip it silently rather
  // than add a knock-on error ("must start with http://") to the one that matters.
  [[nodiscard]] bool reported() const noexcept { return reported_; }

  // Sequence items or mapping entries.
  [[nodiscard]] std::size_t size() const noexcept {
    return is_map() ? entries_.size() : items_.size();
  }
  [[nodiscard]] const Node& operator[](std::size_t i) const { return items_[i]; }
  // The value of the first entry whose key is the scalar `key`; a missing node when none.
  [[nodiscard]] const Node& operator[](std::string_view key) const;
  [[nodiscard]] const std::vector<Entry>& entries() const noexcept { return entries_; }
  [[nodiscard]] auto begin() const noexcept { return entries_.begin(); }
  [[nodiscard]] auto end() const noexcept { return entries_.end(); }

 private:
  friend struct TreeBuilder;
  friend struct EnvironmentExpander;  // rewrites scalars in place (environment.cpp)
  Kind kind_ = Kind::missing;
  Mark mark_;
  bool reported_ = false;
  std::string scalar_;
  std::vector<Node> items_;
  std::vector<Entry> entries_;
};

// A parsed document, or the error that stopped parsing ("line:col" in `mark`).
struct YamlDocument {
  std::optional<Node> root;
  std::string error;
  Mark error_mark;
};

// Parses `text`. A key repeated in one mapping is an error, reported by `on_duplicate` with both
// positions and parsing goes on (yaml-cpp keeps both and its lookups find the first, while
// most YAML tools keep the last: a repeated `routes:` would silently load the wrong list).
struct DuplicateKey {
  std::string path;  // "routes[0].max_delay"
  Mark first;
  Mark second;
};
YamlDocument parse_yaml(const std::string& text, std::vector<DuplicateKey>& duplicates);

}  // namespace sluice::config
