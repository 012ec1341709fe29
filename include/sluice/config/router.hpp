#pragma once
// Which route a request belongs to: the first whose match holds (README, "Configuration").

#include <string_view>

#include "sluice/config/config.hpp"

namespace sluice::config {

// `path` is the canonical path (uri::normalize_path); `host` the canonical Host
// (uri::canonical_host).
const Route* match_route(const Config& config, std::string_view method, std::string_view path,
                         std::string_view host) noexcept;

}  // namespace sluice::config
