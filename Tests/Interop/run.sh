#!/usr/bin/env bash
# Interop test: the OFFICIAL Python SDK (prefactor-core 0.5.3) against our server.
#
# Usage: Tests/Interop/run.sh PATH_TO_prefactor_BINARY [PYTHON]
#
#   PATH_TO_prefactor_BINARY  the built CLI, e.g. .build/debug/prefactor
#   PYTHON                    interpreter with prefactor-core installed; default
#                             <repo>/.venv-interop/bin/python, created on first
#                             use with `python3 -m venv` + `pip install
#                             prefactor-core==0.5.3 prefactor-http==0.4.3`.
#
# Starts `prefactor serve --in-memory --port 0 --host 127.0.0.1 --token
# interop-token`, waits (max 30 s) for the stdout line
# `PREFACTOR_API_URL=http://127.0.0.1:PORT`, runs scenario.py and then
# verify.py (page size 100, then 7 to exercise pagination), and always stops
# the server by its PID. Exits non-zero on any failure and prints the tail of
# the server's output.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOKEN="interop-token"
# shellcheck source=Tests/Interop/sdk-python.sh
source "$SCRIPT_DIR/sdk-python.sh"

STARTUP_TIMEOUT_S=30

usage() {
    echo "usage: $0 PATH_TO_prefactor_BINARY [PYTHON]" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
BIN="$1"
if [[ ! -f "$BIN" || ! -x "$BIN" ]]; then
    echo "interop: server binary '$BIN' does not exist or is not executable" >&2
    exit 2
fi

# ---------------------------------------------------------------- python ----
sdk_python interop "${2:-}"

# ---------------------------------------------------------------- server ----
WORK="$(mktemp -d "${TMPDIR:-/tmp}/prefactor-interop.XXXXXX")"
SERVER_OUT="$WORK/server.stdout"
SERVER_ERR="$WORK/server.stderr"
EXPECT="$WORK/expect.json"
SERVER_PID=""
FAILED=1

show_server_log() {
    echo "---- server stdout (last 40 lines of $SERVER_OUT) ----" >&2
    tail -n 40 "$SERVER_OUT" >&2 2>/dev/null || true
    echo "---- server stderr (last 40 lines of $SERVER_ERR) ----" >&2
    tail -n 40 "$SERVER_ERR" >&2 2>/dev/null || true
    echo "---- end of server output; files kept in $WORK ----" >&2
}

cleanup() {
    local rc=$?
    set +e
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "interop: server $SERVER_PID ignored SIGTERM; sending SIGKILL" >&2
            kill -9 "$SERVER_PID" 2>/dev/null
        fi
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
        show_server_log
        [[ $rc -ne 0 ]] || rc=1
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "interop: FAILED: $*" >&2
    exit 1
}

"$BIN" serve --in-memory --port 0 --host 127.0.0.1 --token "$TOKEN" \
    </dev/null >"$SERVER_OUT" 2>"$SERVER_ERR" &
SERVER_PID=$!

API_URL=""
deadline=$((SECONDS + STARTUP_TIMEOUT_S))
while [[ -z "$API_URL" ]]; do
    line="$(grep -m1 -E '^PREFACTOR_API_URL=http://127\.0\.0\.1:[0-9]+$' "$SERVER_OUT" 2>/dev/null || true)"
    if [[ -n "$line" ]]; then
        API_URL="${line#PREFACTOR_API_URL=}"
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        wait "$SERVER_PID" && status=0 || status=$?
        SERVER_PID=""
        fail "server exited (status $status) before printing PREFACTOR_API_URL"
    fi
    if (( SECONDS >= deadline )); then
        fail "no 'PREFACTOR_API_URL=http://127.0.0.1:PORT' line on server stdout within ${STARTUP_TIMEOUT_S}s" \
             "(is stdout flushed after printing it? stdout is a file here, not a terminal)"
    fi
    sleep 0.1
done
echo "interop: server pid $SERVER_PID at $API_URL (python: $PY)"

# -------------------------------------------------------------- the test ----
"$PY" "$SCRIPT_DIR/scenario.py" --api-url "$API_URL" --token "$TOKEN" --expect-out "$EXPECT" \
    || fail "scenario.py (official SDK run) reported errors; expectation file: $EXPECT"

"$PY" "$SCRIPT_DIR/verify.py" --api-url "$API_URL" --token "$TOKEN" --expect "$EXPECT" \
    || fail "verify.py found mismatches"

"$PY" "$SCRIPT_DIR/verify.py" --api-url "$API_URL" --token "$TOKEN" --expect "$EXPECT" --page-size 7 \
    || fail "verify.py found mismatches with page size 7"

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    SERVER_PID=""
    fail "server died during the test"
fi

FAILED=0
echo "interop: PASSED"
