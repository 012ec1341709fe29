#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/config/config.hpp"

namespace sluice::config {

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when there are errors
  std::vector<std::string> errors;       // each "file:line:col: field.path: message"
};

LoadResult load_file(const std::string& path);
LoadResult load_string(std::string_view yaml, const std::string& name);

}  // namespace sluice::config
