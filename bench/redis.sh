#!/usr/bin/env bash
# The same limit local versus shared (README, "Shared limits across instances"): one sluice
# worker with a local and a shared route of the same (never reached) rate, Redis on the same machine, wrk alternating between the
# two; then a flood on a full shared bucket. Prints req/s, p50/p99 and Redis script calls per
# request, and the ratios the targets are stated in. Loopback only; bounded: ROUNDS × 2 ×
# DURATION + DURATION seconds plus start-up.
#
#   bench/redis.sh [ROUNDS] [DURATION] [CONNECTIONS]
ROUNDS=${1:-3}
DURATION=${2:-10}
CONNECTIONS=${3:-50}
source "$(dirname "$0")/common.sh"
command -v redis-server >/dev/null || "$root/scripts/install-deps"

upstream_port=$(free_port)
redis_port=$(free_port)
sluice_port=$(free_port)
admin_port=$(free_port)

start_upstream "$upstream_port"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --logfile "$work/redis.log" &
redis_pid=$!
pids+=($redis_pid)

cat > "$work/sluice.yaml" <<CONF
version: 1
listen: 127.0.0.1:$sluice_port
admin: 127.0.0.1:$admin_port
upstream: http://127.0.0.1:$upstream_port
workers: 1
redis: { address: "redis://127.0.0.1:$redis_port", timeout: 200ms }
log: { level: warn, file: $work/sluice.log }
routes:
  - { name: local, match: { path_prefix: /local }, max_rate: 100000000, time_period: 1s }
  - { name: shared, match: { path_prefix: /shared }, max_rate: 100000000, time_period: 1s,
      shared: true }
  - { name: flood, match: { path_prefix: /flood }, key: global, max_rate: 100, time_period: 1s,
      shared: true }
CONF
start_sluice "$work/sluice.yaml"
for _ in $(seq 200); do redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
for url in "http://127.0.0.1:$upstream_port/" "http://127.0.0.1:$sluice_port/local" \
           "http://127.0.0.1:$admin_port/healthz"; do wait_http "$url"; done

script_calls() {  # sluice_redis_commands_total, all results
  curl -s "http://127.0.0.1:$admin_port/metrics" |
    awk '/^sluice_redis_commands_total/ { n += $2 } END { print n + 0 }'
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # user + system, clock ticks

# $1 = path → "rps p50_ms p99_ms calls_per_request sluice_cpu_us_per_request redis_cpu_us_per_request"
run_wrk() {
  local before after s0 s1 r0 r1
  before=$(script_calls); s0=$(cpu_ticks "$sluice_pid"); r0=$(cpu_ticks "$redis_pid")
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$sluice_port$1" > "$work/wrk.out"
  after=$(script_calls); s1=$(cpu_ticks "$sluice_pid"); r1=$(cpu_ticks "$redis_pid")
  awk -v calls=$((after - before)) -v st=$((s1 - s0)) -v rt=$((r1 - r0)) -v hz="$(getconf CLK_TCK)" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
    /requests in/ { n = $1 }
    END { printf "%.0f %.3f %.3f %.4f %.1f %.1f\n", rps, p50, p99, calls / n, st / hz * 1e6 / n, rt / hz * 1e6 / n }' "$work/wrk.out"
}

printf "%-6s %-7s %10s %8s %8s %10s %14s %14s\n" round route "req/s" "p50 ms" "p99 ms" "calls/req" \
  "sluice us/req" "redis us/req"
declare -a l_rps s_rps l_p99 s_p99 s_calls s_redis
for r in $(seq "$ROUNDS"); do
  read -r rps p50 p99 calls scpu rcpu < <(run_wrk /local); l_rps+=("$rps"); l_p99+=("$p99")
  printf "%-6s %-7s %10s %8s %8s %10s %14s %14s\n" "$r" local "$rps" "$p50" "$p99" "$calls" "$scpu" "$rcpu"
  read -r rps p50 p99 calls scpu rcpu < <(run_wrk /shared)
  s_rps+=("$rps"); s_p99+=("$p99"); s_calls+=("$calls"); s_redis+=("$rcpu")
  printf "%-6s %-7s %10s %8s %8s %10s %14s %14s\n" "$r" shared "$rps" "$p50" "$p99" "$calls" "$scpu" "$rcpu"
done
read -r rps p50 p99 flood_calls scpu rcpu < <(run_wrk /flood)
printf "%-6s %-7s %10s %8s %8s %10s %14s %14s\n" - flood "$rps" "$p50" "$p99" "$flood_calls" "$scpu" "$rcpu"
python3 - "${l_rps[*]}" "${s_rps[*]}" "${l_p99[*]}" "${s_p99[*]}" "${s_calls[*]}" "$flood_calls" \
  "${s_redis[*]}" <<'PY'
import statistics, sys
l, s, lp, sp, calls = ([float(x) for x in arg.split()] for arg in sys.argv[1:6])
flood = float(sys.argv[6])
redis = [float(x) for x in sys.argv[7].split()]
med = statistics.median
print(f"shared/local throughput (median): {med(s) / med(l):.2f}   target >= 0.9")
print(f"p99 shared - local (median): {med(sp) - med(lp):+.3f} ms   target <= 0.5 ms")
print(f"Redis CPU per shared request (median): {med(redis):.1f} us   target <= 8 us")
print(f"script calls per shared request: {max(calls):.3f}   target <= 0.5 under 50 connections")
print(f"script calls per request, flood on a full bucket: {flood:.4f}   target about 0")
PY
