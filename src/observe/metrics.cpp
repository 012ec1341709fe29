#include "sluice/observe/metrics.hpp"

#include <cmath>

#include <algorithm>
#include <cstdio>

namespace sluice::observe {
namespace {

const FamilyInfo& info(Family family) {
  for (const FamilyInfo& f : kFamilies) {
    if (f.family == family) return f;
  }
  return kFamilies[0];  // unreachable: every Family is in the table
}

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ',';
    out += name;
    out += "=\"";
    for (char c : value) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string format_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// {a="x"} + le="0.5" → {a="x",le="0.5"}
std::string with_le(const std::string& labels, const std::string& le) {
  if (labels.empty()) return "{le=\"" + le + "\"}";
  return labels.substr(0, labels.size() - 1) + ",le=\"" + le + "\"}";
}

}  // namespace

void Histogram::observe(double seconds) noexcept {
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= bound(i)) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::uint64_t>(std::llround(seconds * 1e6)),
                        std::memory_order_relaxed);
}

double Histogram::sum() const noexcept {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

Metrics::Series& Metrics::series(Family family, const Labels& labels) {
  std::lock_guard guard(mutex_);
  auto [it, inserted] = series_.try_emplace({family, render_labels(labels)});
  Series& s = it->second;
  if (inserted) {
    s.labels = it->first.second;
    s.label_pairs = labels;
    switch (info(family).type) {
      case Type::counter:
        s.counter = std::make_unique<Counter>(0);
        break;
      case Type::gauge:
        s.gauge = std::make_unique<Gauge>(0);
        break;
      case Type::histogram:
        s.histogram = std::make_unique<Histogram>(info(family).bucket_scale);
        break;
    }
  }
  return s;
}

Counter& Metrics::counter(Family family, const Labels& labels) {
  return *series(family, labels).counter;
}
Gauge& Metrics::gauge(Family family, const Labels& labels) {
  return *series(family, labels).gauge;
}
Histogram& Metrics::histogram(Family family, const Labels& labels) {
  return *series(family, labels).histogram;
}

void Metrics::on_scrape(std::function<void(Metrics&)> refresh) {
  std::lock_guard guard(mutex_);
  refreshers_.push_back(std::move(refresh));
}

void Metrics::refresh() {
  std::vector<std::function<void(Metrics&)>> refreshers;
  {
    std::lock_guard guard(mutex_);
    refreshers = refreshers_;
  }
  for (auto& refresh : refreshers) refresh(*this);
}

std::string_view Metrics::Value::label(std::string_view name) const noexcept {
  for (const auto& [n, v] : labels) {
    if (n == name) return v;
  }
  return {};
}

std::vector<Metrics::Value> Metrics::values(Family family) {
  std::lock_guard guard(mutex_);
  std::vector<Value> out;
  for (auto it = series_.lower_bound({family, std::string()});
       it != series_.end() && it->first.first == family; ++it) {
    const Series& s = it->second;
    if (s.counter) out.push_back({s.label_pairs, static_cast<double>(s.counter->load())});
    if (s.gauge) out.push_back({s.label_pairs, static_cast<double>(s.gauge->load())});
    if (s.histogram) out.push_back({s.label_pairs, static_cast<double>(s.histogram->count())});
  }
  return out;
}

std::string Metrics::render() {
  refresh();

  std::lock_guard guard(mutex_);
  std::string out;
  for (const FamilyInfo& f : kFamilies) {
    const auto first = series_.lower_bound({f.family, std::string()});
    if (first == series_.end() || first->first.first != f.family) continue;
    const std::string name(f.name);
    out += "# HELP " + name + " " + std::string(f.help) + "\n";
    out += "# TYPE " + name + " ";
    out += f.type == Type::counter ? "counter\n"
           : f.type == Type::gauge ? "gauge\n"
                                   : "histogram\n";
    for (auto it = first; it != series_.end() && it->first.first == f.family; ++it) {
      const Series& s = it->second;
      if (s.counter) out += name + s.labels + " " + std::to_string(s.counter->load()) + "\n";
      if (s.gauge) out += name + s.labels + " " + std::to_string(s.gauge->load()) + "\n";
      if (s.histogram) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
          cumulative += s.histogram->bucket(i);
          char le[16];
          std::snprintf(le, sizeof le, "%g", s.histogram->bound(i));
          out += name + "_bucket" + with_le(s.labels, le) + " " + std::to_string(cumulative) + "\n";
        }
        const std::uint64_t count = std::max(s.histogram->count(), cumulative);
        out += name + "_bucket" + with_le(s.labels, "+Inf") + " " + std::to_string(count) + "\n";
        out += name + "_sum" + s.labels + " " + format_double(s.histogram->sum()) + "\n";
        out += name + "_count" + s.labels + " " + std::to_string(count) + "\n";
      }
    }
  }
  return out;
}

}  // namespace sluice::observe
