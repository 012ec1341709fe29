#include "sluice/observe/top_throttled.hpp"

#include <algorithm>

#include "sluice/core/json.hpp"
#include "sluice/observe/events.hpp"

namespace sluice::observe {
namespace {

std::string identity(std::string_view route, std::string_view key) {
  std::string id;
  id.reserve(route.size() + 1 + key.size());
  id.append(route).push_back('\0');
  id.append(key);
  return id;
}

void count(TopThrottled::Entry& e, TopThrottled::Kind kind) {
  switch (kind) {
    case TopThrottled::Kind::rejected:
      ++e.rejected;
      break;
    case TopThrottled::Kind::delayed:
      ++e.delayed;
      break;
    case TopThrottled::Kind::dry_run:
      ++e.dry_run;
      break;
    case TopThrottled::Kind::denied:
      ++e.denied;
      break;
  }
}

}  // namespace

void TopThrottled::Slice::clear(std::int64_t new_minute) {
  minute = new_minute;
  heap.clear();
  index.clear();
}

void TopThrottled::Slice::swap_at(std::size_t a, std::size_t b) {
  std::swap(heap[a], heap[b]);
  heap[a].slot->second = a;
  heap[b].slot->second = b;
}

void TopThrottled::Slice::sift_down(std::size_t i) {
  for (;;) {
    std::size_t least = i;
    for (std::size_t child : {2 * i + 1, 2 * i + 2}) {
      if (child < heap.size() && heap[child].count < heap[least].count) least = child;
    }
    if (least == i) return;
    swap_at(i, least);
    i = least;
  }
}

void TopThrottled::Slice::add(std::string_view route, std::string_view key,
                              std::string_view override_label, Kind kind, std::int64_t now_ms) {
  std::string id = identity(route, key);
  if (const auto it = index.find(id); it != index.end()) {
    Counter& c = heap[it->second];
    count(c.entry, kind);
    c.entry.last_ms = now_ms;
    if (c.entry.override_label != override_label) c.entry.override_label = override_label;
    ++c.count;
    sift_down(it->second);
    return;
  }
  if (heap.size() < kSlots) {
    // Counts only grow from here, so a new counter of 1 is a valid leaf wherever it lands; sifting
    // up keeps the minimum at the root.
    std::size_t i = heap.size();
    heap.push_back({&*index.emplace(std::move(id), i).first,
                    Entry{std::string(route), std::string(key), std::string(override_label), 0, 0,
                          0, 0, now_ms},
                    1});
    count(heap.back().entry, kind);
    while (i > 0 && heap[(i - 1) / 2].count > heap[i].count) {
      swap_at(i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
    return;
  }
  // Full: the least counted key gives its counter up; the newcomer inherits its count for the
  // ranking (it may have been that often before), but its own counts start at one.
  Counter& least = heap.front();
  index.erase(index.find(least.slot->first));
  least.slot = &*index.emplace(std::move(id), 0).first;
  least.entry =
      Entry{std::string(route), std::string(key), std::string(override_label), 0, 0, 0, 0, now_ms};
  count(least.entry, kind);
  ++least.count;
  sift_down(0);
}

void TopThrottled::record(std::string_view route, std::string_view key,
                          std::string_view override_label, Kind kind, std::int64_t now_ms) {
  const std::int64_t minute = now_ms / kSliceMs;
  std::lock_guard guard(mutex_);
  Slice& slice = slices_[static_cast<std::size_t>(minute) % kMinutes];
  if (slice.minute != minute) slice.clear(minute);
  slice.add(route, key, override_label, kind, now_ms);
}

std::vector<TopThrottled::Entry> TopThrottled::top(std::int64_t now_ms,
                                                   std::chrono::milliseconds window,
                                                   std::size_t limit) const {
  const std::int64_t window_ms = std::clamp<std::int64_t>(window.count(), 1, kMaxWindowMs);
  const std::int64_t first = (now_ms - window_ms) / kSliceMs;
  const std::int64_t last = now_ms / kSliceMs;
  std::unordered_map<std::string, Entry> merged;
  {
    std::lock_guard guard(mutex_);
    for (const Slice& slice : slices_) {
      if (slice.minute < first || slice.minute > last) continue;
      for (const Counter& c : slice.heap) {
        Entry& into = merged[c.slot->first];
        if (into.route.empty()) {
          into.route = c.entry.route;
          into.key = c.entry.key;
        }
        into.rejected += c.entry.rejected;
        into.delayed += c.entry.delayed;
        into.dry_run += c.entry.dry_run;
        into.denied += c.entry.denied;
        if (c.entry.last_ms >= into.last_ms) into.override_label = c.entry.override_label;
        into.last_ms = std::max(into.last_ms, c.entry.last_ms);
      }
    }
  }
  std::vector<Entry> out;
  out.reserve(merged.size());
  for (auto& [id, e] : merged) out.push_back(std::move(e));
  const auto more_throttled = [](const Entry& a, const Entry& b) {
    if (a.total() != b.total()) return a.total() > b.total();
    return a.last_ms > b.last_ms;
  };
  const std::size_t n = std::min(limit, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                    more_throttled);
  out.resize(n);
  return out;
}

std::size_t TopThrottled::size() const {
  std::lock_guard guard(mutex_);
  std::size_t n = 0;
  for (const Slice& slice : slices_) n += slice.heap.size();
  return n;
}

std::string to_json(const std::vector<TopThrottled::Entry>& entries) {
  std::string out = "[";
  for (const TopThrottled::Entry& e : entries) {
    if (out.size() > 1) out += ',';
    out += "{\"route\":";
    append_json_string(out, e.route);
    out += ",\"key\":";
    append_json_string(out, e.key);
    out += ",\"rejected\":" + std::to_string(e.rejected);
    out += ",\"delayed\":" + std::to_string(e.delayed);
    out += ",\"dry_run\":" + std::to_string(e.dry_run);
    out += ",\"denied\":" + std::to_string(e.denied);
    out += ",\"override\":";
    if (e.override_label.empty()) {
      out += "null";
    } else {
      append_json_string(out, e.override_label);
    }
    out += ",\"last_ts\":";
    append_json_string(out, utc_timestamp(e.last_ms));
    out += '}';
  }
  return out + "]";
}

}  // namespace sluice::observe
