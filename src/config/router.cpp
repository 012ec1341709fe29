#include "sluice/config/router.hpp"

#include <algorithm>
#include <boost/regex.hpp>

#include "sluice/core/ascii.hpp"

namespace sluice::config {

struct PathRegex::Impl {
  boost::regex regex;
};

PathRegex::PathRegex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PathRegex::~PathRegex() = default;

std::shared_ptr<const PathRegex> PathRegex::compile(const std::string& pattern, bool ignore_case,
                                                    std::string& error) {
  try {
    auto impl = std::make_unique<Impl>(Impl{
        boost::regex(pattern, boost::regex::ECMAScript | (ignore_case ? boost::regex::icase : 0))});
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
      // `OPTIONS *` asks about the whole server: a catch-all route catches it too.
      return path.starts_with(m.path) || (path == "*" && m.path == "/");
    case PathKind::regex:
      return m.regex->matches(path);
  }
  return false;
}

bool host_matches(const Match& m, std::string_view host) {
  return m.host.empty() || host == m.host;
}

bool method_matches(const Match& m, std::string_view method) {
  return m.methods.empty() ||
         std::find(m.methods.begin(), m.methods.end(), method) != m.methods.end();
}

}  // namespace

const Route* match_route(const Config& config, std::string_view method, std::string_view path,
                         std::string_view host) noexcept {
  std::string lowered;  // made once, for the first route that ignores case
  for (const Route& route : config.routes) {
    if (!method_matches(route.match, method) || !host_matches(route.match, host)) continue;
    if (route.match.ignore_case && lowered.empty()) lowered = ascii_lower(path);
    if (path_matches(route.match, route.match.ignore_case ? lowered : path)) return &route;
  }
  return nullptr;
}

std::string mismatch(const Route& route, std::string_view method, std::string_view path,
                     std::string_view host) {
  const Match& m = route.match;
  if (!method_matches(m, method)) return "method " + std::string(method) + " is not in its methods";
  if (!host_matches(m, host)) return "host is not " + m.host;
  const std::string lowered = m.ignore_case ? ascii_lower(path) : std::string(path);
  if (path_matches(m, lowered)) return {};
  // By PathKind: prefix, exact, regex.
  static constexpr const char* kKinds[] = {"path does not start with", "path is not",
                                           "path does not match"};
  return std::string(kKinds[static_cast<int>(m.kind)]) + " " + m.path;
}

}  // namespace sluice::config
