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

// Memory of the exact size asked for, from operator new; with `Pooled` = kReadBlock, blocks of
// that size come from and go back to this thread's pool. Given to Asio with `Pooled` = 0, it
// also stops Asio handing an operation a cached block sized for the largest recent one.
template <class T, std::size_t Pooled = 0>
struct PlainAllocator {
  static_assert(Pooled == 0 || Pooled == kReadBlock, "the pool holds read blocks only");
  using value_type = T;
  template <class U>
  struct rebind {  // NOLINT(readability-identifier-naming): the name allocators must use
    using other = PlainAllocator<U, Pooled>;
  };
  PlainAllocator() = default;
  template <class U>
  PlainAllocator(const PlainAllocator<U, Pooled>& /*other*/) noexcept {
  }  // NOLINT(google-explicit-constructor)
  T* allocate(std::size_t n) {
    if (Pooled != 0 && n * sizeof(T) == Pooled) {
      return static_cast<T*>(detail::ReadBlockPool::of_this_thread().take());
    }
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (Pooled != 0 && n * sizeof(T) == Pooled) {
      return detail::ReadBlockPool::of_this_thread().give(p);
    }
    ::operator delete(p);
  }
  friend bool operator==(PlainAllocator /*a*/, PlainAllocator /*b*/) noexcept { return true; }
};

using ReadBuffer = boost::beast::basic_flat_buffer<PlainAllocator<char, kReadBlock>>;

}  // namespace sluice::proxy
