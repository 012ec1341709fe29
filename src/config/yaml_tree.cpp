// The only file that includes yaml-cpp: YAML text to a sluice::config::Node tree.
#include "config/yaml_tree.hpp"

#include <yaml-cpp/yaml.h>

#include <map>

namespace sluice::config {

const Node& Node::operator[](std::string_view key) const {
  static const Node kMissing;
  for (const Entry& e : entries_) {
    if (e.first.is_scalar() && e.first.scalar() == key) return e.second;
  }
  return kMissing;
}

// Copies yaml-cpp's graph into a tree. Aliases are copied too, so a document of nested aliases
// could grow exponentially ("billion laughs"): the tree is capped, and nesting is bounded.
struct TreeBuilder {
  static constexpr std::size_t kMaxNodes = 100000;
  static constexpr int kMaxDepth = 64;

  std::vector<DuplicateKey>& duplicates;
  std::size_t nodes = 0;

  static Mark mark_of(const YAML::Node& n) { return {n.Mark().line, n.Mark().column}; }

  Node build(const YAML::Node& from, const std::string& path, int depth) {
    if (++nodes > kMaxNodes || depth > kMaxDepth) {
      throw YAML::ParserException(from.Mark(), "the document is too large or too deeply nested");
    }
    Node to;
    to.mark_ = mark_of(from);
    switch (from.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        to.kind_ = Node::Kind::null;
        break;
      case YAML::NodeType::Scalar:
        to.kind_ = Node::Kind::scalar;
        to.scalar_ = from.Scalar();
        break;
      case YAML::NodeType::Sequence:
        to.kind_ = Node::Kind::sequence;
        for (std::size_t i = 0; i < from.size(); ++i) {
          to.items_.push_back(build(from[i], path + "[" + std::to_string(i) + "]", depth + 1));
        }
        break;
      case YAML::NodeType::Map: {
        to.kind_ = Node::Kind::map;
        std::map<std::string, Mark> seen;
        for (const auto& item : from) {
          std::string child = path;
          if (item.first.IsScalar()) {
            const std::string& key = item.first.Scalar();
            child = path.empty() ? key : path + '.';
            if (!path.empty()) child += key;
            const auto [it, fresh] = seen.emplace(key, mark_of(item.first));
            if (!fresh) duplicates.push_back({child, it->second, mark_of(item.first)});
          }
          to.entries_.emplace_back(build(item.first, path, depth + 1),
                                   build(item.second, child, depth + 1));
        }
        break;
      }
    }
    return to;
  }
};

YamlDocument parse_yaml(const std::string& text, std::vector<DuplicateKey>& duplicates) {
  YamlDocument doc;
  try {
    TreeBuilder builder{duplicates};
    doc.root = builder.build(YAML::Load(text), "", 0);
  } catch (const YAML::Exception& e) {
    doc.error = e.msg;
    doc.error_mark = {e.mark.line, e.mark.column};
  }
  return doc;
}

}  // namespace sluice::config
