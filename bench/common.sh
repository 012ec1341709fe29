# Shared set-up of the bench scripts (sourced): a scratch directory cleaned on exit, free
# loopback ports, nginx instances, and waiting for a listener.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# SLUICE=path/to/another/build replaces the Release build (a RelWithDebInfo one names its
# functions in a profile).
sluice=${SLUICE:-$root/build-bench/sluice}
[ -x "$sluice" ] || { echo "build first: make bench (builds build-bench/sluice)" >&2; exit 1; }
command -v wrk >/dev/null && command -v nginx >/dev/null || "$root/scripts/install-deps" --bench

work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx_conf NAME HTTP_BLOCK: writes $work/NAME/nginx.conf (one worker, no access log).
nginx_conf() {
  local user_line=""
  [ "$(id -u)" = 0 ] && user_line="user root;"
  mkdir -p "$work/$1"
  cat > "$work/$1/nginx.conf" <<CONF
$user_line
worker_processes 1;
daemon off;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log crit;
events { worker_connections ${NGINX_WORKER_CONNECTIONS:-4096}; }
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
}

# start_nginx NAME: runs the nginx configured by nginx_conf in the background.
start_nginx() {
  nginx -p "$work/$1" -c "$work/$1/nginx.conf" &
  pids+=($!)
}

# start_nginx_peer PORT UPSTREAM_PORT [SERVER_DIRECTIVES]: the peer sluice is compared with, nginx
# proxying to the upstream behind a limit_req that never triggers; sets $nginx_pid (the master).
start_nginx_peer() {
  nginx_conf peer "
  limit_req_zone \$binary_remote_addr zone=bench:10m rate=100000000r/s;
  upstream api { server 127.0.0.1:$2; keepalive 64; }
  server {
    listen 127.0.0.1:$1;
    ${3:-}
    location / {
      limit_req zone=bench burst=100000000 nodelay;
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"
  start_nginx peer
  nginx_pid=${pids[-1]}
}

# haproxy_conf PORT UPSTREAM_PORT [BIND_OPTIONS]: $work/haproxy.cfg for the second peer, HAProxy
# with one thread and a stick-table rate that never triggers, in front of the upstream.
haproxy_conf() {
  cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend bench
  bind 127.0.0.1:$1 ${3:-}
  stick-table type ip size 100k expire 30s store http_req_rate(1s)
  http-request track-sc0 src
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt 100000000 }
  default_backend api
backend api
  http-reuse always
  server upstream 127.0.0.1:$2
CONF
}
# start_haproxy_peer PORT UPSTREAM_PORT [BIND_OPTIONS]: that HAProxy, started; sets $haproxy_pid.
start_haproxy_peer() {
  haproxy_conf "$@"
  haproxy -f "$work/haproxy.cfg" -db &
  pids+=($!)
  haproxy_pid=$!
}

# A plain upstream answering 200 "ok" on PORT.
start_upstream() {
  nginx_conf upstream "server { listen 127.0.0.1:$1; location / { return 200 \"ok\\n\"; } }"
  start_nginx upstream
}

# sluice_config_head PORT UPSTREAM_PORT: the lines every bench config starts with (one worker).
sluice_config_head() {
  printf 'version: 1\nlisten: 127.0.0.1:%s\nupstream: http://127.0.0.1:%s\nworkers: 1\n' "$1" "$2"
  printf 'log: { level: warn, file: %s/sluice.log }\n' "$work"
}

# write_bench_config PORT UPSTREAM_PORT [LINES]: $work/sluice.yaml, one worker, LINES added to the
# top level, and the route every peer comparison uses: a limit that never triggers.
write_bench_config() {
  {
    sluice_config_head "$1" "$2"
    [ -n "${3:-}" ] && printf '%s\n' "$3"
    printf 'routes:\n  - name: bench\n    match: { path_prefix: / }\n'
    printf '    max_rate: 100000000\n    time_period: 1s\n'
  } > "$work/sluice.yaml"
}

# start_baseline: with BASELINE=<another sluice binary> (an older build), runs it beside the one
# under test with the same config on its own port; sets $baseline_port and $baseline_pid and
# adds "baseline" to $targets. Without BASELINE, nothing.
start_baseline() {
  [ -n "${BASELINE:-}" ] || return 0
  baseline_port=$(free_port)
  sed "s/^listen: .*/listen: 127.0.0.1:$baseline_port/; s|sluice.log|baseline.log|" \
    "$work/sluice.yaml" > "$work/baseline.yaml"
  "$BASELINE" -c "$work/baseline.yaml" &
  pids+=($!)
  baseline_pid=$!
  targets="$targets baseline"
}

# start_sluice CONFIG_FILE: sets $sluice_pid.
start_sluice() {
  "$sluice" -c "$1" &
  sluice_pid=$!
  pids+=($sluice_pid)
}

wait_http() {  # URL (https: the bench's self-signed certificate is not checked)
  for _ in $(seq 200); do curl -skf "$1" >/dev/null && return 0; sleep 0.05; done
  echo "nothing answers at $1" >&2
  exit 1
}
