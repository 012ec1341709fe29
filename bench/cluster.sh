#!/usr/bin/env bash
# Shared limits on one Redis against a 3-master Redis Cluster (README, "Scaling out"): two sluice
# instances (one worker each), one per topology, the same per-client shared route; wrk sends
# every request with a random client key, so buckets spread over every slot. Alternating rounds
# print req/s, p99, decide calls per request and Redis CPU per request (all nodes together),
# and how the cluster's calls spread over its masters. Loopback only; bounded: ROUNDS × 2 ×
# DURATION seconds plus start-up.
#
# On one machine every Redis shares its cores with sluice and wrk: the figures show what a
# cluster costs per decision and that the load spreads, not how far it scales. Scaling needs a
# core (better a machine) per master; see docs/BENCHMARKS.md for the plan on paper.
#
#   bench/cluster.sh [ROUNDS] [DURATION] [CONNECTIONS]
ROUNDS=${1:-3}
DURATION=${2:-10}
CONNECTIONS=${3:-50}
source "$(dirname "$0")/common.sh"
command -v redis-server >/dev/null || "$root/scripts/install-deps"

upstream_port=$(free_port)
start_upstream "$upstream_port"

start_redis() {  # PORT [ARGS…]
  local port=$1
  shift
  mkdir -p "$work/redis-$port"
  (cd "$work/redis-$port" && exec redis-server --port "$port" --bind 127.0.0.1 --save "" \
    --appendonly no --logfile "$work/redis-$port/log" "$@") &
  pids+=($!)
  redis_pids+=($!)
  for _ in $(seq 200); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.05; done
  echo "redis-server on $port does not answer" >&2
  exit 1
}
redis_pids=()
single_port=$(free_port)
start_redis "$single_port"
single_pid=${redis_pids[0]}
cluster_ports=()
for _ in 1 2 3; do
  port=$(free_port)
  cluster_ports+=("$port")
  start_redis "$port" --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-port "$(free_port)"
done
cluster_pids=("${redis_pids[@]:1}")
redis-cli --cluster create "${cluster_ports[@]/#/127.0.0.1:}" --cluster-replicas 0 \
  --cluster-yes > "$work/cluster-create.log"
for port in "${cluster_ports[@]}"; do
  for _ in $(seq 200); do
    redis-cli -p "$port" cluster info | grep -q cluster_state:ok && break
    sleep 0.05
  done
done

# write_config NAME PORT ADMIN_PORT REDIS_LINE
write_config() {
  {
    sluice_config_head "$2" "$upstream_port" | sed "s|sluice.log|$1.log|"
    printf 'admin: 127.0.0.1:%s\n%s\n' "$3" "$4"
    printf 'routes:\n  - { name: api, match: { path_prefix: / }, key: "header:X-Client",\n'
    printf '      max_rate: 100000000, time_period: 1s, shared: true }\n'
  } > "$work/$1.yaml"
}
single_http=$(free_port); single_admin=$(free_port)
cluster_http=$(free_port); cluster_admin=$(free_port)
seeds=$(printf '127.0.0.1:%s, ' "${cluster_ports[@]}")
write_config single "$single_http" "$single_admin" \
  "redis: { address: \"redis://127.0.0.1:$single_port\", timeout: 200ms }"
write_config cluster "$cluster_http" "$cluster_admin" \
  "redis: { cluster: [${seeds%, }], timeout: 200ms }"
"$sluice" -c "$work/single.yaml" &
pids+=($!)
"$sluice" -c "$work/cluster.yaml" &
pids+=($!)
wait_http "http://127.0.0.1:$single_admin/healthz"
wait_http "http://127.0.0.1:$cluster_admin/healthz"
for admin in "$single_admin" "$cluster_admin"; do
  for _ in $(seq 200); do
    curl -s "http://127.0.0.1:$admin/metrics" | grep -q '^sluice_redis_up 1' && break
    sleep 0.05
  done
done

# A random client key per request: 100 000 clients, so buckets land in every slot.
cat > "$work/clients.lua" <<'LUA'
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/", { ["X-Client"] = "client-" .. math.random(100000) })
end
LUA

calls() {  # sluice_redis_commands_total of the instance at admin port $1
  curl -s "http://127.0.0.1:$1/metrics" |
    awk '/^sluice_redis_commands_total/ { n += $2 } END { print n + 0 }'
}
cpu_ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo $t; }
node_calls() {  # the decide script's calls on each cluster master
  for port in "${cluster_ports[@]}"; do
    redis-cli -p "$port" info commandstats | awk -F'[:=,]' '/^cmdstat_evalsha/ { print $3 }'
  done | paste -sd' '
}

# $1 = name, $2 = http port, $3 = admin port, rest = Redis pids →
# "rps p99_ms calls_per_request redis_cpu_us_per_request"
run_wrk() {
  local name=$1 http=$2 admin=$3
  shift 3
  local c0 c1 r0 r1
  c0=$(calls "$admin"); r0=$(cpu_ticks "$@")
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/clients.lua" \
    "http://127.0.0.1:$http/" > "$work/wrk-$name.out"
  c1=$(calls "$admin"); r1=$(cpu_ticks "$@")
  awk -v calls=$((c1 - c0)) -v rt=$((r1 - r0)) -v hz="$(getconf CLK_TCK)" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 } /requests in/ { n = $1 }
    /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.3f %.3f %.1f %d\n", rps, p99, calls / n, rt / hz * 1e6 / n, bad }' "$work/wrk-$name.out"
}

printf "%-6s %-8s %10s %8s %10s %14s %8s\n" round redis "req/s" "p99 ms" "calls/req" "redis us/req" non-2xx
declare -a single_rps cluster_rps
for r in $(seq "$ROUNDS"); do
  read -r rps p99 c cpu bad < <(run_wrk single "$single_http" "$single_admin" "$single_pid")
  single_rps+=("$rps")
  printf "%-6s %-8s %10s %8s %10s %14s %8s\n" "$r" single "$rps" "$p99" "$c" "$cpu" "$bad"
  read -r rps p99 c cpu bad < <(run_wrk cluster "$cluster_http" "$cluster_admin" "${cluster_pids[@]}")
  cluster_rps+=("$rps")
  printf "%-6s %-8s %10s %8s %10s %14s %8s\n" "$r" cluster "$rps" "$p99" "$c" "$cpu" "$bad"
done
echo "decide calls on each cluster master: $(node_calls)"
python3 - "${single_rps[*]}" "${cluster_rps[*]}" <<'PY'
import statistics, sys
single, cluster = ([float(x) for x in arg.split()] for arg in sys.argv[1:3])
print(f"cluster/single throughput (median): {statistics.median(cluster) / statistics.median(single):.2f}")
PY
