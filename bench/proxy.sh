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

run_wrk() {  # $1 = port → "rps p50_ms p99_ms"
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$1/" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
    END { printf "%.0f %.3f %.3f\n", rps, p50, p99 }'
}

printf "%-6s %-8s %12s %10s %10s\n" round target "req/s" "p50 ms" "p99 ms"
declare -a s_rps n_rps
for r in $(seq "$ROUNDS"); do
  read -r rps p50 p99 < <(run_wrk "$sluice_port"); s_rps+=("$rps")
  printf "%-6s %-8s %12s %10s %10s\n" "$r" sluice "$rps" "$p50" "$p99"
  read -r rps p50 p99 < <(run_wrk "$nginx_port"); n_rps+=("$rps")
  printf "%-6s %-8s %12s %10s %10s\n" "$r" nginx "$rps" "$p50" "$p99"
done
python3 - "${s_rps[*]}" "${n_rps[*]}" <<'PY'
import statistics, sys
s = [float(x) for x in sys.argv[1].split()]
n = [float(x) for x in sys.argv[2].split()]
print(f"median req/s: sluice {statistics.median(s):.0f}, nginx {statistics.median(n):.0f}, "
      f"ratio sluice/nginx {statistics.median(s) / statistics.median(n):.2f}")
PY
