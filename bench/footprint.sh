#!/usr/bin/env bash
# Memory footprint of sluice against nginx, loopback only, bounded (about a minute):
#   - RSS at start with the default max_keys;
#   - bytes of RSS per idle keep-alive connection (each has made one request, then waits):
#     cold, the first CONNECTIONS connections a fresh process serves, with no warm-up (what a
#     restarted proxy pays when its clients reconnect at once); then warm, after a warm-up of a
#     few hundred connections so allocator pools are primed;
#   - bytes of RSS per request held by a delay route (on its own connection), on top of the
#     idle connection it arrived on (warm).
# Each figure is the RSS growth of the proxy process (nginx: its worker) divided by the number
# of connections, measured the same way for both.
#
#   bench/footprint.sh [CONNECTIONS]      (default 8000)
CONNECTIONS=${1:-8000}
source "$(dirname "$0")/common.sh"

ulimit -n "$(( CONNECTIONS * 2 + 1000 < $(ulimit -Hn) ? CONNECTIONS * 2 + 1000 : $(ulimit -Hn) ))"
NGINX_WORKER_CONNECTIONS=$((CONNECTIONS * 2 + 100))  # all of them stay open for the whole run
upstream_port=$(free_port)
nginx_port=$(free_port)
sluice_port=$(free_port)

start_upstream "$upstream_port"

{ sluice_config_head "$sluice_port" "$upstream_port"; cat; } > "$work/sluice.yaml" <<CONF
timeouts: { client_idle: 600s }
routes:
  - name: held
    match: { path_prefix: /held }
    max_rate: 1
    time_period: 10s
    key: global
    action: delay
    max_delay: 1000h
  - name: api
    match: { path_prefix: / }
    max_rate: 100000000
    time_period: 1s
CONF
# Fresh proxies: the cold figures are taken on processes that have served nothing.
start_proxies() {
  start_nginx_peer "$nginx_port" "$upstream_port" "keepalive_timeout 600s; keepalive_requests 100000;"
  nginx_master=$nginx_pid
  start_sluice "$work/sluice.yaml"
  for port in $upstream_port $nginx_port $sluice_port; do wait_http "http://127.0.0.1:$port/"; done
  nginx_worker=$(pgrep -P "$nginx_master" | head -1)
}
stop_proxies() {
  kill "$sluice_pid" "$nginx_master"
  wait "$sluice_pid" "$nginx_master" 2>/dev/null || true
}
start_proxies

rss() { awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$1/status"; }

# A client holding connections: "idle N" opens N connections, makes one request on each and
# keeps them; "held N" opens N connections whose one request to /held stays delayed. It reports
# "ready" once all are in place and keeps them until it is killed.
cat > "$work/hold.py" <<'PY'
import selectors, socket, sys
port, mode, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
path = b"/held" if mode == "held" else b"/"
request = b"GET " + path + b" HTTP/1.1\r\nHost: bench\r\n\r\n"
def read_answer(s):
    data = b""
    while not data.endswith(b"ok\n"):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection closed early")
        data += chunk
socks = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request)
    if mode == "idle":  # answered one at a time, as keep-alive clients arrive over time
        read_answer(s)
    socks.append(s)
print("ready", flush=True)
while True:
    selectors.DefaultSelector().select()
PY

hold() {  # PORT MODE N → PID of the holding client, once it is ready
  local out="$work/hold.$RANDOM"
  mkfifo "$out"
  python3 "$work/hold.py" "$@" > "$out" &
  local pid=$!
  read -r _ < "$out"
  echo "$pid"
}
# grow PID PORT MODE N WARMUP → bytes of RSS per connection of MODE, after WARMUP connections of
# the same kind (none: cold)
grow() {
  local pid=$1 port=$2 mode=$3 n=$4 warmup=$5 before after warm="" load
  if [ "$warmup" -gt 0 ]; then
    warm=$(hold "$port" "$mode" "$warmup")
    sleep 1
  fi
  before=$(rss "$pid")
  load=$(hold "$port" "$mode" "$n")
  sleep 1  # let the proxy finish reading what was sent: no event marks "parsed and waiting"
  after=$(rss "$pid")
  kill $warm "$load"
  echo $(((after - before) / n))
}

printf "%-28s %12s %12s\n" "" sluice nginx
printf "%-28s %12s %12s\n" "RSS at start (bytes)" "$(rss "$sluice_pid")" "$(rss "$nginx_worker")"
printf "%-28s %12s %12s\n" "per idle connection, cold" \
  "$(grow "$sluice_pid" "$sluice_port" idle "$CONNECTIONS" 0)" \
  "$(grow "$nginx_worker" "$nginx_port" idle "$CONNECTIONS" 0)"
stop_proxies
start_proxies
printf "%-28s %12s %12s\n" "per idle connection, warm" \
  "$(grow "$sluice_pid" "$sluice_port" idle "$CONNECTIONS" 300)" \
  "$(grow "$nginx_worker" "$nginx_port" idle "$CONNECTIONS" 300)"
printf "%-28s %12s %12s\n" "per held request (+conn)" \
  "$(grow "$sluice_pid" "$sluice_port" held "$CONNECTIONS" 300)" "-"
