// Overrides at scale (docs/BENCHMARKS.md, "Overrides"): a keys_file of 1 000 000 API keys loaded
// with the config (time and resident memory it adds), and the lookup of a key with 10 and with
// 1 000 000 entries — the same, since exact values sit in a hash table.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "sluice/config/load.hpp"
#include "sluice/limit/overrides.hpp"

namespace {

using sluice::limit::OverrideMatcher;

// A 32-character API key, as a provider would issue it.
std::string api_key(std::mt19937_64& random) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string key(32, ' ');
  for (char& c : key) c = kAlphabet[random() % 36];
  return key;
}

long resident_kb() {
  long pages = 0;
  long resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

void BM_OverridesLoadAMillionKeysFile(benchmark::State& state) {
  const std::string path = "/tmp/sluice-bench-keys-" + std::to_string(::getpid());
  {
    std::mt19937_64 random(42);
    std::ofstream out(path);
    for (int i = 0; i < 1'000'000; ++i) out << api_key(random) << '\n';
  }
  const std::string yaml =
      "version: 1\nlisten: 127.0.0.1:8080\nupstream: http://127.0.0.1:9000\nroutes:\n"
      "  - { name: api, key: header:X-Api-Key, max_rate: 10, time_period: 1s,\n"
      "      overrides: [{ keys_file: " +
      path + ", max_rate: 100 }] }\n";
  for (auto _ : state) {
    const long before = resident_kb();
    const auto started = std::chrono::steady_clock::now();
    auto loaded = sluice::config::load_string(yaml, "bench.yaml");
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const long after = resident_kb();
    if (!loaded.config) state.SkipWithError("the config did not load");
    state.counters["load_s"] = seconds;
    state.counters["added_MB"] = static_cast<double>(after - before) / 1024;
    benchmark::DoNotOptimize(loaded);
  }
  std::remove(path.c_str());
}
BENCHMARK(BM_OverridesLoadAMillionKeysFile)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_OverrideLookup(benchmark::State& state) {
  std::mt19937_64 random(7);
  OverrideMatcher matcher;
  std::vector<std::string> listed;
  for (std::int64_t i = 0; i < state.range(0); ++i) {
    listed.push_back(api_key(random));
    matcher.add_exact(listed.back(), static_cast<std::uint32_t>(i % 4));
  }
  std::vector<std::string> probes;  // half listed, half not
  for (int i = 0; i < 1024; ++i) {
    probes.push_back(i % 2 == 0 ? listed[random() % listed.size()] : api_key(random));
  }
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(matcher.match(probes[i++ & 1023]));
}
BENCHMARK(BM_OverrideLookup)->Arg(10)->Arg(1'000'000);

}  // namespace
