#include "sluice/limit/key.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "sluice/core/digest.hpp"
#include "sluice/core/hash.hpp"

namespace sluice::limit {
namespace {

// Digits of a logged key digest: 48 bits tell clients apart in any log, yet are no secret.
constexpr std::size_t kDigestHexDigits = 12;

void append_value(std::string& out, std::string_view value) {
  if (value.size() <= kMaxKeyValueBytes) {
    out.append(value);
    return;
  }
  // Long values are hashed so that neither memory nor log lines depend on a client's input.
  static const KeyedHash hash({0x736c756963650000ULL, 0x6b65792d68617368ULL});
  char hex[24];
  std::snprintf(hex, sizeof hex, "#%016llx", static_cast<unsigned long long>(hash(value)));
  out.append(hex);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string render_key(const KeySpec& spec, const RequestFacts& request, KeyText text) {
  std::string out;
  for (const KeyPart& part : spec.parts) {
    if (!out.empty()) out += '|';
    uri::Lookup value;
    if (part.kind == KeyKind::header) value = request.header(part.name);
    if (part.kind == KeyKind::query) value = request.query(part.name);
    switch (part.kind) {
      case KeyKind::global:
        out += "global";
        continue;
      case KeyKind::client_cert:
        // Verified by the handshake, so no client can choose it. Without one (never while
        // client_ca makes the handshake require it) the address stands in.
        if (const std::string_view subject = request.client_cert(); !subject.empty()) {
          out += "cert:";
          append_value(out, subject);
          continue;
        }
        out += "ip:";
        out += request.client_ip();
        continue;
      case KeyKind::header:
      case KeyKind::query:
        if (value.state == uri::Lookup::State::found) {
          out += part.kind == KeyKind::header ? "header:" : "query:";
          out += part.name;
          out += '=';
          if (text == KeyText::digest) {
            out += "sha256:";
            out += sha256_hex(value.value).substr(0, kDigestHexDigits);
          } else {
            append_value(out, value.value);
          }
          continue;
        }
        [[fallthrough]];  // a missing value is no way around the limit
      case KeyKind::client_ip:
        out += "ip:";
        out += request.client_ip();
        continue;
    }
  }
  return out;
}

std::string key_input_problem(const RoutePolicy& route, const RequestFacts& request) {
  for (const LimitPolicy& limit : route.limits) {
    for (const KeyPart& part : limit.key.parts) {
      if (part.kind != KeyKind::header && part.kind != KeyKind::query) continue;
      const bool header = part.kind == KeyKind::header;
      const uri::Lookup value = header ? request.header(part.name) : request.query(part.name);
      switch (value.state) {
        case uri::Lookup::State::missing:
        case uri::Lookup::State::found:
          break;
        case uri::Lookup::State::ambiguous:
          return std::string(header ? "the key header " : "the key parameter ") + part.name +
                 " appears more than once";
        case uri::Lookup::State::malformed:
          if (header) {
            return "the key header " + part.name +
                   " has bytes other than visible ASCII, space and tab";
          }
          return "malformed percent-encoding in the query string (key parameter " + part.name + ")";
        case uri::Lookup::State::lookalike:
          return "a header named " + value.value + " reads as the key header " + part.name +
                 " to many upstreams";
      }
    }
  }
  return {};
}

std::vector<std::string> key_parameters(const RoutePolicy& route) {
  std::vector<std::string> names;
  for (const LimitPolicy& limit : route.limits) {
    for (const KeyPart& part : limit.key.parts) {
      if (part.kind == KeyKind::query) names.push_back(part.name);
    }
  }
  return names;
}

std::string masked_target(std::span<const std::string> parameters, std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos || parameters.empty()) return std::string(target);
  std::string query(target.substr(q + 1));
  for (const std::string& name : parameters) query = uri::mask_query_param(query, name);
  return std::string(target.substr(0, q + 1)) + query;
}

std::string masked_target(const RoutePolicy& route, std::string_view target) {
  return masked_target(key_parameters(route), target);
}

bool is_trusted(const IpAddress& ip, std::span<const Cidr> trusted_proxies) {
  return std::any_of(trusted_proxies.begin(), trusted_proxies.end(),
                     [&](const Cidr& c) { return c.contains(ip); });
}

std::string client_key_text(const IpAddress& ip, int ipv6_prefix) {
  if (ip.v4 || ipv6_prefix >= 128) return ip.to_string();
  IpAddress network = ip;
  for (int i = ipv6_prefix; i < 128; ++i) {
    network.bytes[i / 8] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
  }
  return network.to_string() + "/" + std::to_string(ipv6_prefix);
}

IpAddress client_address(const IpAddress& peer, std::string_view x_forwarded_for,
                         std::span<const Cidr> trusted_proxies) {
  IpAddress client = peer;
  if (!is_trusted(client, trusted_proxies)) return client;
  while (!x_forwarded_for.empty()) {
    const auto comma = x_forwarded_for.rfind(',');
    const std::string_view entry =
        trim(comma == std::string_view::npos ? x_forwarded_for : x_forwarded_for.substr(comma + 1));
    x_forwarded_for =
        comma == std::string_view::npos ? std::string_view{} : x_forwarded_for.substr(0, comma);
    const auto ip = IpAddress::parse(entry);
    if (!ip) break;
    client = *ip;
    if (!is_trusted(client, trusted_proxies)) break;
  }
  return client;
}

}  // namespace sluice::limit
