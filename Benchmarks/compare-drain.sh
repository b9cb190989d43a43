#!/usr/bin/env bash
# Drain throughput of PrefactorCore against the official Python SDK, on one `prefactor serve` (SQLite file in a
# temporary folder). Each round runs the Python SDK (prefactor-core 0.5.3), then PrefactorCore with its defaults
# (bulk requests for a backlog of span creates, a finish travelling with its create), then PrefactorCore with
# --no-coalesce --bulk-max-items 0 (the Python SDK's requests: two per span). Both sides run the same number of
# workers. Rounds alternate so that a machine whose speed drifts affects both sides alike; the ratios reported are the
# medians over the rounds.
# Usage: Benchmarks/compare-drain.sh [INSTANCES] [SPANS] [ROUNDS]
#   environment: WORKERS (both sides, default 3, the Python SDK's default); LATENCY (milliseconds the server adds to
#   every request, as an API across the internet would; default 0: loopback); BULK (PrefactorCore's bulkMaxItems,
#   default its own default); BIN (the folder of the release binaries, default this package's release build: set it to
#   compare copies of two builds)
# Example: WORKERS=3 LATENCY=50 Benchmarks/compare-drain.sh 10 200 3
# Needs release builds: swift build -c release --product prefactor && swift build -c release --product prefactor-core-benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
INSTANCES="${1:-10}"
SPANS="${2:-200}"
ROUNDS="${3:-3}"
WORKERS="${WORKERS:-3}"
LATENCY="${LATENCY:-0}"
BULK_OPTION=()
[[ -n "${BULK:-}" ]] && BULK_OPTION=(--bulk-max-items "$BULK")
SERVE_OPTIONS=()
# The server's fault injection adds the latency (docs/faults.md); it is on only when a --fault is given.
[[ "$LATENCY" != 0 ]] && SERVE_OPTIONS=(--enable-fault-injection --fault "*:latency=$LATENCY")
BIN="${BIN:-$(swift build -c release --show-bin-path)}"
for tool in prefactor prefactor-core-benchmark; do
    [[ -x "$BIN/$tool" ]] || { echo "missing $BIN/$tool: swift build -c release --product $tool" >&2; exit 1; }
done
PY=".venv-interop/bin/python"
if [[ ! -x "$PY" ]]; then
    python3 -m venv .venv-interop
    "$PY" -m pip install -q prefactor-core==0.5.3 prefactor-http==0.4.3
fi
WORK="$(mktemp -d)"
"$BIN/prefactor" serve --port 0 --db "$WORK/bench.sqlite" --token bench --log-level warning \
    ${SERVE_OPTIONS[@]+"${SERVE_OPTIONS[@]}"} > "$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
URL=""
for _ in $(seq 1 100); do
    URL="$(sed -n 's/^PREFACTOR_API_URL=//p' "$WORK/serve.log")"
    [[ -n "$URL" ]] && break
    sleep 0.1
done
[[ -n "$URL" ]] || { echo "server did not start"; cat "$WORK/serve.log"; exit 1; }
echo "$WORKERS workers on both sides, ${LATENCY} ms added to every request"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round/$ROUNDS"
    "$PY" Benchmarks/python_drain.py --api-url "$URL" --token bench --instances "$INSTANCES" --spans "$SPANS" \
        --workers "$WORKERS" | tee -a "$WORK/python.txt"
    "$BIN/prefactor-core-benchmark" drain --api-url "$URL" --token bench --instances "$INSTANCES" --spans "$SPANS" \
        --workers "$WORKERS" ${BULK_OPTION[@]+"${BULK_OPTION[@]}"} | tee -a "$WORK/swift.txt"
    "$BIN/prefactor-core-benchmark" drain --api-url "$URL" --token bench --instances "$INSTANCES" --spans "$SPANS" \
        --workers "$WORKERS" --no-coalesce --bulk-max-items 0 | tee -a "$WORK/separate.txt"
done
python3 - "$WORK/python.txt" "$WORK/swift.txt" "$WORK/separate.txt" <<'PY'
import re, statistics, sys
rates = lambda path: [float(m) for m in re.findall(r"= (\d+) operations/s", open(path).read())]
python, swift, separate = (rates(path) for path in sys.argv[1:4])
ratio = lambda side: statistics.median(s / p for s, p in zip(side, python))
print(f"medians over {len(python)} rounds: Python SDK {statistics.median(python):.0f} operations/s, "
      f"PrefactorCore {statistics.median(swift):.0f}, with the Python SDK's requests {statistics.median(separate):.0f}")
print(f"ratio: PrefactorCore delivers {ratio(swift):.1f}x the operations per second of the Python SDK "
      f"({ratio(separate):.1f}x with the Python SDK's two requests per span, no bulk)")
PY
