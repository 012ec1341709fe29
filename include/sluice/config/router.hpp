#pragma once
// Which route a request belongs to: the first whose match holds (DESIGN §2).

#include <string_view>

#include "sluice/config/config.hpp"

namespace sluice::config {

// `path` is the request target without its query; `host` the Host header without its port.
const Route* match_route(const Config& config, std::string_view method, std::string_view path,
                         std::string_view host) noexcept;

}  // namespace sluice::config
