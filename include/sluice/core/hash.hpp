#pragma once
// A keyed 64-bit hash (SipHash-1-3) for bucket identities. The key is random per process, so a
// client cannot precompute identities that collide or pile into one shard of the bucket table.

#include <array>
#include <cstdint>
#include <string_view>

namespace sluice {

class KeyedHash {
 public:
  using Key = std::array<std::uint64_t, 2>;

  explicit KeyedHash(Key key) noexcept : key_(key) {}
  // Seeds from std::random_device.
  static KeyedHash random();

  [[nodiscard]] std::uint64_t operator()(std::string_view bytes) const noexcept;
  // For the state file: bucket identities survive a restart only under the same key.
  [[nodiscard]] const Key& key() const noexcept { return key_; }

 private:
  Key key_;
};

}  // namespace sluice
