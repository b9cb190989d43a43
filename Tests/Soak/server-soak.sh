#!/usr/bin/env bash
# A bounded soak of `prefactor serve` on loopback (issue 13, items 1-3):
#   1. 50 unauthenticated 1.5 MB bodies with `Connection: close` (answered 401 unread): the server's descriptor count
#      returns to where it was and its RSS grows by less than 64 MB;
#   2. a client that stops halfway through a request head is cut off at the header timeout;
#   3. paths that made wildcard fault rules backtrack for seconds are answered at once, and a ping still works.
# Usage: Tests/Soak/server-soak.sh path/to/prefactor
# Needs bash, curl and python3 (standard library only). Starts one server and ends it (by its PID) on exit.
set -euo pipefail

BIN="${1:?usage: server-soak.sh path/to/prefactor}"
TOKEN="soak-token"
WORK="$(mktemp -d)"
SERVER_PID=""

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "soak: FAIL: $*" >&2; exit 1; }

"$BIN" serve --in-memory --host 127.0.0.1 --port 0 --token "$TOKEN" --log-level error \
    --header-timeout 2 --request-timeout 5 --idle-timeout 5 \
    --fault 'POST /api/v1/*/*/finish:status=503' --fault '*a*a*a*a*a*a*a*a*b:status=500' \
    >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!

URL=""
for _ in $(seq 1 200); do
    URL="$(sed -n 's/^PREFACTOR_API_URL=//p' "$WORK/serve.out")"
    [ -n "$URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; fail "the server exited at start"; }
    sleep 0.1
done
[ -n "$URL" ] || fail "the server did not report its URL within 20 s"
PORT="${URL##*:}"
echo "soak: server $SERVER_PID on $URL"

descriptors() { ls "/proc/$SERVER_PID/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }

curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" "$URL/api/v1/ping" >/dev/null || fail "ping before the soak"
FD_BEFORE="$(descriptors)"
RSS_BEFORE="$(rss_kb)"

# 1. Unread bodies on Connection: close.
head -c 1500000 /dev/zero | tr '\0' ' ' >"$WORK/body.json"
for _ in $(seq 1 50); do
    curl -sS -o /dev/null --max-time 10 -H 'Expect:' -H 'Connection: close' -H 'Content-Type: application/json' \
        --data-binary @"$WORK/body.json" "$URL/api/v1/agent_spans" || true
done
FD_AFTER="$(descriptors)"
for _ in $(seq 1 100); do
    FD_AFTER="$(descriptors)"
    [ "$FD_AFTER" -le $((FD_BEFORE + 2)) ] && break
    sleep 0.1
done
RSS_AFTER="$(rss_kb)"
echo "soak: descriptors $FD_BEFORE -> $FD_AFTER, RSS ${RSS_BEFORE} kB -> ${RSS_AFTER} kB after 50 unread 1.5 MB bodies"
[ "$FD_AFTER" -le $((FD_BEFORE + 2)) ] || fail "descriptors did not return: $FD_BEFORE before, $FD_AFTER after 10 s"
[ $((RSS_AFTER - RSS_BEFORE)) -lt 65536 ] || fail "RSS grew by $((RSS_AFTER - RSS_BEFORE)) kB"

# 2. A slow client: half a request head, then silence. The server must close within its 2 s header timeout.
python3 - "$PORT" <<'PY' || fail "a stalled request head was not cut off"
import socket, sys, time
port = int(sys.argv[1])
connection = socket.create_connection(("127.0.0.1", port), timeout=15)
connection.sendall(b"GET /api/v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
start = time.monotonic()
try:
    while connection.recv(65536):
        pass
except ConnectionResetError:
    pass
except socket.timeout:
    sys.exit("still open after 15 s")
elapsed = time.monotonic() - start
print(f"soak: stalled head cut off after {elapsed:.1f} s")
sys.exit(0 if elapsed < 12 else "cut off too late")
PY

# 3. Pathological paths against wildcard rules, with and without the token.
LONG_PATH="/api/v1/$(printf 'a/%.0s' $(seq 1 16000))"
START=$(date +%s%N)
STATUS="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X POST -d '{}' "$URL$LONG_PATH")" || fail "the long path timed out"
[ "$STATUS" = 401 ] || fail "the unauthenticated long path answered $STATUS, not 401"
STATUS="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $TOKEN" \
    "$URL/api/v1/$(printf 'a%.0s' $(seq 1 40))")" || fail "the 40-character path timed out"
[ "$STATUS" = 404 ] || fail "the 40-character path answered $STATUS, not 404"
ELAPSED_MS=$((($(date +%s%N) - START) / 1000000))
echo "soak: pathological paths answered in ${ELAPSED_MS} ms"
[ "$ELAPSED_MS" -lt 10000 ] || fail "pathological paths took ${ELAPSED_MS} ms"
curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" "$URL/api/v1/ping" >/dev/null || fail "ping after the soak"

echo "soak: ok"
