#pragma once
// Redis Cluster's addressing, pure (README, "Scaling out"): which of the 16384 slots a key lives
// in, which master owns each slot (from CLUSTER SLOTS), and the redirections (MOVED, ASK) a node
// answers for a slot it does not serve.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/config/config.hpp"
#include "sluice/redis/reply.hpp"

namespace sluice::redis {

using Slot = std::uint16_t;
inline constexpr std::size_t kClusterSlots = 16384;

// CRC16 (XMODEM) of the key's hash tag — the part between the first '{' and the first '}' after
// it, when not empty — or of the whole key: Redis's rule, so sluice and the cluster agree.
Slot key_slot(std::string_view key);

// The key of a bucket in a cluster: its body (limit and client key) is the hash tag, so that each
// bucket lives in one slot and a route's buckets spread over every master.
std::string cluster_key(std::string_view prefix, std::string_view body);

// Which master serves each slot.
struct SlotMap {
  static constexpr std::uint16_t kUnowned = 0xffff;
  std::vector<config::RedisNode> masters;
  std::array<std::uint16_t, kClusterSlots> owner{};  // index into masters, or kUnowned

  SlotMap() { owner.fill(kUnowned); }
  [[nodiscard]] const config::RedisNode* master_of(Slot slot) const {
    return owner[slot] == kUnowned ? nullptr : &masters[owner[slot]];
  }
};

// The slot map a CLUSTER SLOTS reply describes, or nullopt with `why`. A node that leaves its own
// address empty is `asked`, the node the question went to.
std::optional<SlotMap> parse_cluster_slots(const Reply& reply, const config::RedisNode& asked,
                                           std::string& why);

// A node's answer for a slot another node serves: for good (MOVED) or during a migration, for
// this command only (ASK, to be preceded there by ASKING).
struct Redirect {
  enum class Kind { moved, ask };
  Kind kind = Kind::moved;
  Slot slot = 0;
  config::RedisNode node;
};
std::optional<Redirect> parse_redirect(const Reply& reply);

}  // namespace sluice::redis
