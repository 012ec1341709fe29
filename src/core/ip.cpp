#include "sluice/core/ip.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace sluice {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // Bracketed IPv6 as in X-Forwarded-For "[::1]" is accepted too.
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  text.copy(buf, text.size());
  buf[text.size()] = '\0';

  IpAddress ip;
  in_addr v4{};
  if (::inet_pton(AF_INET, buf, &v4) == 1) {
    ip.v4 = true;
    ip.bytes[10] = ip.bytes[11] = 0xff;
    const auto* b = reinterpret_cast<const std::uint8_t*>(&v4.s_addr);
    std::copy(b, b + 4, ip.bytes.begin() + 12);
    return ip;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, buf, &v6) == 1) {
    std::copy(v6.s6_addr, v6.s6_addr + 16, ip.bytes.begin());
    // An IPv4-mapped IPv6 address is the IPv4 address.
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    ip.v4 = std::equal(std::begin(kMapped), std::end(kMapped), ip.bytes.begin());
    return ip;
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (v4) {
    // By hand: glibc's inet_ntop formats IPv4 with sprintf, ~1 000 instructions, and a client's
    // address is rendered twice per request (its key and its log field).
    std::string text;  // at most 15 characters: no allocation
    for (std::size_t i = 12; i < 16; ++i) {
      if (i > 12) text += '.';
      char digits[3];
      const auto end = std::to_chars(digits, digits + 3, static_cast<unsigned>(bytes[i])).ptr;
      text.append(digits, end);
    }
    return text;
  }
  ::inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  const int width = ip->v4 ? 32 : 128;
  int bits = width;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (ec != std::errc() || end != digits.data() + digits.size() || bits < 0 || bits > width) {
      return std::nullopt;
    }
  }
  Cidr cidr{*ip, ip->v4 ? bits + 96 : bits};
  for (int i = cidr.prefix_bits; i < 128; ++i) {
    cidr.network.bytes[i / 8] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
  }
  return cidr;
}

bool Cidr::contains(const IpAddress& ip) const {
  for (int i = 0; i < prefix_bits; ++i) {
    const std::uint8_t mask = 0x80u >> (i % 8);
    if ((ip.bytes[i / 8] & mask) != (network.bytes[i / 8] & mask)) return false;
  }
  return true;
}

}  // namespace sluice
