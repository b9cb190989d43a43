#!/usr/bin/env bash
# Crash soak of the durable queue (loopback only, bounded): an agent with a queue file records spans against
# `prefactor serve` while span creates answer 503; it is killed with kill -9 at random moments and restarted on the
# same file; the faults are lifted; a final run drains everything. The server must then hold exactly every span the
# agent was told was queued, each once, with its status (Tests/Soak/verify_soak.py).
#
# Usage: crash-soak.sh PREFACTOR_BIN CORE_BENCHMARK_BIN
set -euo pipefail
PREFACTOR="$1"
AGENT_BIN="$2"
WORK="$(mktemp -d)"
SERVER_PID=""
AGENT_PID=""
cleanup() {
    [ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

TOKEN=soak-token
"$PREFACTOR" serve --host 127.0.0.1 --port 0 --in-memory --token "$TOKEN" \
    --fault 'POST /api/v1/agent_spans:status=503' > "$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    URL="$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/serve.log" | head -1 || true)"
    [ -n "$URL" ] && break
    sleep 0.1
done
[ -n "$URL" ] || { echo "crash soak: the server did not start"; cat "$WORK/serve.log"; exit 1; }

QUEUE="$WORK/agent.sqlite"
LEDGER="$WORK/ledger.txt"
SPANS=600
agent() {
    # exec: the background job's pid is the agent's own, so kill -9 reaches it.
    exec "$AGENT_BIN" soak-agent --api-url "$URL" --token "$TOKEN" --queue-file "$QUEUE" --ledger "$LEDGER" \
        --spans "$SPANS" --pause 5 >> "$WORK/agent.log" 2>&1
}

KILLS=5
for round in $(seq 1 "$KILLS"); do
    agent &
    AGENT_PID=$!
    # A random moment between 0.3 and 1.8 s.
    sleep "$(awk -v seed="$RANDOM" 'BEGIN { srand(seed); printf "%.2f", 0.3 + rand() * 1.5 }')"
    kill -9 "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
    AGENT_PID=""
    depth="$("$PREFACTOR" queue show "$QUEUE" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["operations"]))')"
    echo "crash soak: kill $round: $(grep -vc '^begin' "$LEDGER" || true) spans acknowledged, $depth operations in the queue file"
    if [ "$round" -eq 3 ]; then
        curl -fsS -X DELETE -H "Authorization: Bearer $TOKEN" "$URL/__prefactor/faults" > /dev/null
        echo "crash soak: the API accepts span creates again"
    fi
done

# The dead agent's backlog is rescued from the command line, then a last run goes to the end and drains; the file
# must then be empty.
"$PREFACTOR" queue deliver "$QUEUE" --api-url "$URL" --token "$TOKEN" --timeout 120 2> "$WORK/deliver.err" \
    || { echo "crash soak: queue deliver failed"; cat "$WORK/deliver.err"; exit 1; }
echo "crash soak: queue deliver emptied the file"
timeout 300 "$AGENT_BIN" soak-agent --api-url "$URL" --token "$TOKEN" --queue-file "$QUEUE" --ledger "$LEDGER" \
    --spans "$SPANS" --pause 1 >> "$WORK/agent.log" 2>&1 || { echo "crash soak: the final run failed"; tail -20 "$WORK/agent.log"; exit 1; }
left="$("$PREFACTOR" queue show "$QUEUE" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["operations"]))')"
[ "$left" -eq 0 ] || { echo "crash soak: $left operations left in the queue file"; exit 1; }
python3 "$(dirname "$0")/verify_soak.py" --api-url "$URL" --token "$TOKEN" --ledger "$LEDGER"
