#pragma once
// Who is throttled most (README, "Watching it", GET /throttled/top): per (route, key), the rejected
// and delayed requests over a window of up to an hour, in memory bounded whatever the number of
// keys.
//
// Each minute has a Space-Saving summary (Metwally et al., 2005) of kSlots counters: a key
// already counted is incremented; a new key takes the counter of the least counted key, which is
// dropped. A key whose share of a minute's throttled requests exceeds 1/kSlots is never dropped,
// so the clients that matter are counted exactly, and a key that is reported is never
// overcounted: its counts start when it entered the summary. A query merges the minutes the
// window covers. Memory: kMinutes x kSlots counters of under 330 bytes with typical keys (two
// strings and an index node each), so about 3 MB at most, whatever the number of keys.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice::observe {

class TopThrottled {
 public:
  static constexpr std::size_t kSlots = 128;        // counters per minute
  static constexpr std::int64_t kSliceMs = 60'000;  // one summary per minute
  static constexpr std::size_t kMinutes = 61;       // an hour, plus the current minute
  static constexpr std::int64_t kMaxWindowMs = 3'600'000;

  enum class Kind { rejected, delayed, dry_run, denied };

  // `override_label`: the override (tier) that decided, empty for none; a key's tier is the one
  // it was last throttled under.
  void record(std::string_view route, std::string_view key, std::string_view override_label,
              Kind kind, std::int64_t now_ms);

  struct Entry {
    std::string route;
    std::string key;
    std::string override_label;
    std::uint64_t rejected = 0;
    std::uint64_t delayed = 0;
    std::uint64_t dry_run = 0;  // would have been throttled (dry_run routes)
    std::uint64_t denied = 0;   // refused by a deny override
    std::int64_t last_ms = 0;
    [[nodiscard]] std::uint64_t total() const noexcept {
      return rejected + delayed + dry_run + denied;
    }
  };
  // The `limit` most throttled over the minutes overlapping [now - window, now], most first.
  [[nodiscard]] std::vector<Entry> top(std::int64_t now_ms, std::chrono::milliseconds window,
                                       std::size_t limit) const;
  // Counters in use, all minutes together (bounded by kSlots x kMinutes).
  [[nodiscard]] std::size_t size() const;

 private:
  // One minute's Space-Saving summary: a binary min-heap of counters ordered by `count` (which
  // includes the count inherited from the key it replaced), with an index from key to position.
  struct Counter {
    // Its index entry (key: route + '\0' + key; value: its heap position), updated on every swap
    // without hashing the key again: an unordered_map's elements stay put when it rehashes.
    std::pair<const std::string, std::size_t>* slot = nullptr;
    Entry entry;
    std::uint64_t count = 0;  // the ranking count: entry.total() plus what it inherited
  };
  struct Slice {
    std::int64_t minute = -1;  // now_ms / kSliceMs; -1: unused
    std::vector<Counter> heap;
    std::unordered_map<std::string, std::size_t> index;  // route + '\0' + key -> heap position

    void clear(std::int64_t new_minute);
    void add(std::string_view route, std::string_view key, std::string_view override_label,
             Kind kind, std::int64_t now_ms);
    void sift_down(std::size_t i);
    void swap_at(std::size_t a, std::size_t b);
  };

  mutable std::mutex mutex_;
  std::vector<Slice> slices_ = std::vector<Slice>(kMinutes);
};

// `entries` as the JSON array of GET /throttled/top.
std::string to_json(const std::vector<TopThrottled::Entry>& entries);

}  // namespace sluice::observe
