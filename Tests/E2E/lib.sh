# shellcheck shell=bash
# Helpers shared by the end-to-end tests (tui-e2e.sh, watch-e2e.sh); sourced, not run.
#
# A test sets E2E_NAME (the prefix of its messages) and calls, in this order:
#   e2e_args "$@"            the prefactor binary (absolute path in BIN); exits 2 if it is missing
#   e2e_need TOOL...         exits 2 if a tool is missing
#   e2e_setup                WORK (temporary folder), SOCKET (a private tmux server), the tmux config, the pane runner
#   trap e2e_cleanup EXIT    stops the UIs, the tmux server, the prefactor server and the processes in EXTRA_PIDS
#   e2e_start_server         `prefactor serve` on 127.0.0.1, port 0, in memory, token TOKEN; sets SERVER_PID, API_URL
# and runs its cases with run_case. Checks return 1 after setting FAILURE (through `fail`), so a case can stop at its
# first failed check with `|| return 1`. Everything is stopped by PID, and the tmux server is the test's own.

E2E_NAME="${E2E_NAME:-e2e}"
TOKEN="${TOKEN:-e2e}"
BIN=""
WORK=""
SOCKET=""
SERVER_PID=""
API_URL=""
UI_PIDS=()      # the UI processes
HOLDER_PIDS=()  # the panes' run-ui.sh processes
EXTRA_PIDS=()   # other processes the test started (stopped first by e2e_cleanup)
PASSED=0
FAILED=0
FAILURE=""      # why the current case failed
SHOW_PANE=""    # the tmux session whose screen is printed when the current case fails
SHOW_FILES=()   # files printed when the current case fails
STOP_AFTER_FAILURE=""  # when set, run_case skips every case after a failed one

# No API settings inherited from the caller.
unset PREFACTOR_API_URL PREFACTOR_API_TOKEN NO_COLOR || true

# e2e_args "$@": the test's arguments, PATH_TO_prefactor [MORE...]; sets BIN to the binary's absolute path.
e2e_args() {
    if [[ $# -lt 1 ]]; then
        echo "usage: $0 PATH_TO_prefactor${E2E_USAGE:+ $E2E_USAGE}" >&2
        exit 2
    fi
    if [[ ! -f "$1" || ! -x "$1" ]]; then
        echo "$E2E_NAME: '$1' does not exist or is not executable" >&2
        exit 2
    fi
    BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}

# e2e_need TOOL...: exits 2 unless every tool is on PATH.
e2e_need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$E2E_NAME: $tool is needed (apt-get install -y $tool)" >&2; exit 2; }
    done
}

# e2e_setup: the temporary folder, the private tmux socket and its config, and the pane runner.
e2e_setup() {
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/prefactor-$E2E_NAME.XXXXXX")"
    # Queue files (and logs) go to the temporary folder, never to the user's state directory.
    export XDG_STATE_HOME="$WORK/state"
    SOCKET="prefactor-$E2E_NAME-$$"

    # The pane runs this: it runs the UI in the foreground of the pane's terminal, records the UI's pid, prints its
    # exit status and keeps the pane open, so the last output can be read (tmux may lose the final output of a pane
    # whose process exits at once).
    cat >"$WORK/run-ui.sh" <<'RUNNER'
#!/usr/bin/env bash
pidfile="$1"
shift
rc=0
bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" || rc=$?
printf '\n[e2e: exited %s]\n' "$rc"
exec sleep 3600
RUNNER
    chmod +x "$WORK/run-ui.sh"

    cat >"$WORK/tmux.conf" <<'CONF'
set -g status off
set -g history-limit 1000
CONF
}

tm() { tmux -L "$SOCKET" -f "$WORK/tmux.conf" "$@"; }

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL if it is still running after SECONDS (default 10); reaps it.
stop_pid() {
    local pid="$1" deadline=$((SECONDS + ${2:-10}))
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# e2e_cleanup: the trap on EXIT. Stops what the test started (by PID), its tmux server, and removes WORK.
e2e_cleanup() {
    local pid socket_path=""
    if [[ -n "$SOCKET" ]]; then
        # tmux leaves its socket file behind; where it is (asked before the sessions end, which may end the server).
        socket_path="$(tm display -p '#{socket_path}' 2>/dev/null || true)"
        [[ -n "$socket_path" ]] || socket_path="${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$SOCKET"
    fi
    for pid in "${EXTRA_PIDS[@]}"; do stop_pid "$pid" 5; done
    for pid in "${UI_PIDS[@]}" "${HOLDER_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
    if [[ -n "$SOCKET" ]]; then
        tm kill-server >/dev/null 2>&1 || true
        if [[ "$socket_path" == */"$SOCKET" && -S "$socket_path" ]]; then rm -f "$socket_path"; fi
    fi
    stop_pid "$SERVER_PID" 10
    [[ -z "$WORK" ]] || rm -rf "$WORK"
}

# e2e_start_server: starts `prefactor serve --port 0 --in-memory` on 127.0.0.1, with fault injection (the cases add
# faults at runtime), and waits (30 s) for its URL.
e2e_start_server() {
    SWIFT_BACKTRACE=interactive=no "$BIN" serve --host 127.0.0.1 --port 0 --in-memory --token "$TOKEN" --enable-fault-injection \
        --log-level warning </dev/null >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        [[ -d "$WORK" ]] || { echo "$E2E_NAME: the work folder $WORK was removed by something else" >&2; exit 1; }
        API_URL="$(sed -n 's/^PREFACTOR_API_URL=//p' "$WORK/server.out" 2>/dev/null | head -n 1)"
        [[ -n "$API_URL" ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z "$API_URL" ]]; then
        echo "$E2E_NAME: prefactor serve did not start:" >&2
        cat "$WORK/server.out" "$WORK/server.err" >&2
        exit 1
    fi
}

# ------------------------------------------------------------------ checks ----

fail() {
    FAILURE="$*"
    return 1
}

screen() { tm capture-pane -p -t "$1" 2>/dev/null || true; }

keys() { tm send-keys -t "$1" "${@:2}"; }

# wait_for SESSION FIXED_TEXT [SECONDS]: polls the screen until it shows the text.
wait_for() {
    local target="$1" text="$2" deadline=$((SECONDS + ${3:-15}))
    while ((SECONDS < deadline)); do
        screen "$target" | grep -qF -- "$text" && return 0
        sleep 0.1
    done
    fail "timed out after ${3:-15} s waiting for '$text' on the screen"
}

# wait_gone SESSION FIXED_TEXT [SECONDS]: polls until the screen no longer shows the text.
wait_gone() {
    local target="$1" text="$2" deadline=$((SECONDS + ${3:-15}))
    while ((SECONDS < deadline)); do
        screen "$target" | grep -qF -- "$text" || return 0
        sleep 0.1
    done
    fail "timed out after ${3:-15} s waiting for '$text' to leave the screen"
}

# wait_exit SESSION [SECONDS]: polls until the UI has exited; sets EXIT_STATUS.
EXIT_STATUS=""
wait_exit() {
    local target="$1" deadline=$((SECONDS + ${2:-15}))
    EXIT_STATUS=""
    while ((SECONDS < deadline)); do
        EXIT_STATUS="$(screen "$target" | sed -n 's/^\[e2e: exited \([0-9]*\)\]$/\1/p' | tail -n 1)"
        [[ -n "$EXIT_STATUS" ]] && return 0
        sleep 0.1
    done
    fail "the UI did not exit within ${2:-15} s"
}

# launch_ui NAME WIDTH HEIGHT [ARGS...]: runs `prefactor ARGS...` (with a UTF-8 locale, TERM=xterm-256color and
# --log-file WORK/NAME.log) in a new WIDTHxHEIGHT session NAME, and waits until it has started (not for a frame).
# Records its pids for the cleanup; the screen of NAME is printed if the case fails.
launch_ui() {
    local name="$1" width="$2" height="$3"
    shift 3
    local command
    command="$(printf '%q ' "$WORK/run-ui.sh" "$WORK/$name.pid" env LANG=C.UTF-8 LC_ALL=C.UTF-8 \
        SWIFT_BACKTRACE=interactive=no TERM=xterm-256color "$BIN" "$@" --log-file "$WORK/$name.log")"
    tm new-session -d -s "$name" -x "$width" -y "$height" "$command"
    SHOW_PANE="$name"
    HOLDER_PIDS+=("$(tm display -p -t "$name" '#{pane_pid}')")
    local deadline=$((SECONDS + 10))
    while [[ ! -s "$WORK/$name.pid" ]] && ((SECONDS < deadline)); do sleep 0.05; done
    [[ -s "$WORK/$name.pid" ]] || fail "the UI of '$name' did not start" || return 1
    UI_PIDS+=("$(cat "$WORK/$name.pid")")
}

ui_pid() { cat "$WORK/$1.pid"; }

alternate_on() { tm display -p -t "$1" '#{alternate_on}'; }

api() { curl -fsS --max-time 10 -H "Authorization: Bearer $TOKEN" "$@"; }

# json PYTHON_EXPRESSION: evaluates the expression with the JSON document on standard input as `data`; prints it.
json() { python3 -c "import json, sys; data = json.load(sys.stdin); print($1)"; }

# server_instances: the ids of every agent instance on the server (GET /api/v1/agent_instance, all pages).
server_instances() {
    local offset=0 page
    while [[ -n "$offset" ]]; do
        page="$(api "$API_URL/api/v1/agent_instance?pagination%5Bpage_size%5D=100&pagination%5Boffset%5D=$offset")" || return 1
        json '"\n".join(item["id"] for item in data["summaries"])' <<<"$page"
        offset="$(json 'data["pagination"].get("next_page_offset") or ""' <<<"$page")"
    done
}

# server_spans INSTANCE_ID: the instance's spans as "schema_name<TAB>status" (GET /api/v1/agent_spans, all pages).
server_spans() {
    local offset=0 page
    while [[ -n "$offset" ]]; do
        page="$(api "$API_URL/api/v1/agent_spans?agent_instance_id=$1&pagination%5Bpage_size%5D=100&pagination%5Boffset%5D=$offset")" || return 1
        json '"\n".join("%s\t%s" % (s["schema_name"], s["status"]) for s in data["summaries"])' <<<"$page"
        offset="$(json 'data["pagination"].get("next_page_offset") or ""' <<<"$page")"
    done
}

# ------------------------------------------------------------------- cases ----

# run_case NAME DESCRIPTION: runs case_NAME; prints `ok` or `FAIL` with the reason, then the screen of SHOW_PANE and
# the files in SHOW_FILES. With STOP_AFTER_FAILURE set, a case after a failed one is skipped.
run_case() {
    local name="$1" description="$2" file started=$SECONDS
    FAILURE=""
    SHOW_PANE=""
    SHOW_FILES=()
    if [[ -n "$STOP_AFTER_FAILURE" ]] && ((FAILED > 0)); then
        echo "skip $name: $description"
        return 0
    fi
    if "case_$name"; then
        PASSED=$((PASSED + 1))
        echo "ok   $name: $description ($((SECONDS - started)) s)"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL $name: $description: ${FAILURE:-failed}"
        if [[ -n "$SHOW_PANE" ]]; then
            echo "---- screen of '$SHOW_PANE' ($(tm display -p -t "$SHOW_PANE" '#{pane_width}x#{pane_height}' 2>/dev/null || echo gone)):"
            screen "$SHOW_PANE" | sed 's/^/    | /'
            echo "----"
        fi
        for file in "${SHOW_FILES[@]}"; do
            echo "---- $(basename "$file"):"
            tail -c 6000 "$file" 2>/dev/null | sed 's/^/    | /' || true
            echo "----"
        done
    fi
}
