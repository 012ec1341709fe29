#pragma once
// The budget of `throttled` lines across all keys (log.throttled_lines_per_second). The per-key
// budget (log_budget.hpp) bounds one client's flood, not a flood of distinct keys: 504 k requests
// under fresh API keys wrote 171 k lines (42 MB) in 9 s. Beyond this budget a second's lines are
// counted instead, by route and decision with the number of distinct keys, and written as one
// `throttled_summary` line once the second is over.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>

#include "sluice/observe/events.hpp"

namespace sluice::observe {

class ThrottledSummary {
 public:
  static constexpr std::int64_t kWindowMs = 1000;
  // Distinct keys counted exactly up to this many a second; beyond, "at least".
  static constexpr std::size_t kMaxDistinctKeys = 65536;

  explicit ThrottledSummary(unsigned lines_per_second) : lines_per_second_(lines_per_second) {}
  void set_lines_per_second(unsigned n);

  // A line to write: its event, and how many events it stands for (a line that summarises
  // lines held back by the per-key budget stands for them too).
  struct Line {
    const ThrottledEvent& event;
    std::uint64_t events = 1;
  };
  // Whether the line may be written now; if not, its events are counted for the summary.
  bool admit(Line line, std::int64_t now_ms);

  struct Summary {
    std::map<std::pair<std::string, std::string>, std::uint64_t> counts;  // (route, decision)
    std::size_t distinct_keys = 0;
    bool keys_capped = false;  // distinct_keys is a lower bound
    [[nodiscard]] std::uint64_t total() const;
    [[nodiscard]] bool any_rejected() const;
  };
  // The counts of a second that is over, once; nullopt while nothing was held back.
  std::optional<Summary> take(std::int64_t now_ms);

  // The summary's fields: `counts` as {"route":{"decision":n}}, `events`, `distinct_keys`.
  static std::vector<Field> fields_of(const Summary& s);

 private:
  std::mutex mutex_;
  unsigned lines_per_second_;
  std::int64_t window_start_ms_ = 0;
  unsigned lines_ = 0;
  Summary held_;
  std::unordered_set<std::uint64_t> keys_;
};

}  // namespace sluice::observe
