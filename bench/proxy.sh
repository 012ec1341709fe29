#!/usr/bin/env bash
# wrk → sluice → nginx (return 200)   versus   wrk → nginx with limit_req   versus   wrk → HAProxy
# with a stick-table rate limit (neither limit ever triggering) → the same upstream. One worker
# (thread) each, loopback only, alternating rounds; prints req/s, p50/p99 and CPU per request for
# all three and the peers' ratios. Bounded: ROUNDS × 3 × DURATION seconds plus start-up.
#
#   bench/proxy.sh [--tls] [ROUNDS] [DURATION] [CONNECTIONS]
#
# --tls: the three listeners speak HTTPS with one self-signed certificate (ECDSA P-256, TLS 1.3
# as wrk negotiates it), over kept-alive connections; the upstream stays plain HTTP.
#
# BASELINE=path/to/an/older/sluice adds it as a fourth target, "baseline", with the same config:
# what a change bought, measured side by side.
TLS=0
if [ "${1:-}" = --tls ]; then
  TLS=1
  shift
fi
ROUNDS=${1:-3}
DURATION=${2:-10}
CONNECTIONS=${3:-32}
source "$(dirname "$0")/common.sh"

upstream_port=$(free_port)
nginx_port=$(free_port)
sluice_port=$(free_port)
haproxy_port=$(free_port)

scheme=http
nginx_listen=$nginx_port
nginx_tls=""
haproxy_tls=""
if [ "$TLS" = 1 ]; then
  scheme=https
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -keyout "$work/key.pem" -out "$work/cert.pem" -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
  cat "$work/cert.pem" "$work/key.pem" > "$work/haproxy.pem"
  nginx_listen="$nginx_port ssl"
  nginx_tls="ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;"
  haproxy_tls="ssl crt $work/haproxy.pem alpn http/1.1"
fi

start_upstream "$upstream_port"
start_nginx_peer "$nginx_listen" "$upstream_port" "$nginx_tls"

start_haproxy_peer "$haproxy_port" "$upstream_port" "$haproxy_tls"

tls_line=""
[ "$TLS" = 1 ] && tls_line="tls: { cert: $work/cert.pem, key: $work/key.pem }"
write_bench_config "$sluice_port" "$upstream_port" "$tls_line"
start_sluice "$work/sluice.yaml"
targets="sluice nginx haproxy"
start_baseline
[ -n "${BASELINE:-}" ] && wait_http "$scheme://127.0.0.1:$baseline_port/"
wait_http "http://127.0.0.1:$upstream_port/"
for port in $nginx_port $haproxy_port $sluice_port; do wait_http "$scheme://127.0.0.1:$port/"; done

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
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$scheme://127.0.0.1:$1/" > "$work/wrk.out"
  after=$(cpu_ticks "$2")
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
    /requests in/ { n = $1 }
    END { printf "%.0f %.3f %.3f %.1f\n", rps, p50, p99, ticks / hz * 1e6 / n }' "$work/wrk.out"
}

printf "%-6s %-8s %12s %10s %10s %14s\n" round target "req/s" "p50 ms" "p99 ms" "CPU us/req"
declare -a results
for r in $(seq "$ROUNDS"); do
  for target in $targets; do
    case $target in
      sluice) port=$sluice_port pid=$sluice_pid ;;
      nginx) port=$nginx_port pid=$nginx_pid ;;
      haproxy) port=$haproxy_port pid=$haproxy_pid ;;
      baseline) port=$baseline_port pid=$baseline_pid ;;
    esac
    read -r rps p50 p99 cpu < <(run_wrk "$port" "$pid")
    results+=("$target $rps $p50 $p99 $cpu")
    printf "%-6s %-8s %12s %10s %10s %14s\n" "$r" "$target" "$rps" "$p50" "$p99" "$cpu"
  done
done
printf '%s\n' "${results[@]}" | python3 -c '
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in sys.stdin:
    target, *values = line.split()
    runs[target].append([float(v) for v in values])
med = {t: [statistics.median(col) for col in zip(*rows)] for t, rows in runs.items()}
for t, (rps, p50, p99, cpu) in med.items():
    print(f"median {t:8} {rps:8.0f} req/s  p99 {p99:6.2f} ms  CPU {cpu:5.1f} us/req")
s = med["sluice"]
for peer in [t for t in ("nginx", "haproxy", "baseline") if t in med]:
    p = med[peer]
    print(f"{peer}: throughput sluice/{peer} {s[0] / p[0]:.2f}, "
          f"CPU per request {peer}/sluice {p[3] / s[3]:.2f}")
'
