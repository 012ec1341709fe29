#pragma once
// The metrics registry (README, "Metrics"). Every family is declared once, in kFamilies; series are
// created when a config is loaded and then updated lock-free (relaxed atomics) on the data path.
// Labels never carry client keys, so the number of series is bounded by the config.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::observe {

enum class Family {
  requests_total,
  delay_seconds,
  upstream_responses_total,
  upstream_errors_total,
  local_responses_total,
  buckets,
  bucket_evictions_total,
  connections,
  connections_refused_total,
  tunnels,
  config_reloads_total,
  redis_up,
  redis_commands_total,
  redis_latency_seconds,
  redis_fallbacks_total,
  redis_cache_hits_total,
  redis_batch_size,
  redis_failovers_total,
  tls_handshake_failures_total,
  http2_streams_total,
  protocol_requests_total,
  http2_goaways_total,
  start_time_seconds,
  open_fds,
  resident_memory_bytes,
};

enum class Type { counter, gauge, histogram };

struct FamilyInfo {
  Family family;
  std::string_view name;
  Type type;
  std::string_view help;
  double bucket_scale = 1;  // histograms: Histogram::kBounds times this
};

inline constexpr FamilyInfo kFamilies[] = {
    {Family::requests_total, "sluice_requests_total", Type::counter,
     "Requests by route and rate-limit decision."},
    {Family::delay_seconds, "sluice_delay_seconds", Type::histogram,
     "Delays applied to requests held until their bucket had room."},
    {Family::upstream_responses_total, "sluice_upstream_responses_total", Type::counter,
     "Upstream responses by route and status class."},
    {Family::upstream_errors_total, "sluice_upstream_errors_total", Type::counter,
     "Failed upstream exchanges by route and kind (connect, timeout, reset, protocol, tls)."},
    {Family::local_responses_total, "sluice_local_responses_total", Type::counter,
     "Responses sluice produced itself, by status."},
    {Family::buckets, "sluice_buckets", Type::gauge, "Live buckets by state."},
    {Family::bucket_evictions_total, "sluice_bucket_evictions_total", Type::counter,
     "Buckets dropped from the table: drained (lossless) or forced (max_keys reached)."},
    {Family::connections, "sluice_connections", Type::gauge, "Open connections by side."},
    {Family::connections_refused_total, "sluice_connections_refused_total", Type::counter,
     "New client connections turned away, by reason (max_connections, per_client)."},
    {Family::tunnels, "sluice_tunnels", Type::gauge,
     "Open upgraded connections (WebSocket and other protocols) by route."},
    {Family::config_reloads_total, "sluice_config_reloads_total", Type::counter,
     "Configuration reloads by result."},
    {Family::redis_up, "sluice_redis_up", Type::gauge,
     "1 while every worker's connection to Redis is usable, else 0 (shared limits)."},
    {Family::redis_commands_total, "sluice_redis_commands_total", Type::counter,
     "Redis script calls by result (ok, error, timeout)."},
    // Round trips are sub-millisecond: the request-delay buckets scaled down a hundredfold.
    {Family::redis_latency_seconds, "sluice_redis_latency_seconds", Type::histogram,
     "Round trip of Redis script calls.", 0.01},
    {Family::redis_fallbacks_total, "sluice_redis_fallbacks_total", Type::counter,
     "Decisions on shared limits taken by redis.on_error while Redis was unusable, by route."},
    {Family::redis_cache_hits_total, "sluice_redis_cache_hits_total", Type::counter,
     "Rejections decided by the over-limit cache without asking Redis."},
    // A count, not seconds: the bounds scaled to 0.5, 1, 2.5, 5, 10, 25, 50, 100, ...
    {Family::redis_batch_size, "sluice_redis_batch_size", Type::histogram,
     "Requests decided per Redis script call.", 100},
    {Family::redis_failovers_total, "sluice_redis_failovers_total", Type::counter,
     "Changes of the Redis master followed (a Sentinel switch)."},
    {Family::tls_handshake_failures_total, "sluice_tls_handshake_failures_total", Type::counter,
     "Failed TLS handshakes by side (downstream, upstream) and reason."},
    {Family::http2_streams_total, "sluice_http2_streams_total", Type::counter,
     "HTTP/2 streams opened by clients."},
    {Family::protocol_requests_total, "sluice_protocol_requests_total", Type::counter,
     "Requests by the protocol that brought them: http/1.1, h2 (TLS) or h2c (clear text)."},
    {Family::http2_goaways_total, "sluice_http2_goaways_total", Type::counter,
     "HTTP/2 connections ended by sluice with GOAWAY, by reason."},
    {Family::start_time_seconds, "process_start_time_seconds", Type::gauge,
     "Start time of the process since the Unix epoch, in seconds."},
    {Family::open_fds, "process_open_fds", Type::gauge, "Open file descriptors."},
    {Family::resident_memory_bytes, "process_resident_memory_bytes", Type::gauge,
     "Resident memory size in bytes."},
};

using Labels = std::vector<std::pair<std::string, std::string>>;

using Counter = std::atomic<std::uint64_t>;
using Gauge = std::atomic<std::int64_t>;

class Histogram {
 public:
  explicit Histogram(double scale = 1) noexcept : scale_(scale) {}
  [[nodiscard]] double bound(std::size_t i) const noexcept { return kBounds[i] * scale_; }
  static constexpr std::array<double, 13> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1,     2.5,  5,     10,   30,  60};
  void observe(double seconds) noexcept;
  [[nodiscard]] std::uint64_t count() const noexcept {
    return count_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] double sum() const noexcept;
  [[nodiscard]] std::uint64_t bucket(std::size_t i) const noexcept {
    return buckets_[i].load(std::memory_order_relaxed);
  }

 private:
  double scale_;
  std::array<std::atomic<std::uint64_t>, kBounds.size()> buckets_{};  // non-cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};
};

class Metrics {
 public:
  // Stable references: a series lives as long as the registry.
  Counter& counter(Family family, const Labels& labels);
  Gauge& gauge(Family family, const Labels& labels);
  Histogram& histogram(Family family, const Labels& labels);

  // Called at the start of every render, to refresh gauges that are read rather than counted.
  void on_scrape(std::function<void(Metrics&)> refresh);
  // Runs those refreshers (render() does it itself).
  void refresh();

  // The current value of every series of a counter or gauge family (for GET /stats).
  struct Value {
    Labels labels;
    double value = 0;
    [[nodiscard]] std::string_view label(std::string_view name) const noexcept;
  };
  [[nodiscard]] std::vector<Value> values(Family family);

  // Prometheus text exposition format 0.0.4.
  [[nodiscard]] std::string render();

 private:
  struct Series {
    std::string labels;  // rendered: {a="x",b="y"}
    Labels label_pairs;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  Series& series(Family family, const Labels& labels);

  std::mutex mutex_;
  std::map<std::pair<Family, std::string>, Series> series_;
  std::vector<std::function<void(Metrics&)>> refreshers_;
};

}  // namespace sluice::observe
