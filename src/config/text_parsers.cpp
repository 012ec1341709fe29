#include "config/text_parsers.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

namespace sluice::config {

bool is_plain_name(std::string_view text, std::string_view reserved) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [&](char c) {
    return c > ' ' && c < 127 && c != '"' && c != '\\' &&
           reserved.find(c) == std::string_view::npos;
  });
}

std::optional<double> parse_number(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<Nanos> parse_duration(std::string_view text) {
  struct Unit {
    std::string_view suffix;
    double nanos;
  };
  static constexpr Unit kUnits[] = {{"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  double scale = 1e9;  // a bare number is seconds
  for (const Unit& unit : kUnits) {
    if (text.ends_with(unit.suffix)) {
      const std::string_view number = text.substr(0, text.size() - unit.suffix.size());
      if (parse_number(number)) {
        text = number;
        scale = unit.nanos;
        break;
      }
    }
  }
  const auto value = parse_number(text);
  if (!value || *value < 0 || *value * scale > 1e18) return std::nullopt;
  return static_cast<Nanos>(std::llround(*value * scale));
}

std::optional<std::uint16_t> parse_port(std::string_view text, bool allow_zero) {
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port > 65535) return std::nullopt;
  if (port == 0 && !allow_zero) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.back() != ']') return std::nullopt;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::nullopt;  // IPv6 needs brackets
  }
  if (host == "localhost") host = "127.0.0.1";
  const auto port = parse_port(port_text, true);
  if (!port || !IpAddress::parse(host)) return std::nullopt;
  return Endpoint{std::string(host), *port};
}

std::optional<UpstreamTarget> parse_upstream(std::string_view url, std::string& why) {
  constexpr std::string_view kHttp = "http://";
  constexpr std::string_view kHttps = "https://";
  const bool tls = url.starts_with(kHttps);
  if (!tls && !url.starts_with(kHttp)) {
    why = "must start with http:// or https://";
    return std::nullopt;
  }
  std::string_view rest = url.substr(tls ? kHttps.size() : kHttp.size());
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") {
      why = "must not have a path; the request's own path is forwarded";
      return std::nullopt;
    }
    rest = rest.substr(0, slash);
  }
  if (rest.find('@') != std::string_view::npos) {
    // Not the URL itself in the message: it holds a password.
    why =
        "must not hold a user name or password (user:password@): sluice sends no credentials "
        "upstream, and the password would show in /config and the logs";
    return std::nullopt;
  }
  auto authority = parse_authority(rest, tls ? 443 : 80, why);
  if (!authority) return std::nullopt;
  UpstreamTarget target{std::string(url), std::move(authority->host), authority->port, {}};
  if (tls) target.tls.emplace();
  return target;
}

std::optional<Authority> parse_authority(std::string_view text, std::uint16_t default_port,
                                         std::string& why) {
  Authority authority{std::string(), default_port};
  std::string_view host = text;
  if (const auto colon = text.rfind(':');
      colon != std::string_view::npos && text.find(']', colon) == std::string_view::npos) {
    host = text.substr(0, colon);
    const auto port = parse_port(text.substr(colon + 1), false);
    if (!port) {
      why = "has an invalid port";
      return std::nullopt;
    }
    authority.port = *port;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    why = "has no host";
    return std::nullopt;
  }
  authority.host = std::string(host);
  return authority;
}

// RFC 9110 methods are case-sensitive tokens, and routes compare them as such: "post" would never
// match a POST. The IANA HTTP Method Registry lists the ones clients send.
std::optional<std::string> method_problem(const std::string& method) {
  static constexpr std::string_view kRegistered[] = {"ACL",
                                                     "BASELINE-CONTROL",
                                                     "BIND",
                                                     "CHECKIN",
                                                     "CHECKOUT",
                                                     "CONNECT",
                                                     "COPY",
                                                     "DELETE",
                                                     "GET",
                                                     "HEAD",
                                                     "LABEL",
                                                     "LINK",
                                                     "LOCK",
                                                     "MERGE",
                                                     "MKACTIVITY",
                                                     "MKCALENDAR",
                                                     "MKCOL",
                                                     "MKREDIRECTREF",
                                                     "MKWORKSPACE",
                                                     "MOVE",
                                                     "OPTIONS",
                                                     "ORDERPATCH",
                                                     "PATCH",
                                                     "POST",
                                                     "PRI",
                                                     "PROPFIND",
                                                     "PROPPATCH",
                                                     "PUT",
                                                     "QUERY",
                                                     "REBIND",
                                                     "REPORT",
                                                     "SEARCH",
                                                     "TRACE",
                                                     "UNBIND",
                                                     "UNCHECKOUT",
                                                     "UNLINK",
                                                     "UNLOCK",
                                                     "UPDATE",
                                                     "UPDATEREDIRECTREF",
                                                     "VERSION-CONTROL"};
  const auto registered = [](std::string_view m) {
    return std::find(std::begin(kRegistered), std::end(kRegistered), m) != std::end(kRegistered);
  };
  if (registered(method)) return std::nullopt;
  std::string upper = method;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (registered(upper)) {
    return "\"" + method + "\" is not a method; methods are upper-case: " + upper;
  }
  return "\"" + method +
         "\" is not an HTTP method (IANA registry: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, "
         "...)";
}

// Start-up opens the log file for appending; --check must fail where start-up would.
std::optional<std::string> unwritable_log_file(const std::string& file) {
  if (file == "-") return std::nullopt;
  if (::access(file.c_str(), F_OK) == 0) {
    if (::access(file.c_str(), W_OK) != 0) {
      return file + " is not writable: " + std::strerror(errno);
    }
    return std::nullopt;
  }
  return unwritable_directory_of(file);
}

std::optional<std::string> unwritable_directory_of(const std::string& file) {
  const auto slash = file.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : file.substr(0, slash);
  if (::access(dir.c_str(), F_OK) != 0) return "directory " + dir + " does not exist";
  if (::access(dir.c_str(), W_OK) != 0) {
    return "directory " + dir + " is not writable: " + std::strerror(errno);
  }
  return std::nullopt;
}

std::string UpstreamTarget::authority() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string out = v6 ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

std::string_view to_string(HostHeader h) noexcept {
  return h == HostHeader::upstream ? "upstream" : "preserve";
}

std::string Endpoint::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace sluice::config
