#!/bin/sh
# The dashboard in a real browser: starts sluice with throttled traffic, loads GET / in headless
# Chromium, and checks that the page's scripts ran and rendered the routes, the most throttled
# clients (with their tier) and the latest throttled requests, and that the explain form, opened
# from a link, renders sluice's answer. With a second argument, also saves a screenshot.
#
#   tests/dashboard/check-dashboard.sh build/sluice [docs/dashboard.png]
set -eu

sluice=$1
screenshot=${2:-}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "check-dashboard: chromium is not installed (scripts/install-deps installs it)" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/sluice-dashboard.XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

cat > "$dir/sluice.yaml" <<YAML
version: 1
listen: 127.0.0.1:0
admin: 127.0.0.1:0
trusted_proxies: [127.0.0.1/32]
log: { file: $dir/sluice.log, format: json }
routes:
  - name: search
    match: { path_prefix: /search }
    key: client_ip
    max_rate: 2
    time_period: 60s
    respond: { status: 200, body: "results\n" }
  - name: login
    match: { path: /login }
    key: client_ip
    max_rate: 1
    time_period: 60s
    respond: { status: 200, body: "welcome\n" }
  - name: api
    match: { path: /api }
    key: header:X-Api-Key
    max_rate: 1
    time_period: 60s
    overrides: [{ name: partner, keys: [secret-key], max_rate: 1 }]
    respond: { status: 200, body: "ok\n" }
YAML

"$sluice" -c "$dir/sluice.yaml" &
pid=$!
# The "started" line names the ports the kernel gave.
for _ in $(seq 100); do
  grep -q '"event":"started"' "$dir/sluice.log" 2>/dev/null && break
  sleep 0.1
done
started=$(grep '"event":"started"' "$dir/sluice.log")
listen=$(printf %s "$started" | sed 's/.*"listen":"\([^"]*\)".*/\1/')
admin=$(printf %s "$started" | sed 's/.*"admin":"\([^"]*\)".*/\1/')

for i in $(seq 12); do
  curl -s -o /dev/null -H 'X-Forwarded-For: 203.0.113.7' "http://$listen/search?q=$i"
done
for i in $(seq 4); do
  curl -s -o /dev/null -H 'X-Forwarded-For: 198.51.100.4' "http://$listen/login"
done
curl -s -o /dev/null -H 'X-Forwarded-For: 192.0.2.1' "http://$listen/search?q=once"
for i in 1 2; do curl -s -o /dev/null -H 'X-Api-Key: secret-key' "http://$listen/api"; done
curl -s -o /dev/null --http2-prior-knowledge "http://$listen/elsewhere"   # one request over h2c
# The key's digest, as logs and the page show it: 12 hex digits of its SHA-256.
digest=$(printf %s secret-key | sha256sum | cut -c1-12)

# The virtual time budget lets the page's fetches and first refreshes complete before the DOM
# is dumped; the wall-clock timeout bounds a browser that hangs.
page="http://$admin/"
browse() {
  timeout 90 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --user-data-dir="$dir/profile" --virtual-time-budget=5000 "$@" \
    "$page" 2>"$dir/browser.log"
}
browse --dump-dom > "$dir/dom.html"
page="http://$admin/#explain?method=GET&path=/api&header=X-Api-Key:secret-key"
browse --dump-dom > "$dir/explain.html"
page="http://$admin/"

fail=0
expect() {  # expect DESCRIPTION PATTERN
  if ! grep -q -- "$2" "$dir/dom.html"; then
    echo "check-dashboard: FAIL: $1 (no '$2' in the rendered page)" >&2
    fail=1
  fi
}
expect "a chart per route" 'data-route="search"'
expect "a chart per route" 'data-route="login"'
expect "the most throttled client" '<td title="[^"]*203\.0\.113\.7'
expect "the other throttled client" '<td title="[^"]*198\.51\.100\.4'
expect "its rejected count" '<td title="10" class="n">10</td>'
expect "latest throttled requests" '<td title="rejected (429)">rejected (429)</td>'
expect "live buckets" '<b id="buckets">4</b>'
expect "a header key's kind shown once, apart" '<span class="kind">header:X-Api-Key=</span>sha256:'"$digest"
expect "the chart's scale said" 'log scale'
expect "requests by protocol" '<b id="protocols">h2c 1 · http/1.1 19</b>'
expect "the tier a key was throttled under" '<td title="partner">partner</td>'
if ! grep -q '<p class="verdict">decision: rejected, retry after [0-9]* s</p>' "$dir/explain.html" ||
   ! grep -q '<td title="api~partner">api~partner</td>' "$dir/explain.html"; then
  echo "check-dashboard: FAIL: the explain form did not render the answer" >&2
  cat "$dir/explain.html" >&2
  fail=1
fi
if grep -q '<span id="error">cannot reach' "$dir/dom.html"; then
  echo "check-dashboard: FAIL: the page could not read the JSON endpoints" >&2
  fail=1
fi
if grep -q '192\.0\.2\.1' "$dir/dom.html"; then
  echo "check-dashboard: FAIL: a client that was never throttled is listed" >&2
  fail=1
fi
if [ "$fail" != 0 ]; then
  echo "--- rendered page:" >&2
  cat "$dir/dom.html" >&2
  echo "--- browser:" >&2
  tail -n 20 "$dir/browser.log" >&2
  exit 1
fi

if [ -n "$screenshot" ]; then
  browse --window-size=1280,760 --hide-scrollbars --screenshot="$dir/shot.png" >/dev/null
  cp "$dir/shot.png" "$screenshot"
fi
echo "check-dashboard: ok"
