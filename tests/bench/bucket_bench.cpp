// ns per admit and bytes per live key (docs/BENCHMARKS.md). `make bench` runs it.
#include <benchmark/benchmark.h>

#include <limits>
#include <memory>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/core/hash.hpp"
#include "sluice/limit/bucket_table.hpp"
#include "support/atomic_bucket.hpp"

namespace {

using sluice::Nanos;
using sluice::limit::BucketId;
using sluice::limit::BucketTable;
using sluice::limit::Claim;

constexpr std::size_t kManyKeys = 1'000'000;
// Always admitted (the capacity is huge) and live for a second after each admit, so the
// benchmark measures the decision on resident keys, not 429s or re-insertions.
constexpr Claim kClaim{sluice::kNanosPerSecond, std::numeric_limits<Nanos>::max() / 4};

std::vector<BucketId> make_ids(std::size_t n) {
  const auto hash = sluice::KeyedHash::random();
  std::vector<BucketId> ids(n);
  for (std::size_t i = 0; i < n; ++i) {
    ids[i] =
        sluice::limit::make_bucket_id(hash("route\x1f"
                                           "0\x1fip:" +
                                           std::to_string(i)));
  }
  return ids;
}

const std::vector<BucketId>& many_ids() {
  static const auto ids = make_ids(kManyKeys);
  return ids;
}

void BM_BucketAdmit(benchmark::State& state) {
  sluice::limit::Bucket bucket;
  const sluice::SteadyClock clock;
  for (auto _ : state) benchmark::DoNotOptimize(bucket.admit(clock.now(), kClaim));
}
BENCHMARK(BM_BucketAdmit);

BucketTable& shared_table() {
  static BucketTable table(2 * kManyKeys);
  return table;
}

void BM_TableAdmitHotKey(benchmark::State& state) {
  BucketTable& table = shared_table();
  const BucketId id = many_ids()[state.thread_index()];
  const BucketId shared = many_ids()[0];
  const bool same_key = state.range(0) == 0;
  const sluice::SteadyClock clock;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.reserve(same_key ? shared : id, clock.now(), kClaim, 0));
  }
  state.SetLabel(same_key ? "same key" : "one key per thread");
}
BENCHMARK(BM_TableAdmitHotKey)->Arg(0)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_TableAdmitHotKey)->Arg(1)->Threads(2)->UseRealTime();

void BM_TableAdmitManyKeys(benchmark::State& state) {
  BucketTable& table = shared_table();
  const auto& ids = many_ids();
  const sluice::SteadyClock clock;
  // Threads walk the keys from different offsets so they touch distinct buckets.
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (kManyKeys / 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.reserve(ids[i], clock.now(), kClaim, 0));
    if (++i == kManyKeys) i = 0;
  }
  state.SetLabel("1M distinct keys");
}
BENCHMARK(BM_TableAdmitManyKeys)->Threads(1)->Threads(2)->UseRealTime();

void BM_BytesPerLiveKey(benchmark::State& state) {
  const auto& ids = many_ids();
  for (auto _ : state) {
    BucketTable table(kManyKeys);
    for (BucketId id : ids)
      table.reserve(id, 0, {sluice::kNanosPerSecond, 60 * sluice::kNanosPerSecond}, 0);
    state.counters["live_keys"] = static_cast<double>(table.size());
    state.counters["bytes_per_key"] =
        static_cast<double>(table.memory_bytes()) / static_cast<double>(table.size());
  }
}
BENCHMARK(BM_BytesPerLiveKey)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
