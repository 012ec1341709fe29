#pragma once
// Typed reads from the YAML tree that report every broken rule as
// "file:line:col: field.path: message" and go on, so that one run lists every mistake.

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/yaml_tree.hpp"
#include "sluice/config/config.hpp"

namespace sluice::config {

inline std::string join_path(const std::string& parent, std::string_view child) {
  return parent.empty() ? std::string(child) : parent + "." + std::string(child);
}

inline std::string index_path(const std::string& parent, std::size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  void error(const Node& node, std::string_view path, std::string_view message);
  void error_at(const Mark& mark, std::string_view path, std::string_view message);
  // "file:line:col: path", the head of an error about `node`.
  [[nodiscard]] std::string position(const Node& node, std::string_view path) const;
  [[nodiscard]] std::string position_at(const Mark& mark, std::string_view path) const;
  [[nodiscard]] const std::vector<std::string>& errors() const noexcept { return errors_; }
  [[nodiscard]] std::vector<std::string> take_errors() { return std::move(errors_); }

  // Every key of `map` is one of `allowed` (typos are errors).
  void check_keys(const Node& map, const std::string& path,
                  std::initializer_list<std::string_view> allowed);
  const Node& required(const Node& map, const std::string& path, std::string_view key);
  bool map_or_error(const Node& node, const std::string& path);

  std::optional<std::string> scalar(const Node& node, const std::string& path);
  std::optional<double> number(const Node& node, const std::string& path);
  std::optional<long long> integer(const Node& node, const std::string& path);
  // An integer in [min, max]; the error says the range.
  std::optional<long long> bounded_integer(const Node& node, const std::string& path, long long min,
                                           long long max);
  std::optional<bool> boolean(const Node& node, const std::string& path);
  std::optional<Nanos> duration(const Node& node, const std::string& path);
  std::optional<Nanos> positive_duration(const Node& node, const std::string& path);
  std::optional<Endpoint> endpoint(const Node& node, const std::string& path);
  std::optional<UpstreamTarget> upstream_target(const Node& node, const std::string& path);
  std::optional<limit::KeySpec> key_spec(const Node& node, const std::string& path);

 protected:
  std::string file_;
  bool client_certs_asked_ = false;  // tls.client_ca is set: the key part client_cert is usable

 private:
  std::vector<std::string> errors_;
  std::vector<std::pair<int, int>> maps_with_unknown_keys_;  // their positions (line, column)
};

}  // namespace sluice::config
