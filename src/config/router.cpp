#include "sluice/config/router.hpp"

#include <strings.h>
#include <algorithm>
#include <boost/regex.hpp>

namespace sluice::config {

struct PathRegex::Impl {
  boost::regex regex;
};

PathRegex::PathRegex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PathRegex::~PathRegex() = default;

std::shared_ptr<const PathRegex> PathRegex::compile(const std::string& pattern,
                                                    std::string& error) {
  try {
    auto impl = std::make_unique<Impl>(Impl{boost::regex(pattern, boost::regex::ECMAScript)});
    return std::shared_ptr<const PathRegex>(new PathRegex(std::move(impl)));
  } catch (const boost::regex_error& e) {
    error = e.what();
    return nullptr;
  }
}

bool PathRegex::matches(std::string_view path) const noexcept {
  try {
    return boost::regex_match(path.begin(), path.end(), impl_->regex);
  } catch (const std::exception&) {
    return false;  // too complex to decide: not a match
  }
}

namespace {

bool path_matches(const Match& m, std::string_view path) {
  switch (m.kind) {
    case PathKind::exact:
      return path == m.path;
    case PathKind::prefix:
      return path.starts_with(m.path);
    case PathKind::regex:
      return m.regex->matches(path);
  }
  return false;
}

bool host_matches(const Match& m, std::string_view host) {
  return m.host.empty() || (host.size() == m.host.size() &&
                            ::strncasecmp(host.data(), m.host.data(), host.size()) == 0);
}

bool method_matches(const Match& m, std::string_view method) {
  return m.methods.empty() ||
         std::find(m.methods.begin(), m.methods.end(), method) != m.methods.end();
}

}  // namespace

const Route* match_route(const Config& config, std::string_view method, std::string_view path,
                         std::string_view host) noexcept {
  for (const Route& route : config.routes) {
    if (method_matches(route.match, method) && host_matches(route.match, host) &&
        path_matches(route.match, path)) {
      return &route;
    }
  }
  return nullptr;
}

}  // namespace sluice::config
