#pragma once
// IP addresses and CIDR blocks, just enough for trusted_proxies and X-Forwarded-For.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};  // IPv4 as ::ffff:a.b.c.d
  bool v4 = false;

  static std::optional<IpAddress> parse(std::string_view text);
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct Cidr {
  IpAddress network;
  int prefix_bits = 0;  // over the 128-bit form

  // "10.0.0.0/8", "::1/128", or a bare address (a host).
  static std::optional<Cidr> parse(std::string_view text);
  [[nodiscard]] bool contains(const IpAddress& ip) const;
};

}  // namespace sluice
