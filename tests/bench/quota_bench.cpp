// What a calendar quota adds to a decision (docs/BENCHMARKS.md, "Quotas"): Limiter::decide on a
// route without and with a quota, over a million client keys. `make bench` runs it.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "sluice/core/hash.hpp"
#include "sluice/limit/limiter.hpp"

namespace {

using namespace sluice;
using namespace sluice::limit;

constexpr std::size_t kKeys = 1'000'000;
constexpr std::int64_t kMonday = 1'795'996'800LL * kNanosPerSecond;  // 2026-11-30

// A request whose client address is one of kKeys.
class Request final : public RequestFacts {
 public:
  explicit Request(std::string ip) : ip_(std::move(ip)) {}
  [[nodiscard]] uri::Lookup header(std::string_view) const override { return {}; }
  [[nodiscard]] uri::Lookup query(std::string_view) const override { return {}; }
  [[nodiscard]] std::string_view client_ip() const override { return ip_; }

 private:
  std::string ip_;
};

RoutePolicy route(bool with_quota) {
  // Never full: the decision, not a 429, is measured.
  auto l = LimitPolicy::make("api", "route:api#0", KeySpec{{{KeyKind::client_ip, {}}}},
                             Rate{1e9, kNanosPerSecond}, 1);
  if (with_quota) l.set_quota(Quota{1'000'000'000, QuotaPeriod::month});
  return RoutePolicy{"api", {l}, Action::reject, 0, false};
}

void BM_Decide(benchmark::State& state) {
  const bool with_quota = state.range(0) != 0;
  BucketTable table(2 * kKeys);
  QuotaTable quotas(2 * kKeys);
  Limiter limiter(table, quotas, KeyedHash::random());
  const RoutePolicy policy = route(with_quota);
  std::vector<Request> requests;
  requests.reserve(kKeys);
  for (std::size_t i = 0; i < kKeys; ++i) {
    requests.emplace_back("10." + std::to_string(i >> 16) + '.' + std::to_string((i >> 8) & 255) +
                          '.' + std::to_string(i & 255));
  }
  std::size_t i = 0;
  Nanos now = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.decide(policy, requests[i], {now, kMonday + now}));
    i = i + 1 == kKeys ? 0 : i + 1;
    now += 1000;
  }
  state.counters["quota_counters"] = static_cast<double>(quotas.size());
}
BENCHMARK(BM_Decide)->Arg(0)->Arg(1)->ArgName("quota");

}  // namespace
