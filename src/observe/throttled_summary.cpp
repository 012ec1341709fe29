#include "sluice/observe/throttled_summary.hpp"

#include <functional>

#include "sluice/core/json.hpp"

namespace sluice::observe {

void ThrottledSummary::set_lines_per_second(unsigned n) {
  std::lock_guard guard(mutex_);
  lines_per_second_ = n;
}

bool ThrottledSummary::admit(Line line, std::int64_t now_ms) {
  const ThrottledEvent& e = line.event;
  std::lock_guard guard(mutex_);
  if (now_ms - window_start_ms_ >= kWindowMs && held_.counts.empty()) {
    // A held-back second keeps its window until take() has written it.
    window_start_ms_ = now_ms;
    lines_ = 0;
  }
  if (lines_ < lines_per_second_ && held_.counts.empty()) {
    ++lines_;
    return true;
  }
  held_.counts[{e.route, e.decision}] += line.events;
  if (keys_.size() < kMaxDistinctKeys) {
    keys_.insert(std::hash<std::string>{}(e.key));
  } else {
    held_.keys_capped = true;
  }
  return false;
}

std::optional<ThrottledSummary::Summary> ThrottledSummary::take(std::int64_t now_ms) {
  std::lock_guard guard(mutex_);
  if (held_.counts.empty() || now_ms - window_start_ms_ < kWindowMs) return std::nullopt;
  Summary out = std::move(held_);
  out.distinct_keys = keys_.size();
  held_ = {};
  keys_.clear();
  window_start_ms_ = now_ms;
  lines_ = 0;
  return out;
}

std::uint64_t ThrottledSummary::Summary::total() const {
  std::uint64_t n = 0;
  for (const auto& [where, count] : counts) n += count;
  return n;
}

bool ThrottledSummary::Summary::any_rejected() const {
  for (const auto& [where, count] : counts) {
    if (where.second == "rejected") return true;
  }
  return false;
}

std::vector<Field> ThrottledSummary::fields_of(const Summary& s) {
  std::string counts = "{";
  const std::string* route = nullptr;
  for (const auto& [where, count] : s.counts) {  // ordered by route, then decision
    if (route == nullptr || *route != where.first) {
      if (route != nullptr) counts += "},";
      route = &where.first;
      append_json_string(counts, *route);
      counts += ":{";
    } else {
      counts += ',';
    }
    append_json_string(counts, where.second);
    counts += ':' + std::to_string(count);
  }
  if (route != nullptr) counts += '}';
  counts += '}';
  std::vector<Field> fields{{"events", std::to_string(s.total()), true},
                            {"distinct_keys", std::to_string(s.distinct_keys), true},
                            {"counts", std::move(counts), true}};
  if (s.keys_capped) fields.push_back({"distinct_keys_at_least", "true", true});
  return fields;
}

}  // namespace sluice::observe
