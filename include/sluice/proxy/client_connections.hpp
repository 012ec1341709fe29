#pragma once
// Open connections per client address, for http.max_connections_per_client: without a cap one
// client holding every connection sluice allows (max_connections) shuts every other client out.
// The table holds only addresses with a connection open, so its size is bounded by the
// connections themselves, not by the clients ever seen.

#include <array>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sluice::proxy {

class ClientConnections {
 public:
  // One counted connection; gives its place back when destroyed. An empty slot counts nothing.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : table_(other.table_), client_(std::move(other.client_)) {
      other.table_ = nullptr;
    }
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }

   private:
    friend class ClientConnections;
    Slot(ClientConnections* table, std::string client)
        : table_(table), client_(std::move(client)) {}
    void release() noexcept;

    ClientConnections* table_ = nullptr;
    std::string client_;
  };

  enum class Admission { admitted, over_limit };
  struct Opened {
    Admission admission = Admission::admitted;
    Slot slot;
  };
  // Counts a new connection of `client` (its address as keys render it) unless it already has
  // `limit` open.
  Opened open(const std::string& client, std::size_t limit);

  [[nodiscard]] std::size_t clients() const;

 private:
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, std::size_t> open;
  };
  static constexpr std::size_t kShards = 16;
  Shard& shard_of(const std::string& client);
  void close(const std::string& client) noexcept;

  std::array<Shard, kShards> shards_;
};

}  // namespace sluice::proxy
