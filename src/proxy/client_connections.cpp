#include "sluice/proxy/client_connections.hpp"

#include <functional>

namespace sluice::proxy {

ClientConnections::Slot& ClientConnections::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    table_ = other.table_;
    client_ = std::move(other.client_);
    other.table_ = nullptr;
  }
  return *this;
}

void ClientConnections::Slot::release() noexcept {
  if (table_ != nullptr) table_->close(client_);
  table_ = nullptr;
}

ClientConnections::Shard& ClientConnections::shard_of(const std::string& client) {
  return shards_[std::hash<std::string>{}(client) % kShards];
}

ClientConnections::Opened ClientConnections::open(const std::string& client, std::size_t limit) {
  Shard& shard = shard_of(client);
  std::lock_guard guard(shard.mutex);
  std::size_t& open = shard.open[client];
  if (open >= limit) {
    if (open == 0) shard.open.erase(client);
    return {Admission::over_limit, {}};
  }
  ++open;
  return {Admission::admitted, Slot(this, client)};
}

void ClientConnections::close(const std::string& client) noexcept {
  Shard& shard = shard_of(client);
  std::lock_guard guard(shard.mutex);
  const auto it = shard.open.find(client);
  if (it == shard.open.end()) return;
  if (--it->second == 0) shard.open.erase(it);
}

std::size_t ClientConnections::clients() const {
  std::size_t n = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard guard(shard.mutex);
    n += shard.open.size();
  }
  return n;
}

}  // namespace sluice::proxy
