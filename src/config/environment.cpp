#include "config/environment.hpp"

#include <cctype>
#include <cstdlib>

namespace sluice::config {
namespace {

bool valid_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front())) != 0) return false;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_') return false;
  }
  return true;
}

}  // namespace

struct EnvironmentExpander {
  static void expand(Node& node, const std::string& path, Reader& reader,
                     const EnvironmentLookup& lookup) {
    if (node.is_scalar()) {
      if (node.scalar().find('$') == std::string::npos) return;
      Expansion e = expand_environment(node.scalar(), lookup);
      if (e.error.empty()) {
        node.scalar_ = std::move(e.text);
      } else {
        reader.error(node, path, e.error);
        node.reported_ = true;
      }
      return;
    }
    for (std::size_t i = 0; i < node.items_.size(); ++i) {
      expand(node.items_[i], index_path(path, i), reader, lookup);
    }
    for (auto& [key, value] : node.entries_) {
      expand(value, key.is_scalar() ? join_path(path, key.scalar()) : path, reader, lookup);
    }
  }
};

std::optional<std::string> process_environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

Expansion expand_environment(std::string_view text, const EnvironmentLookup& lookup) {
  Expansion out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 == text.size() || (text[i + 1] != '$' && text[i + 1] != '{')) {
      out.text += text[i];
      continue;
    }
    if (text[i + 1] == '$') {
      out.text += '$';
      ++i;
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return {{}, "\"${\" without its closing \"}\" (write $$ for a literal $)"};
    }
    const std::string_view inside = text.substr(i + 2, close - i - 2);
    const std::size_t dash = inside.find(":-");
    const std::string name(inside.substr(0, dash));
    if (!valid_name(name)) {
      return {{},
              "\"${" + std::string(inside) +
                  "}\": a variable name is letters, digits and _ (write $$ for a literal $)"};
    }
    const std::optional<std::string> value = lookup(name);
    if (dash != std::string_view::npos && (!value || value->empty())) {
      out.text += inside.substr(dash + 2);
    } else if (value) {
      out.text += *value;
    } else {
      std::string error = "environment variable " + name;
      error += " is not set (give a default: ${";
      error += name;
      error += ":-value})";
      return {{}, std::move(error)};
    }
    i = close;
  }
  return out;
}

void expand_environment(Node& root, Reader& reader, const EnvironmentLookup& lookup) {
  EnvironmentExpander::expand(root, "", reader, lookup);
}

}  // namespace sluice::config
