#!/usr/bin/env bash
# wrk → sluice → nginx (return 200)   versus   wrk → nginx with limit_req (never triggering) → the
# same upstream. One worker each, loopback only, alternating rounds; prints req/s and p50/p99
# for both and their ratio. Bounded: ROUNDS × 2 × DURATION seconds plus start-up.
#
#   bench/proxy.sh [ROUNDS] [DURATION] [CONNECTIONS]
set -euo pipefail

ROUNDS=${1:-3}
DURATION=${2:-10}
CONNECTIONS=${3:-32}
root=$(cd "$(dirname "$0")/.." && pwd)
sluice="$root/build-bench/sluice"
[ -x "$sluice" ] || { echo "build first: make bench (builds build-bench/sluice)" >&2; exit 1; }
command -v wrk >/dev/null && command -v nginx >/dev/null || "$root/scripts/install-deps" --bench

work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
upstream_port=$(free_port)
nginx_port=$(free_port)
sluice_port=$(free_port)
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"

nginx_conf() {  # $1 = name, $2 = server block
  mkdir -p "$work/$1"
  cat > "$work/$1/nginx.conf" <<CONF
$user_line
worker_processes 1;
daemon off;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/$1/body;
  proxy_temp_path $work/$1/proxy;
  fastcgi_temp_path $work/$1/fastcgi;
  uwsgi_temp_path $work/$1/uwsgi;
  scgi_temp_path $work/$1/scgi;
  $2
}
CONF
  nginx -p "$work/$1" -c "$work/$1/nginx.conf" &
  pids+=($!)
}

nginx_conf upstream "server { listen 127.0.0.1:$upstream_port; location / { return 200 \"ok\\n\"; } }"
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
"$sluice" -c "$work/sluice.yaml" &
pids+=($!)

for port in $upstream_port $nginx_port $sluice_port; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.05; done
done

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
