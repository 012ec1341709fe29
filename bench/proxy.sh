#!/usr/bin/env bash
# wrk → sluice → nginx (return 200)   versus   wrk → nginx with limit_req (never triggering) → the
# same upstream. One worker each, loopback only, alternating rounds; prints req/s and p50/p99
# for both and their ratio. Bounded: ROUNDS × 2 × DURATION seconds plus start-up.
#
#   bench/proxy.sh [ROUNDS] [DURATION] [CONNECTIONS]
ROUNDS=${1:-3}
DURATION=${2:-10}
CONNECTIONS=${3:-32}
source "$(dirname "$0")/common.sh"

upstream_port=$(free_port)
nginx_port=$(free_port)
sluice_port=$(free_port)

start_upstream "$upstream_port"
nginx_conf peer "
  limit_req_zone \$binary_remote_addr zone=bench:10m rate=100000000r/s;
  upstream api { server 127.0.0.1:$upstream_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      limit_req zone=bench burst=100000000 nodelay;
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"
start_nginx peer
nginx_pid=${pids[-1]}

cat > "$work/sluice.yaml" <<CONF
version: 1
listen: 127.0.0.1:$sluice_port
upstream: http://127.0.0.1:$upstream_port
workers: 1
log: { level: warn, file: $work/sluice.log }
routes:
  - name: bench
    match: { path_prefix: / }
    max_rate: 100000000
    time_period: 1s
CONF
start_sluice "$work/sluice.yaml"
for port in $upstream_port $nginx_port $sluice_port; do wait_http "http://127.0.0.1:$port/"; done

# CPU time (user + system, clock ticks) of a process and its children: the proxy's cost per
# request, which a shared, noisy machine disturbs far less than its throughput.
cpu_ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$total"
}

run_wrk() {  # $1 = port, $2 = proxy pid → "rps p50_ms p99_ms cpu_us_per_request"
  local before after
  before=$(cpu_ticks "$2")
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$1/" > "$work/wrk.out"
  after=$(cpu_ticks "$2")
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
    /requests in/ { n = $1 }
    END { printf "%.0f %.3f %.3f %.1f\n", rps, p50, p99, ticks / hz * 1e6 / n }' "$work/wrk.out"
}

printf "%-6s %-8s %12s %10s %10s %14s\n" round target "req/s" "p50 ms" "p99 ms" "CPU us/req"
declare -a s_rps n_rps s_cpu n_cpu
for r in $(seq "$ROUNDS"); do
  read -r rps p50 p99 cpu < <(run_wrk "$sluice_port" "$sluice_pid"); s_rps+=("$rps"); s_cpu+=("$cpu")
  printf "%-6s %-8s %12s %10s %10s %14s\n" "$r" sluice "$rps" "$p50" "$p99" "$cpu"
  read -r rps p50 p99 cpu < <(run_wrk "$nginx_port" "$nginx_pid"); n_rps+=("$rps"); n_cpu+=("$cpu")
  printf "%-6s %-8s %12s %10s %10s %14s\n" "$r" nginx "$rps" "$p50" "$p99" "$cpu"
done
python3 - "${s_rps[*]}" "${n_rps[*]}" "${s_cpu[*]}" "${n_cpu[*]}" <<'PY'
import statistics, sys
s, n, sc, nc = ([float(x) for x in arg.split()] for arg in sys.argv[1:5])
med = statistics.median
print(f"median req/s: sluice {med(s):.0f}, nginx {med(n):.0f}, "
      f"ratio sluice/nginx {med(s) / med(n):.2f}")
print(f"median CPU per request: sluice {med(sc):.1f} us, nginx {med(nc):.1f} us, "
      f"ratio nginx/sluice {med(nc) / med(sc):.2f}")
PY
