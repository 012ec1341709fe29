#pragma once
// A connection's request read buffer, its 4 KiB blocks drawn from a per-thread pool. A connection
// holds a block only while it reads or serves a request (an idle one holds none: that is most of
// the memory it saves), and a busy event loop reuses a few blocks instead of asking malloc for
// 4 KiB per request: malloc's consolidation of those frees showed in the profile.

#include <cstddef>
#include <new>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>

namespace sluice::proxy {

inline constexpr std::size_t kReadBlock = 4096;  // most request heads fit in one

namespace detail {

class ReadBlockPool {
 public:
  static constexpr std::size_t kMaxSpare = 64;
  ReadBlockPool() = default;
  ReadBlockPool(const ReadBlockPool&) = delete;
  ReadBlockPool& operator=(const ReadBlockPool&) = delete;
  ~ReadBlockPool() {
    for (void* block : spare_) ::operator delete(block);
  }
  void* take() {
    if (spare_.empty()) return ::operator new(kReadBlock);
    void* block = spare_.back();
    spare_.pop_back();
    return block;
  }
  void give(void* block) noexcept {
    if (spare_.size() < kMaxSpare) {
      try {
        spare_.push_back(block);
        return;
      } catch (const std::bad_alloc&) {  // NOLINT(bugprone-empty-catch): freed below instead
      }
    }
    ::operator delete(block);
  }
  static ReadBlockPool& of_this_thread() {
    thread_local ReadBlockPool pool;
    return pool;
  }

 private:
  std::vector<void*> spare_;
};

}  // namespace detail

template <class T>
struct ReadBlockAllocator {
  using value_type = T;
  ReadBlockAllocator() = default;
  template <class U>
  ReadBlockAllocator(const ReadBlockAllocator<U>& /*other*/) noexcept {
  }  // NOLINT(google-explicit-constructor)
  T* allocate(std::size_t n) {
    if (n * sizeof(T) == kReadBlock) {
      return static_cast<T*>(detail::ReadBlockPool::of_this_thread().take());
    }
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) == kReadBlock) return detail::ReadBlockPool::of_this_thread().give(p);
    ::operator delete(p);
  }
  friend bool operator==(ReadBlockAllocator /*a*/, ReadBlockAllocator /*b*/) noexcept {
    return true;
  }
};

using ReadBuffer = boost::beast::basic_flat_buffer<ReadBlockAllocator<char>>;

}  // namespace sluice::proxy
