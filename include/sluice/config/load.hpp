#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/config/config.hpp"

namespace sluice::config {

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when there are errors
  std::vector<std::string> errors;       // each "file:line:col: field.path: message"
  // What loads but is likely a mistake (`--check` prints these, a start logs them).
  std::vector<std::string> warnings;
};

LoadResult load_file(const std::string& path);
// The value of an environment variable, or nullopt when it is not set: ${VAR} in config values.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;

LoadResult load_string(std::string_view yaml, const std::string& name,
                       const EnvironmentLookup& env = {});  // empty: the process environment

}  // namespace sluice::config
