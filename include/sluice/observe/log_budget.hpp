#pragma once
// Floods are summarised, not copied (README, "Logs"): at most N `throttled` lines per (route, key,
// decision) per second. The lines held back are counted, and the next line written for that
// bucket says how many (`suppressed`); a flood that stops has its last count written by drain().
// Before this, one client's 2 s flood wrote 61 253 lines (16 MB): an attack filled the disk of
// the pod it attacked.

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/observe/events.hpp"

namespace sluice::observe {

class LogBudget {
 public:
  // Buckets remembered at once; beyond, lines of new buckets are counted as overflow.
  static constexpr std::size_t kMaxEntries = 65536;
  static constexpr std::int64_t kWindowMs = 1000;

  explicit LogBudget(unsigned lines_per_second) : lines_per_second_(lines_per_second) {}

  // 0: every line is written.
  void set_lines_per_second(unsigned n) noexcept { lines_per_second_.store(n); }

  struct Verdict {
    bool write = true;
    std::uint64_t suppressed = 0;  // lines held back for this bucket since its last line
  };
  // `event` is kept (moved from) when its line is held back, to summarise the flood later.
  Verdict admit(ThrottledEvent& event, std::int64_t now_ms);

  // A bucket's held-back lines, summarised: the line of the last one, counting the others, so
  // that lines written plus the counts they carry equal the events.
  struct Summary {
    ThrottledEvent last;
    std::uint64_t suppressed = 0;
  };
  // Summaries of the buckets whose flood has ended (a window passed since their last line), and
  // of lines not attributed to any bucket because the table was full (`route` empty).
  std::vector<Summary> drain(std::int64_t now_ms);

 private:
  struct Entry {
    std::int64_t window_start_ms = 0;
    unsigned lines = 0;
    std::uint64_t suppressed = 0;
    ThrottledEvent last;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Entry> entries;
  };
  static constexpr std::size_t kShards = 16;

  std::atomic<unsigned> lines_per_second_;
  std::array<Shard, kShards> shards_;
  std::atomic<std::uint64_t> overflow_{0};
};

}  // namespace sluice::observe
