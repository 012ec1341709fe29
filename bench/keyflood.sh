#!/usr/bin/env bash
# Key flood: millions of distinct client keys (X-Forwarded-For from a trusted peer) against
# max_keys: 50000. Reports peak RSS, forced evictions and throughput. Loopback only, bounded.
#
#   bench/keyflood.sh [DURATION_SECONDS]     (default 40: about 2 M keys at ~50 k req/s)
set -euo pipefail

DURATION=${1:-40}
root=$(cd "$(dirname "$0")/.." && pwd)
sluice="$root/build-bench/sluice"
[ -x "$sluice" ] || { echo "build first: make bench" >&2; exit 1; }
command -v wrk >/dev/null && command -v nginx >/dev/null || "$root/scripts/install-deps" --bench

work=$(mktemp -d /tmp/sluice-keyflood.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port); port=$(free_port); admin=$(free_port)
user_line=""; [ "$(id -u)" = 0 ] && user_line="user root;"

cat > "$work/nginx.conf" <<CONF
$user_line
worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/error.log warn;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $work/b; proxy_temp_path $work/p; fastcgi_temp_path $work/f;
       uwsgi_temp_path $work/u; scgi_temp_path $work/s;
       server { listen 127.0.0.1:$up; location / { return 200 "ok\n"; } } }
CONF
nginx -p "$work" -c "$work/nginx.conf" & pids+=($!)

cat > "$work/sluice.yaml" <<CONF
version: 1
listen: 127.0.0.1:$port
admin: 127.0.0.1:$admin
upstream: http://127.0.0.1:$up
trusted_proxies: [127.0.0.1/32]
max_keys: 50000
log: { level: error, file: $work/sluice.log }
routes:
  - { name: flood, match: { path_prefix: / }, key: client_ip, max_rate: 10, time_period: 1m }
CONF
"$sluice" -c "$work/sluice.yaml" & spid=$!; pids+=($spid)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null && break; sleep 0.05; done

cat > "$work/keys.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local ip = string.format("10.%d.%d.%d", (n >> 16) & 255, (n >> 8) & 255, n & 255)
  return wrk.format("GET", "/", { ["X-Forwarded-For"] = ip })
end
LUA
rss() { awk '/^VmRSS/ {print $2}' "/proc/$spid/status"; }
echo "RSS at start: $(rss) kB"
wrk -t1 -c32 -d"${DURATION}s" -s "$work/keys.lua" "http://127.0.0.1:$port/" | grep -E 'requests in|Requests/sec'
echo "RSS at end:   $(rss) kB   peak (VmHWM): $(awk '/^VmHWM/ {print $2}' /proc/$spid/status) kB"
curl -s "http://127.0.0.1:$admin/metrics" | grep -E '^sluice_bucket_evictions_total|^sluice_buckets|^sluice_requests_total\{route="flood"'
