#pragma once
// Relay pieces lent to requests in flight, one pool per event loop (no locks). A connection holds
// a piece only while it relays a body, and a busy loop reuses a few instead of allocating (and
// having malloc trim) 16 KiB per request.

#include <memory>
#include <span>
#include <vector>

#include "sluice/proxy/relay.hpp"

namespace sluice::proxy {

class PiecePool {
 public:
  static constexpr std::size_t kMaxSpare = 64;

  class Lease {
   public:
    Lease(PiecePool& pool, std::unique_ptr<char[]> piece)
        : pool_(&pool), piece_(std::move(piece)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (piece_ && pool_->spare_.size() < kMaxSpare) pool_->spare_.push_back(std::move(piece_));
    }
    [[nodiscard]] std::span<char> get() const noexcept { return {piece_.get(), kRelayPiece}; }

   private:
    PiecePool* pool_;
    std::unique_ptr<char[]> piece_;
  };

  Lease borrow() {
    if (spare_.empty()) return {*this, std::make_unique_for_overwrite<char[]>(kRelayPiece)};
    auto piece = std::move(spare_.back());
    spare_.pop_back();
    return {*this, std::move(piece)};
  }

 private:
  std::vector<std::unique_ptr<char[]>> spare_;
};

}  // namespace sluice::proxy
