#!/usr/bin/env bash
# h2load (HTTP/2 in clear text, by prior knowledge) → sluice, nginx (`listen … http2`) and HAProxy
# (`bind … proto h2`), each with a rate limit that never triggers, → the same nginx upstream over
# HTTP/1.1 keep-alive. One worker (thread) each, loopback only, alternating rounds; prints req/s
# and CPU per request for all three and the peers' ratios. Bounded: ROUNDS × 3 × DURATION seconds
# plus start-up.
#
#   bench/h2.sh [ROUNDS] [DURATION] [CLIENTS] [STREAMS]     (defaults 3 10 8 10: h2load -c8 -m10)
#
# BASELINE=path/to/an/older/sluice adds it as a fourth target, as bench/proxy.sh does.
# Then gRPC unary calls (h2load, 5-byte messages) to the tests' Python echo server, directly and
# through sluice: calls per second both ways and sluice's CPU per call.
ROUNDS=${1:-3}
DURATION=${2:-10}
CLIENTS=${3:-8}
STREAMS=${4:-10}
source "$(dirname "$0")/common.sh"
command -v h2load >/dev/null || "$root/scripts/install-deps"

upstream_port=$(free_port)
nginx_port=$(free_port)
sluice_port=$(free_port)
haproxy_port=$(free_port)

start_upstream "$upstream_port"
# keepalive_requests: nginx ends an HTTP/2 connection after 1 000 requests by default, and
# h2load does not reconnect within a timed run.
start_nginx_peer "$nginx_port http2" "$upstream_port" "keepalive_requests 100000000;"

start_haproxy_peer "$haproxy_port" "$upstream_port" "proto h2"

write_bench_config "$sluice_port" "$upstream_port"
start_sluice "$work/sluice.yaml"
targets="sluice nginx haproxy"
start_baseline
wait_http "http://127.0.0.1:$upstream_port/"
wait_http "http://127.0.0.1:$sluice_port/"
sleep 0.5  # nginx and HAProxy speak only h2 on their ports: no HTTP/1.1 readiness probe

cpu_ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$total"
}

run_h2load() {  # $1 = port, $2 = proxy pid → "rps cpu_us_per_request"
  local before after
  before=$(cpu_ticks "$2")
  h2load -c"$CLIENTS" -m"$STREAMS" -D"$DURATION" "http://127.0.0.1:$1/" > "$work/h2load.out"
  after=$(cpu_ticks "$2")
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    /^finished in/ { rps = $4 }
    /^requests:/ { n = $8 }
    END { printf "%.0f %.1f\n", rps, (n > 0 ? ticks / hz * 1e6 / n : 0) }' "$work/h2load.out"
  grep -q '^status codes: [0-9]* 2xx, 0 3xx, 0 4xx, 0 5xx' "$work/h2load.out" ||
    { echo "non-2xx answers from port $1:" >&2; grep '^status codes' "$work/h2load.out" >&2; }
}

printf "%-6s %-8s %12s %14s\n" round target "req/s" "CPU us/req"
declare -a results
for r in $(seq "$ROUNDS"); do
  for target in $targets; do
    case $target in
      sluice) port=$sluice_port pid=$sluice_pid ;;
      nginx) port=$nginx_port pid=$nginx_pid ;;
      haproxy) port=$haproxy_port pid=$haproxy_pid ;;
      baseline) port=$baseline_port pid=$baseline_pid ;;
    esac
    read -r rps cpu < <(run_h2load "$port" "$pid")
    results+=("$target $rps $cpu")
    printf "%-6s %-8s %12s %14s\n" "$r" "$target" "$rps" "$cpu"
  done
done
printf '%s\n' "${results[@]}" | python3 -c '
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in sys.stdin:
    target, *values = line.split()
    runs[target].append([float(v) for v in values])
med = {t: [statistics.median(col) for col in zip(*rows)] for t, rows in runs.items()}
for t, (rps, cpu) in med.items():
    print(f"median {t:8} {rps:8.0f} req/s  CPU {cpu:5.1f} us/req")
s = med["sluice"]
for peer in [t for t in ("nginx", "haproxy", "baseline") if t in med]:
    p = med[peer]
    print(f"{peer}: throughput sluice/{peer} {s[0] / p[0]:.2f}, "
          f"CPU per request {peer}/sluice {p[1] / s[1]:.2f}")
'

# gRPC: the same calls to the server directly and through sluice (upstream_protocol auto: h2).
exec 3< <(sleep $((ROUNDS * DURATION * 2 + 60)))
/usr/bin/python3 "$root/tests/support/grpc_server.py" <&3 > "$work/grpc.port" &
pids+=($!)
for _ in $(seq 100); do grep -q port= "$work/grpc.port" 2>/dev/null && break; sleep 0.05; done
grpc_port=$(sed 's/port=//' "$work/grpc.port")
grpc_sluice_port=$(free_port)
{
  sluice_config_head "$grpc_sluice_port" "$grpc_port"
  printf 'routes:\n  - { name: grpc, match: { path_prefix: / }, max_rate: 100000000, time_period: 1s }\n'
} | sed 's|sluice.log|grpc-sluice.log|' > "$work/grpc-sluice.yaml"
"$sluice" -c "$work/grpc-sluice.yaml" &
pids+=($!)
grpc_sluice_pid=$!
sleep 0.5
printf '\0\0\0\0\005hello' > "$work/grpc.msg"
grpc_load() {  # $1 = port → "calls_per_s"
  h2load -c4 -m10 -D"$DURATION" -d "$work/grpc.msg" -H 'content-type: application/grpc' \
    -H 'te: trailers' "http://127.0.0.1:$1/test.Echo/Unary" > "$work/grpc.out"
  awk '/^finished in/ { print $4 }' "$work/grpc.out"
}
direct=$(grpc_load "$grpc_port")
before=$(cpu_ticks "$grpc_sluice_pid")
through=$(grpc_load "$grpc_sluice_port")
after=$(cpu_ticks "$grpc_sluice_pid")
calls=$(awk '/^requests:/ { print $8 }' "$work/grpc.out")
awk -v d="$direct" -v t="$through" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" \
  -v n="$calls" 'BEGIN { printf "grpc: direct %.0f calls/s, through sluice %.0f calls/s (%.2f), sluice CPU %.1f us/call\n", d, t, t / d, ticks / hz * 1e6 / n }'
