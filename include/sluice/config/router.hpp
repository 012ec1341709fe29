#pragma once
// Which route a request belongs to: the first whose match holds (README, "Configuration").

#include <string>
#include <string_view>

#include "sluice/config/config.hpp"

namespace sluice::config {

// `path` is the canonical path (uri::normalize_path); `host` the canonical Host
// (uri::canonical_host).
const Route* match_route(const Config& config, std::string_view method, std::string_view path,
                         std::string_view host) noexcept;

// Why `route` does not match the request (its method, host or path, in that order, as
// match_route tries them); empty when it does.
std::string mismatch(const Route& route, std::string_view method, std::string_view path,
                     std::string_view host);

}  // namespace sluice::config
