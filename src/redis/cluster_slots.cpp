#include "sluice/redis/cluster_slots.hpp"

#include <charconv>

namespace sluice::redis {
namespace {

// The CRC16 of the Redis Cluster specification (XMODEM: polynomial 0x1021, initial 0).
constexpr std::array<std::uint16_t, 256> make_crc_table() {
  std::array<std::uint16_t, 256> table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    auto crc = static_cast<std::uint16_t>(byte << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = static_cast<std::uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    table[byte] = crc;
  }
  return table;
}
constexpr auto kCrcTable = make_crc_table();

std::uint16_t crc16(std::string_view bytes) {
  std::uint16_t crc = 0;
  for (const char c : bytes) {
    crc = static_cast<std::uint16_t>(
        (crc << 8) ^ kCrcTable[((crc >> 8) ^ static_cast<unsigned char>(c)) & 0xff]);
  }
  return crc;
}

template <typename Int>
std::optional<Int> integer_of(std::string_view text) {
  Int value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "host:port", the host possibly IPv6 without brackets (as Redis writes it).
std::optional<config::RedisNode> node_of(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const auto port = integer_of<std::uint16_t>(text.substr(colon + 1));
  if (!port || *port == 0) return std::nullopt;
  return config::RedisNode{std::string(text.substr(0, colon)), *port};
}

}  // namespace

Slot key_slot(std::string_view key) {
  if (const auto open = key.find('{'); open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return static_cast<Slot>(crc16(key) % kClusterSlots);
}

std::string cluster_key(std::string_view prefix, std::string_view body) {
  std::string key;
  key.reserve(prefix.size() + body.size() + 2);
  key.append(prefix).append("{").append(body).append("}");
  return key;
}

std::optional<SlotMap> parse_cluster_slots(const Reply& reply, const config::RedisNode& asked,
                                           std::string& why) {
  if (reply.is_error()) {
    why = reply.text;
    return std::nullopt;
  }
  if (reply.type != Reply::Type::array) {
    why = "unexpected reply to CLUSTER SLOTS";
    return std::nullopt;
  }
  SlotMap map;
  for (const Reply& range : reply.elements) {
    const auto& e = range.elements;
    if (range.type != Reply::Type::array || e.size() < 3 || e[0].type != Reply::Type::integer ||
        e[1].type != Reply::Type::integer || e[0].integer < 0 || e[1].integer < e[0].integer ||
        e[1].integer >= static_cast<long long>(kClusterSlots) || e[2].type != Reply::Type::array ||
        e[2].elements.size() < 2 || e[2].elements[1].type != Reply::Type::integer ||
        e[2].elements[1].integer <= 0 || e[2].elements[1].integer > 65535) {
      why = "unexpected slot range in CLUSTER SLOTS";
      return std::nullopt;
    }
    const std::string& host = e[2].elements[0].text;
    // "?" or empty: the node does not know its own address; it is the one asked.
    config::RedisNode master{host.empty() || host == "?" ? asked.host : host,
                             static_cast<std::uint16_t>(e[2].elements[1].integer)};
    std::size_t index = 0;
    while (index < map.masters.size() && !(map.masters[index] == master)) ++index;
    if (index == map.masters.size()) map.masters.push_back(std::move(master));
    for (long long slot = e[0].integer; slot <= e[1].integer; ++slot) {
      map.owner[static_cast<std::size_t>(slot)] = static_cast<std::uint16_t>(index);
    }
  }
  if (map.masters.empty()) {
    why = "the cluster serves no slot";
    return std::nullopt;
  }
  return map;
}

std::optional<Redirect> parse_redirect(const Reply& reply) {
  if (!reply.is_error()) return std::nullopt;
  const std::string_view text = reply.text;
  Redirect r;
  std::string_view rest;
  if (text.starts_with("MOVED ")) {
    r.kind = Redirect::Kind::moved;
    rest = text.substr(6);
  } else if (text.starts_with("ASK ")) {
    r.kind = Redirect::Kind::ask;
    rest = text.substr(4);
  } else {
    return std::nullopt;
  }
  const auto space = rest.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto slot = integer_of<unsigned>(rest.substr(0, space));
  auto node = node_of(rest.substr(space + 1));
  if (!slot || *slot >= kClusterSlots || !node) return std::nullopt;
  r.slot = static_cast<Slot>(*slot);
  r.node = std::move(*node);
  return r;
}

}  // namespace sluice::redis
