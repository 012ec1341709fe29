#!/usr/bin/env bash
# Key flood: millions of distinct client keys (X-Forwarded-For from a trusted peer) against
# max_keys: 50000. Reports peak RSS, forced evictions and throughput. Loopback only, bounded.
#
#   bench/keyflood.sh [DURATION_SECONDS]     (default 40: about 2 M keys at ~50 k req/s)
DURATION=${1:-40}
source "$(dirname "$0")/common.sh"
up=$(free_port); port=$(free_port); admin=$(free_port)
start_upstream "$up"

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
start_sluice "$work/sluice.yaml"; spid=$sluice_pid
wait_http "http://127.0.0.1:$admin/healthz"

cat > "$work/keys.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local ip = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  return wrk.format("GET", "/", { ["X-Forwarded-For"] = ip })
end
LUA
rss() { awk '/^VmRSS/ {print $2}' "/proc/$spid/status"; }
echo "RSS at start: $(rss) kB"
wrk -t1 -c32 -d"${DURATION}s" -s "$work/keys.lua" "http://127.0.0.1:$port/" | grep -E 'requests in|Requests/sec'
echo "RSS at end:   $(rss) kB   peak (VmHWM): $(awk '/^VmHWM/ {print $2}' /proc/$spid/status) kB"
curl -s "http://127.0.0.1:$admin/metrics" | grep -E '^sluice_bucket_evictions_total|^sluice_buckets|^sluice_requests_total\{route="flood"'
