#pragma once

#include <string>

#include "sluice/config/config.hpp"

namespace sluice::config {

// The effective config (defaults filled in, durations in seconds) as one JSON object.
std::string to_json(const Config& config);

}  // namespace sluice::config
