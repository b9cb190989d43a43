#!/usr/bin/env bash
# Drain throughput of PrefactorCore against the official Python SDK, in one run on the same `prefactor serve`
# (SQLite file in a temporary folder). Usage: Benchmarks/compare-drain.sh [INSTANCES] [SPANS]
# Needs release builds: swift build -c release --product prefactor --product prefactor-core-benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
INSTANCES="${1:-10}"
SPANS="${2:-200}"
BIN="$(swift build -c release --show-bin-path)"
PY=".venv-interop/bin/python"
if [[ ! -x "$PY" ]]; then
    python3 -m venv .venv-interop
    "$PY" -m pip install -q prefactor-core==0.5.3 prefactor-http==0.4.3
fi
WORK="$(mktemp -d)"
"$BIN/prefactor" serve --port 0 --db "$WORK/bench.sqlite" --token bench --log-level warning > "$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
    URL="$(sed -n 's/^PREFACTOR_API_URL=//p' "$WORK/serve.log")"
    [[ -n "$URL" ]] && break
    sleep 0.1
done
[[ -n "$URL" ]] || { echo "server did not start"; cat "$WORK/serve.log"; exit 1; }
"$PY" Benchmarks/python_drain.py --api-url "$URL" --token bench --instances "$INSTANCES" --spans "$SPANS" | tee "$WORK/python.txt"
"$BIN/prefactor-core-benchmark" drain --api-url "$URL" --token bench --instances "$INSTANCES" --spans "$SPANS" --workers "${WORKERS:-20}" | tee "$WORK/swift.txt"
"$BIN/prefactor-core-benchmark" drain --api-url "$URL" --token bench --instances "$INSTANCES" --spans "$SPANS" --workers "${WORKERS:-20}" --coalesce | tee "$WORK/coalesced.txt"
python3 - "$WORK/python.txt" "$WORK/swift.txt" "$WORK/coalesced.txt" <<'PY'
import re, sys
rate = lambda path: float(re.search(r"= (\d+) operations/s", open(path).read()).group(1))
python, swift, coalesced = rate(sys.argv[1]), rate(sys.argv[2]), rate(sys.argv[3])
print(f"ratio: PrefactorCore delivers {swift / python:.1f}x the operations per second of the Python SDK "
      f"(Python SDK requests), {coalesced / python:.1f}x with coalesceSpanFinishes")
PY
