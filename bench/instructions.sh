#!/usr/bin/env bash
# User-space instructions per proxied request, counted by callgrind for sluice, nginx
# (`limit_req`) and HAProxy (stick-table rate), each one worker, each with a limit that never
# triggers, in front of the same nginx `return 200` upstream. Unlike CPU time, an instruction
# count is not disturbed by the other processes of a shared machine: it decides what a change
# bought when wall-clock figures overlap.
#
#   bench/instructions.sh [http1|h2] [REQUESTS]      (defaults: http1 2000)
#
# http1: wrk -t1 -c10 over HTTP/1.1 keep-alive. h2: h2load -c2 -m10 by prior knowledge, the
# proxies forwarding over HTTP/1.1. Each proxy runs under callgrind with instrumentation off
# through start-up and a warm-up; it is switched on for the counted requests only, so the figure
# is the steady state per request (the upstream is not counted).
#
# SLUICE=path/to/another/build replaces build-bench/sluice; KEEP_WORK=1 keeps the callgrind.out
# files for callgrind_annotate; PROXIES="sluice" counts only those named (default: all three).
PROTOCOL=${1:-http1}
REQUESTS=${2:-2000}
PROXIES=${PROXIES:-sluice nginx haproxy}
wants() { [[ " $PROXIES " == *" $1 "* ]]; }
source "$(dirname "$0")/common.sh"
command -v valgrind >/dev/null && command -v h2load >/dev/null || "$root/scripts/install-deps" --bench

upstream_port=$(free_port)
start_upstream "$upstream_port"

# One process each: callgrind follows the process it starts, so nginx runs without a master.
h2_listen=""
[ "$PROTOCOL" = h2 ] && h2_listen=" http2"

load() {  # $1 = port, $2 = requests → the number of requests answered 2xx
  if [ "$PROTOCOL" = h2 ]; then
    h2load -c2 -m10 -n"$2" "http://127.0.0.1:$1/" > "$work/load.out"
    awk '/^status codes:/ { print $3 }' "$work/load.out"
  else
    # wrk has no request count: it runs long enough for about $2 requests under callgrind.
    wrk -t1 -c10 -d"$(( $2 / 250 + 1 ))s" "http://127.0.0.1:$1/" > "$work/load.out"
    awk '/requests in/ { print $1 }' "$work/load.out"
  fi
}

wait_port() {  # the listener accepts connections (nginx and HAProxy speak only h2 in h2 mode)
  for _ in $(seq 400); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  exit 1
}

# count NAME PORT COMMAND...: runs COMMAND under callgrind, counts REQUESTS requests, prints
# "NAME instructions requests per-request".
count() {
  local name=$1 port=$2
  shift 2
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.$name.out" \
    "$@" > "$work/$name.stdout" 2> "$work/$name.valgrind" &
  local pid=$!
  pids+=($pid)
  wait_port "$port"
  load "$port" 200 > /dev/null  # warm-up: connections to the upstream, caches, first allocations
  callgrind_control -i on "$pid" > /dev/null 2>&1
  local served
  served=$(load "$port" "$REQUESTS")
  callgrind_control -i off "$pid" > /dev/null 2>&1
  callgrind_control -d "$pid" > /dev/null 2>&1
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local total
  total=$(cat "$work"/callgrind."$name".out* | awk '/^totals:/ { s += $2 } END { print s + 0 }')
  awk -v name="$name" -v total="$total" -v served="$served" \
    'BEGIN { printf "%-8s %14s %9s %12.0f\n", name, total, served, total / served }'
}

printf '%-8s %14s %9s %12s\n' proxy instructions requests "per request"

if wants sluice; then
  sluice_port=$(free_port)
  write_bench_config "$sluice_port" "$upstream_port"
  count sluice "$sluice_port" "$sluice" -c "$work/sluice.yaml"
fi

if wants nginx; then
  nginx_port=$(free_port)
  nginx_conf peer "
    limit_req_zone \$binary_remote_addr zone=bench:10m rate=100000000r/s;
    upstream api { server 127.0.0.1:$upstream_port; keepalive 64; }
    server {
      listen 127.0.0.1:$nginx_port$h2_listen;
      keepalive_requests 100000000;
      location / {
        limit_req zone=bench burst=100000000 nodelay;
        proxy_pass http://api;
        proxy_http_version 1.1;
        proxy_set_header Connection \"\";
      }
    }"
  sed -i 's/^daemon off;/daemon off;\nmaster_process off;/' "$work/peer/nginx.conf"
  count nginx "$nginx_port" nginx -p "$work/peer" -c "$work/peer/nginx.conf"
fi

if wants haproxy; then
  haproxy_port=$(free_port)
  haproxy_bind=""
  [ "$PROTOCOL" = h2 ] && haproxy_bind="proto h2"
  haproxy_conf "$haproxy_port" "$upstream_port" "$haproxy_bind"
  count haproxy "$haproxy_port" haproxy -f "$work/haproxy.cfg" -db
fi
