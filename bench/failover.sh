#!/usr/bin/env bash
# What a Redis failover costs a shared limit (docs/RELIABILITY.md, "Redis failover"): a master, its
# replica and three sentinels on loopback; one sluice worker finding the master through them and
# deciding every request of a wrk load on one global shared bucket that never fills; the master
# killed (SIGKILL) mid-load. Afterwards the bucket on the new master says how many admissions it
# holds; sluice's counters say how many it made. The difference is what the failover forgot:
# admissions a full bucket would have refused. on_error: reject, so that nothing is admitted
# while no master is known. Loopback only; bounded: about 3 × DURATION seconds.
#
# HOW: kill (SIGKILL the master); failover (SENTINEL FAILOVER: the master is demoted while it
# still answers, the case where writes to it after the promotion are lost); paused-failover (the
# same after CLIENT PAUSE 3000 WRITE on the master, the recipe docs/RELIABILITY.md gives).
#
#   bench/failover.sh [DURATION] [CONNECTIONS] [kill|failover]
DURATION=${1:-8}
CONNECTIONS=${2:-32}
HOW=${3:-kill}
source "$(dirname "$0")/common.sh"
command -v redis-server >/dev/null || "$root/scripts/install-deps"

master_port=$(free_port)
replica_port=$(free_port)
sluice_port=$(free_port)
admin_port=$(free_port)
upstream_port=$(free_port)

start_upstream "$upstream_port"
redis-server --port "$master_port" --bind 127.0.0.1 --save "" --appendonly no \
  --logfile "$work/master.log" &
master_pid=$!
pids+=($master_pid)
redis-server --port "$replica_port" --bind 127.0.0.1 --save "" --appendonly no \
  --replicaof 127.0.0.1 "$master_port" --logfile "$work/replica.log" &
pids+=($!)
for _ in $(seq 200); do
  redis-cli -p "$replica_port" info replication 2>/dev/null | grep -q 'master_link_status:up' && break
  sleep 0.05
done
sentinels=()
for i in 1 2 3; do
  port=$(free_port)
  cat > "$work/sentinel-$i.conf" <<CONF
port $port
bind 127.0.0.1
sentinel monitor limits 127.0.0.1 $master_port 2
sentinel down-after-milliseconds limits 1000
sentinel failover-timeout limits 10000
CONF
  redis-server "$work/sentinel-$i.conf" --sentinel --logfile "$work/sentinel-$i.log" &
  pids+=($!)
  sentinels+=("127.0.0.1:$port")
done
first_sentinel=${sentinels[0]#127.0.0.1:}
for _ in $(seq 400); do
  redis-cli -p "$first_sentinel" sentinel master limits 2>/dev/null |
    grep -A1 '^num-other-sentinels$' | tail -1 | grep -q '^2$' && break
  sleep 0.05
done

# 10^6 per 1000 h: a unit every 3.6 s, a bucket that never fills (nor empties) under this load,
# so every request is charged and the bucket's tat counts them: tat = first charge + n × 3.6 s.
cat > "$work/sluice.yaml" <<CONF
version: 1
listen: 127.0.0.1:$sluice_port
upstream: http://127.0.0.1:$upstream_port
workers: 1
log: { level: info, file: $work/sluice.log }
admin: 127.0.0.1:$admin_port
redis:
  sentinel: { addresses: [$(IFS=,; echo "${sentinels[*]}")], master: limits }
  on_error: reject
  timeout: 200ms
routes:
  - { name: g, match: { path_prefix: / }, key: global, max_rate: 1000000, time_period: 1000h,
      shared: true }
CONF
start_sluice "$work/sluice.yaml"
wait_http "http://127.0.0.1:$admin_port/healthz"
for _ in $(seq 200); do grep -q redis_up "$work/sluice.log" 2>/dev/null && break; sleep 0.05; done
curl -s -o /dev/null "http://127.0.0.1:$sluice_port/"
key=$(redis-cli -p "$master_port" --scan --pattern 'sluice:*' | head -1)
first=$(redis-cli -p "$master_port" get "$key")

allowed() {
  curl -s "http://127.0.0.1:$admin_port/metrics" |
    awk '/^sluice_requests_total\{route="g",decision="allowed"\}/ { print $2 }'
}

wrk -t1 -c"$CONNECTIONS" -d"$((DURATION * 2))s" "http://127.0.0.1:$sluice_port/" > "$work/wrk.out" &
wrk_pid=$!
sleep "$DURATION"
before_kill=$(allowed)
case "$HOW" in
  kill) kill -9 "$master_pid" ;;
  failover) redis-cli -p "$first_sentinel" sentinel failover limits >/dev/null ;;
  paused-failover)
    redis-cli -p "$master_port" client pause 3000 write >/dev/null
    redis-cli -p "$first_sentinel" sentinel failover limits >/dev/null ;;
  *) echo "HOW must be kill, failover or paused-failover" >&2; exit 1 ;;
esac
wait "$wrk_pid"
new_port=$(redis-cli -p "$first_sentinel" sentinel get-master-addr-by-name limits | tail -1)
last=$(redis-cli -p "$new_port" get "$key")
admitted=$(allowed)
ups=$(grep -c 'redis_up' "$work/sluice.log" || true)

python3 - "$first" "$last" "$admitted" "$before_kill" <<'PY'
import sys
first, last, admitted, before = sys.argv[1:5]
def ns(text):
    s, n = text.split(":")
    return int(s) * 10**9 + int(n)
unit = 1000 * 3_600 * 10**9 // 1_000_000  # 3.6 s
recorded = (ns(last) - (ns(first) - unit)) // unit
admitted = int(float(admitted))
print(f"admitted by sluice:               {admitted}")
print(f"  of which before the kill:       {int(float(before))}")
print(f"charges the new master holds:     {recorded}")
print(f"forgotten by the failover:        {admitted - recorded}")
PY
echo "redis_up events in sluice's log (at start, and after the failover): $ups"
echo "sentinels, then sluice (no decision between redis_down and redis_up: on_error rejects):"
grep -h 'switch-master' "$work"/sentinel-1.log || true
grep -h 'redis_failover\|redis_down\|redis_up' "$work/sluice.log" || true
