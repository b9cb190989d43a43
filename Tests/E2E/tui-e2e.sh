#!/usr/bin/env bash
# End-to-end tests of `prefactor tui` in a real terminal (tmux).
#
# Usage: Tests/E2E/tui-e2e.sh PATH_TO_prefactor
#
# Starts `prefactor serve --port 0 --in-memory --token e2e`, then drives `prefactor tui --api-url URL --token e2e
# --no-demo` in 120x35 tmux sessions on a private socket (tmux -L prefactor-e2e-$$, no user config), typing keys
# and polling `capture-pane` with deadlines. What the UI did is checked on the server through its list endpoints
# (GET /api/v1/agent_instance, GET /api/v1/agent_spans?agent_instance_id=ID). Cases:
#   a  n, a, Enter, s, f: the span is `complete` on the server
#   b  x + y -> `failed`; c + y on a running span -> `cancelled`; c + y on a prepared span: created `pending` on
#      the server, then `cancelled` (the finish is held back 3 s with a latency fault so `pending` can be seen)
#   c  resize to 70x20 (re-laid out), 40x10 ("Terminal too small"), back to 120x35 (the tree is back)
#   d  q drains and quits (alternate screen off, summary line printed); SIGTERM also restores the terminal and exits
#   e  no terminal: exits non-zero at once with a message on stderr
#   f  --render --width 80 --height 24 --after 1 (embedded server + demo) prints a frame
# Prints one line per case and `e2e: N passed, M failed`; exits non-zero on any failure, printing the screen (or
# output) of the failing case. Needs tmux, curl and python3. Stops only what it started: its processes by PID, and
# its own tmux server.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 PATH_TO_prefactor" >&2
    exit 2
fi
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
if [[ ! -f "$BIN" || ! -x "$BIN" ]]; then
    echo "e2e: '$1' does not exist or is not executable" >&2
    exit 2
fi
for tool in tmux curl python3; do
    command -v "$tool" >/dev/null || { echo "e2e: $tool is needed (apt-get install -y $tool)" >&2; exit 2; }
done

TOKEN="e2e"
SOCKET="prefactor-e2e-$$"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/prefactor-e2e.XXXXXX")"
SERVER_PID=""
API_URL=""
UI_PIDS=()      # the UI processes
HOLDER_PIDS=()  # the panes' run-ui.sh processes
PASSED=0
FAILED=0
FAILURE=""      # why the current case failed
SHOW_PANE=""    # the tmux session whose screen is printed when the current case fails
SHOW_FILES=()   # files printed when the current case fails

# No API settings inherited from the caller.
unset PREFACTOR_API_URL PREFACTOR_API_TOKEN NO_COLOR || true

tm() { tmux -L "$SOCKET" -f "$WORK/tmux.conf" "$@"; }

cleanup() {
    local pid
    for pid in "${UI_PIDS[@]}" "${HOLDER_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
    tm kill-server >/dev/null 2>&1 || true
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local deadline=$((SECONDS + 10))
        while kill -0 "$SERVER_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The pane runs this: it runs the UI in the foreground of the pane's terminal, records the UI's pid, prints its exit
# status and keeps the pane open, so the last output can be read (tmux may lose the final output of a pane whose
# process exits at once).
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

# ------------------------------------------------------------------ helpers ----

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

# start_ui NAME [EXTRA ARGS...]: runs the UI against the test server in a new 120x35 session named NAME and
# waits for its first frame.
start_ui() {
    local name="$1"
    shift
    local command
    command="$(printf '%q ' "$WORK/run-ui.sh" "$WORK/$name.pid" env LANG=C.UTF-8 LC_ALL=C.UTF-8 \
        SWIFT_BACKTRACE=interactive=no TERM=xterm-256color \
        "$BIN" tui --api-url "$API_URL" --token "$TOKEN" --no-demo --log-file "$WORK/$name.log" "$@")"
    tm new-session -d -s "$name" -x 120 -y 35 "$command"
    SHOW_PANE="$name"
    HOLDER_PIDS+=("$(tm display -p -t "$name" '#{pane_pid}')")
    local deadline=$((SECONDS + 10))
    while [[ ! -s "$WORK/$name.pid" ]] && ((SECONDS < deadline)); do sleep 0.05; done
    [[ -s "$WORK/$name.pid" ]] || fail "the UI of '$name' did not start" || return 1
    UI_PIDS+=("$(cat "$WORK/$name.pid")")
    wait_for "$name" "queue pending" 20 || return 1
    wait_for "$name" "[ok]" 20
}

ui_pid() { cat "$WORK/$1.pid"; }

alternate_on() { tm display -p -t "$1" '#{alternate_on}'; }

# new_run SESSION: n, then waits until the new run is selected (its detail is shown).
new_run() {
    keys "$1" n
    wait_for "$1" "│ Run ai_" 20
}

# add_span SESSION SCHEMA: a, replaces the default type with SCHEMA, Enter; waits for the prepared span's detail.
add_span() {
    local target="$1" schema="$2" i
    keys "$target" a
    wait_for "$target" "New span type: agent:step" || return 1
    for ((i = 0; i < 10; i++)); do keys "$target" BSpace; done
    keys "$target" -l "$schema"
    wait_for "$target" "New span type: $schema▏" || return 1
    keys "$target" Enter
    wait_for "$target" "│ $schema" || return 1
    wait_for "$target" "status   ◌ prepared"
}

# select_parent SESSION: h on a leaf span selects its parent (the run, for a root span).
select_parent() {
    keys "$1" h
    wait_for "$1" "│ Run ai_"
}

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

# wait_server_span INSTANCE_ID SCHEMA STATUS [SECONDS]: polls the server until the instance is listed and has
# exactly one span of that type, with that status.
wait_server_span() {
    local instance="$1" schema="$2" status="$3" deadline=$((SECONDS + ${4:-20})) seen="" listed=""
    while ((SECONDS < deadline)); do
        if [[ -z "$listed" ]] && server_instances 2>/dev/null | grep -qxF "$instance"; then listed=yes; fi
        seen="$(server_spans "$instance" 2>/dev/null | awk -F '\t' -v s="$schema" '$1 == s { print $2 }' | tr '\n' ' ' || true)"
        [[ -n "$listed" && "$seen" == "$status " ]] && return 0
        sleep 0.2
    done
    [[ -n "$listed" ]] || fail "the server does not list the instance $instance" || return 1
    fail "the server has span $schema of $instance as '${seen:-nothing}', expected one '$status'"
}

# run_id SESSION: the id of the selected run (its detail is shown), or of the selected span's run.
run_id() {
    screen "$1" | sed -nE 's/.*│ (Run|run     ) (ai_[0-9a-zA-Z]+).*/\2/p' | head -n 1
}

run_case() {
    local name="$1" description="$2" file
    FAILURE=""
    SHOW_PANE=""
    SHOW_FILES=()
    if "case_$name"; then
        PASSED=$((PASSED + 1))
        echo "ok   $name: $description"
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
            head -c 4000 "$file" 2>/dev/null | sed 's/^/    | /' || true
            echo "----"
        done
    fi
}

# -------------------------------------------------------------------- cases ----

case_a() {
    local t=a run
    start_ui "$t" || return 1
    new_run "$t" || return 1
    run="$(run_id "$t")"
    [[ -n "$run" ]] || fail "no run id in the detail pane" || return 1
    keys "$t" a
    wait_for "$t" "New span type: agent:step" || return 1
    keys "$t" Enter
    wait_for "$t" "│ agent:step" || return 1
    wait_for "$t" "status   ◌ prepared" || return 1
    keys "$t" s
    wait_for "$t" "status   ● active" || return 1
    keys "$t" f
    wait_for "$t" "status   ✓ complete" || return 1
    wait_server_span "$run" agent:step complete
}

case_b() {
    local t=b run
    start_ui "$t" || return 1
    new_run "$t" || return 1
    run="$(run_id "$t")"
    [[ -n "$run" ]] || fail "no run id in the detail pane" || return 1

    add_span "$t" e2e:fail || return 1
    keys "$t" s
    wait_for "$t" "status   ● active" || return 1
    keys "$t" x
    wait_for "$t" "Fail span e2e:fail? (y/n)" || return 1
    keys "$t" y
    wait_for "$t" "status   ✗ failed" || return 1
    wait_server_span "$run" e2e:fail failed || return 1

    select_parent "$t" || return 1
    add_span "$t" e2e:cancel || return 1
    keys "$t" s
    wait_for "$t" "status   ● active" || return 1
    keys "$t" c
    wait_for "$t" "Cancel span e2e:cancel? (y/n)" || return 1
    keys "$t" y
    wait_for "$t" "status   ⊘ cancelled" || return 1
    wait_server_span "$run" e2e:cancel cancelled || return 1

    select_parent "$t" || return 1
    add_span "$t" e2e:cancel-prepared || return 1
    # Hold the next span finish back 3 s so the create (status pending) can be seen on its own.
    api -X POST -H 'Content-Type: application/json' "$API_URL/__prefactor/faults" \
        -d '{"method": "POST", "path": "/api/v1/agent_spans/*/finish", "latency_ms": 3000, "count": 1}' >/dev/null \
        || fail "could not add the latency fault" || return 1
    keys "$t" c
    wait_for "$t" "Cancel span e2e:cancel-prepared before it starts? (y/n)" || return 1
    keys "$t" y
    wait_for "$t" "status   ⊘ cancelled" || return 1
    # Never started: the UI's history goes from prepared straight to cancelled.
    screen "$t" | grep -qF "● active" && { fail "the prepared span's history shows it active"; return 1; }
    wait_server_span "$run" e2e:cancel-prepared pending 3 || return 1
    wait_server_span "$run" e2e:cancel-prepared cancelled || return 1
    api -X DELETE "$API_URL/__prefactor/faults" >/dev/null || fail "could not remove the faults"
}

# check_layout SESSION WIDTH HEIGHT: header (with the health) on line 1, queue strip on line HEIGHT-2, hints last.
check_layout() {
    local target="$1" width="$2" height="$3" size text
    size="$(tm display -p -t "$target" '#{pane_width}x#{pane_height}')"
    [[ "$size" == "${width}x${height}" ]] || fail "the pane is $size, expected ${width}x${height}" || return 1
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        text="$(screen "$target")"
        if [[ "$(sed -n 1p <<<"$text")" == "prefactor  http://"*"[ok]"* ]] \
            && [[ "$(sed -n "$((height - 2))p" <<<"$text")" == "queue pending"* ]] \
            && [[ "$(sed -n "${height}p" <<<"$text")" == "n new run"* ]] \
            && ! grep -q "Terminal too small" <<<"$text"; then
            return 0
        fi
        sleep 0.1
    done
    fail "no ${width}x${height} layout (header on line 1, queue strip on line $((height - 2)), key hints on line $height)"
}

case_c() {
    local t=c first
    start_ui "$t" || return 1
    new_run "$t" || return 1
    wait_for "$t" "● run ai_" || return 1
    check_layout "$t" 120 35 || return 1

    tm resize-window -t "$t" -x 70 -y 20
    check_layout "$t" 70 20 || return 1
    # The header fits in 70 columns: title, endpoint, health and counts, measured in terminal columns.
    first="$(screen "$t" | sed -n 1p)"
    python3 -c 'import sys, unicodedata as u; sys.exit(0 if sum(2 if u.east_asian_width(c) in "WF" else 1 for c in sys.argv[1].rstrip()) <= 70 else 1)' "$first" \
        || fail "the header is wider than 70 columns: '$first'" || return 1
    [[ "$first" == *"runs"* ]] || fail "the header lost its counts at 70 columns: '$first'" || return 1
    screen "$t" | grep -qF "● run ai_" || fail "the tree is not shown at 70x20" || return 1

    tm resize-window -t "$t" -x 40 -y 10
    wait_for "$t" "Terminal too small" || return 1
    screen "$t" | grep -qF "queue pending" && { fail "the queue strip is still drawn at 40x10"; return 1; }

    tm resize-window -t "$t" -x 120 -y 35
    wait_gone "$t" "Terminal too small" || return 1
    check_layout "$t" 120 35 || return 1
    wait_for "$t" "● run ai_"
}

case_d() {
    local t=d pid
    start_ui "$t" || return 1
    new_run "$t" || return 1
    pid="$(ui_pid "$t")"
    [[ "$(alternate_on "$t")" == 1 ]] || fail "the UI is not on the alternate screen" || return 1
    keys "$t" q
    wait_exit "$t" 40 || return 1
    [[ "$(alternate_on "$t")" == 0 ]] || fail "after q the alternate screen is still on" || return 1
    [[ "$EXIT_STATUS" == 0 ]] || fail "after q the UI exited with status $EXIT_STATUS" || return 1
    screen "$t" | grep -qE '^prefactor: .*delivered' || fail "no 'prefactor: ... delivered' summary line after q" || return 1
    if kill -0 "$pid" 2>/dev/null; then fail "process $pid is still running after q"; return 1; fi

    t=d-sigterm
    start_ui "$t" || return 1
    new_run "$t" || return 1
    pid="$(ui_pid "$t")"
    [[ "$(alternate_on "$t")" == 1 ]] || fail "the UI is not on the alternate screen" || return 1
    kill -TERM "$pid"
    wait_exit "$t" 15 || return 1
    [[ "$(alternate_on "$t")" == 0 ]] || fail "after SIGTERM the alternate screen is still on" || return 1
    if kill -0 "$pid" 2>/dev/null; then fail "process $pid is still running after SIGTERM"; return 1; fi
    return 0
}

case_e() {
    local rc=0 started=$SECONDS elapsed
    SHOW_FILES=("$WORK/e.out" "$WORK/e.err")
    timeout 20 env SWIFT_BACKTRACE=interactive=no TERM=xterm-256color \
        "$BIN" tui --log-file "$WORK/e.log" </dev/null >"$WORK/e.out" 2>"$WORK/e.err" || rc=$?
    elapsed=$((SECONDS - started))
    ((rc != 0)) || fail "exited 0 without a terminal" || return 1
    ((rc != 124)) || fail "still running after 20 s without a terminal" || return 1
    ((elapsed <= 10)) || fail "took $elapsed s to give up without a terminal" || return 1
    grep -qi "terminal" "$WORK/e.err" || fail "no message about the terminal on stderr" || return 1
    [[ ! -s "$WORK/e.out" ]] || fail "printed to stdout"
}

case_f() {
    local rc=0 lines
    SHOW_FILES=("$WORK/f.out" "$WORK/f.err")
    timeout 60 env SWIFT_BACKTRACE=interactive=no \
        "$BIN" tui --render --width 80 --height 24 --after 1 --log-file "$WORK/f.log" </dev/null >"$WORK/f.out" 2>"$WORK/f.err" || rc=$?
    ((rc == 0)) || fail "exited with status $rc" || return 1
    grep -q "prefactor" "$WORK/f.out" || fail "no 'prefactor' in the frame" || return 1
    grep -q "queue" "$WORK/f.out" || fail "no 'queue' in the frame" || return 1
    lines="$(wc -l <"$WORK/f.out")"
    ((lines >= 24)) || fail "the frame has $lines lines, expected 24"
}

# -------------------------------------------------------------------- main ----

SWIFT_BACKTRACE=interactive=no "$BIN" serve --port 0 --in-memory --token "$TOKEN" --log-level warning \
    </dev/null >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
    [[ -d "$WORK" ]] || { echo "e2e: the work folder $WORK was removed by something else" >&2; exit 1; }
    API_URL="$(sed -n 's/^PREFACTOR_API_URL=//p' "$WORK/server.out" 2>/dev/null | head -n 1)"
    [[ -n "$API_URL" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$API_URL" ]]; then
    echo "e2e: prefactor serve did not start:" >&2
    cat "$WORK/server.out" "$WORK/server.err" >&2
    exit 1
fi
echo "e2e: server at $API_URL (pid $SERVER_PID), tmux socket $SOCKET"

run_case a "n, a, Enter, s, f -> the agent:step span is complete on the server"
run_case b "x+y -> failed; c+y -> cancelled; c+y on a prepared span -> pending, then cancelled"
run_case c "resize: 70x20 re-lays out, 40x10 says too small, 120x35 brings the tree back"
run_case d "q drains, restores the terminal and prints the summary; SIGTERM restores it and exits"
run_case e "no terminal: exits non-zero at once with a message on stderr"
run_case f "--render --width 80 --height 24 --after 1 prints a frame"

echo "e2e: $PASSED passed, $FAILED failed"
((FAILED == 0))
