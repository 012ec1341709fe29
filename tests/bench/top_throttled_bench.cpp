// What counting a throttled request in the /throttled/top summary costs (docs/BENCHMARKS.md):
// one hot key (a flood from one client) and a new key each time (a flood from many addresses,
// every one taking the least counted slot).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "sluice/observe/top_throttled.hpp"

namespace {

using sluice::observe::TopThrottled;
constexpr std::int64_t kNowMs = 1'800'000'000'000;

void BM_TopThrottledHotKey(benchmark::State& state) {
  TopThrottled top;
  for (auto _ : state) {
    top.record("search", "ip:203.0.113.7", "", TopThrottled::Kind::rejected, kNowMs);
  }
}
BENCHMARK(BM_TopThrottledHotKey);

void BM_TopThrottledDistinctKeys(benchmark::State& state) {
  TopThrottled top;
  std::vector<std::string> keys;
  for (int i = 0; i < 65536; ++i)
    keys.push_back("ip:10." + std::to_string(i / 256) + ".0." + std::to_string(i % 256));
  std::size_t i = 0;
  for (auto _ : state) {
    top.record("search", keys[i++ & 65535], "", TopThrottled::Kind::rejected, kNowMs);
  }
}
BENCHMARK(BM_TopThrottledDistinctKeys);

}  // namespace
