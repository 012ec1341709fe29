#!/usr/bin/env bash
# Soak: mixed load for DURATION seconds (default 600) — allowed, delayed and rejected requests
# from wrk, clients that hang up while delayed, and an upstream that goes away for 3 s every
# 15 s. Reports RSS and open fds at start and end; fails when they grew beyond noise.
# Loopback only; everything stops by itself.
#
#   bench/soak.sh [DURATION_SECONDS]
DURATION=${1:-600}
source "$(dirname "$0")/common.sh"
up=$(free_port); port=$(free_port); admin=$(free_port)
nginx_conf upstream "server { listen 127.0.0.1:$up; location / { return 200 \"ok\\n\"; } }"

cat > "$work/sluice.yaml" <<CONF
version: 1
listen: 127.0.0.1:$port
admin: 127.0.0.1:$admin
upstream: http://127.0.0.1:$up
workers: 2
timeouts: { upstream_connect: 500ms, upstream_response: 2s }
log: { level: warn, file: $work/sluice.log }
routes:
  - { name: delayed, match: { path_prefix: /delayed }, max_rate: 200, time_period: 1s, action: delay, max_delay: 2s }
  - { name: rejected, match: { path_prefix: /rejected }, max_rate: 50, time_period: 1s }
  - { name: allowed, match: { path_prefix: / }, max_rate: 1000000, time_period: 1s }
CONF
start_sluice "$work/sluice.yaml"; spid=$sluice_pid
wait_http "http://127.0.0.1:$admin/healthz"

# The upstream flaps: up 12 s, down 3 s, until the end.
(
  end=$((SECONDS + DURATION))
  while [ $SECONDS -lt $end ]; do
    nginx -p "$work/upstream" -c "$work/upstream/nginx.conf" & n=$!
    sleep 12; kill $n 2>/dev/null; wait $n 2>/dev/null || true; sleep 3
  done
) & pids+=($!)

# Clients that send a request to the delayed route and hang up before the answer.
python3 - "$port" "$DURATION" <<'PY' & pids+=($!)
import socket, sys, time
port, end = int(sys.argv[1]), time.time() + int(sys.argv[2])
while time.time() < end:
    socks = []
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /delayed/leaver HTTP/1.1\r\nHost: soak\r\n\r\n")
        socks.append(s)
    time.sleep(0.05)
    for s in socks: s.close()
PY

cat > "$work/mix.lua" <<'LUA'
local paths = { "/allowed", "/delayed/x", "/rejected/y", "/allowed/z" }
local i = 0
request = function() i = i + 1; return wrk.format("GET", paths[(i % #paths) + 1]) end
LUA

snapshot() { echo "$(awk '/^VmRSS/ {print $2}' /proc/$spid/status) $(ls /proc/$spid/fd | wc -l)"; }
sleep 5  # let pools and buffers reach their working size before the baseline
read -r rss0 fds0 < <(snapshot)
echo "start: RSS ${rss0} kB, open fds ${fds0}"
wrk -t1 -c64 -d"$((DURATION - 10))s" -s "$work/mix.lua" "http://127.0.0.1:$port/" | grep -E 'requests in|Requests/sec|Non-2xx|Socket errors' || true
sleep 3  # in-flight delays and idle timeouts settle
read -r rss1 fds1 < <(snapshot)
echo "end:   RSS ${rss1} kB, open fds ${fds1}"
curl -s "http://127.0.0.1:$admin/metrics" | grep -E '^sluice_requests_total|^sluice_upstream_errors_total|^sluice_connections' | grep -v ' 0$'
kill -0 $spid || { echo "FAIL: sluice died"; exit 1; }
if [ $((rss1 - rss0)) -gt 20480 ] || [ $((fds1 - fds0)) -gt 16 ]; then
  echo "FAIL: growth beyond noise (RSS +$((rss1 - rss0)) kB, fds +$((fds1 - fds0)))"; exit 1
fi
echo "OK: RSS +$((rss1 - rss0)) kB, fds +$((fds1 - fds0))"
