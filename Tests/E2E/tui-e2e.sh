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
#      the server, then `cancelled` (the finish is held back 3 s with a latency fault so `pending` can be seen, in
#      the UI too: ○ pending until the cancel is delivered, then ⊘ cancelled)
#   c  resize to 70x20 (re-laid out), 40x10 ("Need 60x14 ... terminal too small"), back to 120x35 (the tree is back)
#   d  q drains and quits (alternate screen off, summary line printed, status 0); Ctrl-C, SIGTERM and SIGHUP
#      restore the terminal and exit 130, 143 and 129, printing what they leave behind; SIGTERM drains first and
#      reports what it delivered, or what it could not (a span create failing for good), on stderr and in the log
#   e  no terminal: exits non-zero at once with a message on stderr
#   f  --render --width 80 --height 24 --after 1 (embedded server + demo) prints a frame
#   g  `prefactor demo` killed with kill -9 while spans get 503 keeps its queue file (under XDG_STATE_HOME, which
#      points into the temporary folder); `prefactor tui --queue FILE` shows its owner dead, D + y takes it over, and
#      `prefactor queue show FILE` then finds it empty
# Prints one line per case and `e2e: N passed, M failed`; exits non-zero on any failure, printing the screen (or
# output) of the failing case. Needs tmux, curl and python3. Stops only what it started: its processes by PID, and
# its own tmux server.
set -euo pipefail

E2E_NAME="e2e"
TOKEN="e2e"
# shellcheck source=Tests/E2E/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 1 ]] || { echo "usage: $0 PATH_TO_prefactor" >&2; exit 2; }
e2e_args "$@"
e2e_need tmux curl python3
e2e_setup
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ helpers ----

# start_ui NAME [EXTRA ARGS...]: runs the UI against the test server in a new 120x35 session named NAME and
# waits for its first frame.
start_ui() {
    local name="$1"
    shift
    launch_ui "$name" 120 35 tui --api-url "$API_URL" --token "$TOKEN" --no-demo "$@" || return 1
    wait_for "$name" "queue pending" 20 || return 1
    wait_for "$name" "[ok]" 20
}

# new_run SESSION: n, then waits until the new run is selected (its detail is shown).
new_run() {
    keys "$1" n
    wait_for "$1" "│ Run ai_" 20
}

# add_span SESSION SCHEMA: a, types SCHEMA over the default (shown as a hint), edits it with the line editor's
# keys (a word typed and taken back with Ctrl-W and Backspace, then Ctrl-U and SCHEMA again), Enter; waits for the prepared span's
# detail.
add_span() {
    local target="$1" schema="$2"
    keys "$target" a
    wait_for "$target" "New span type: agent:step  Enter adds agent:step" || return 1
    keys "$target" -l "$schema junk"
    keys "$target" C-w BSpace
    wait_for "$target" "New span type: $schema   Enter adds," || return 1
    keys "$target" C-u
    wait_for "$target" "New span type: agent:step  Enter adds agent:step" || return 1
    keys "$target" -l "$schema"
    wait_for "$target" "New span type: $schema   Enter adds," || return 1
    keys "$target" Enter
    wait_for "$target" "│ $schema" || return 1
    wait_for "$target" "status   ◌ prepared"
}

# select_parent SESSION: h on a leaf span selects its parent (the run, for a root span).
select_parent() {
    keys "$1" h
    wait_for "$1" "│ Run ai_"
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
    # Pending (on the server too) until the held-back cancel is delivered, then cancelled.
    wait_for "$t" "status   ○ pending" 3 || return 1
    wait_server_span "$run" e2e:cancel-prepared pending 3 || return 1
    wait_for "$t" "status   ⊘ cancelled" || return 1
    # Never started: the UI's history goes from prepared to pending to cancelled, never active.
    screen "$t" | grep -qF "● active" && { fail "the prepared span's history shows it active"; return 1; }
    screen "$t" | grep -qF "○ pending" || { fail "the cancelled span's history lost its pending step"; return 1; }
    wait_server_span "$run" e2e:cancel-prepared cancelled || return 1
    api -X DELETE "$API_URL/__prefactor/faults" >/dev/null || fail "could not remove the faults"
}

# check_layout SESSION WIDTH HEIGHT: header (with the health) on line 1, the queue strip above its list, hints last.
# The list has one line below 32 rows and more on taller screens (Geometry.queueListRows, with the API ok).
check_layout() {
    local target="$1" width="$2" height="$3" size text list queue_line
    size="$(tm display -p -t "$target" '#{pane_width}x#{pane_height}')"
    [[ "$size" == "${width}x${height}" ]] || fail "the pane is $size, expected ${width}x${height}" || return 1
    list=1
    ((height < 32)) || list=$(((height - 16) / 8 < 6 ? (height - 16) / 8 : 6))
    queue_line=$((height - 1 - list))
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        text="$(screen "$target")"
        if [[ "$(sed -n 1p <<<"$text")" == "prefactor  "*"[ok]"* ]] \
            && [[ "$(sed -n "${queue_line}p" <<<"$text")" == "queue pending"* ]] \
            && [[ "$(sed -n "${height}p" <<<"$text")" == "n new run"* ]] \
            && ! grep -q "terminal too small" <<<"$text"; then
            return 0
        fi
        sleep 0.1
    done
    fail "no ${width}x${height} layout (header on line 1, queue strip on line $queue_line, key hints on line $height)"
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
    [[ "$first" =~ [0-9]+\ runs?\ .*[0-9]+\ spans? ]] || fail "the header lost its counts at 70 columns: '$first'" || return 1
    screen "$t" | grep -qF "● run ai_" || fail "the tree is not shown at 70x20" || return 1

    tm resize-window -t "$t" -x 40 -y 10
    wait_for "$t" "Need 60x14 (now 40x10):" || return 1
    screen "$t" | grep -qF "queue pending" && { fail "the queue strip is still drawn at 40x10"; return 1; }

    tm resize-window -t "$t" -x 120 -y 35
    wait_gone "$t" "terminal too small" || return 1
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
    [[ "$EXIT_STATUS" == 143 ]] || fail "after SIGTERM the UI exited with status $EXIT_STATUS, expected 143" || return 1
    screen "$t" | grep -qE '^prefactor: stopped by signal 15 .*1 runs left open' \
        || fail "no 'prefactor: stopped by signal 15 ... 1 runs left open' line after SIGTERM" || return 1
    if kill -0 "$pid" 2>/dev/null; then fail "process $pid is still running after SIGTERM"; return 1; fi
    # SIGTERM drains first and says what it delivered, on the screen (stderr) and in the log.
    screen "$t" | grep -qE '^prefactor: SIGTERM: [0-9]+ operations delivered; nothing left' \
        || fail "no 'prefactor: SIGTERM: ... delivered' report after SIGTERM" || return 1
    grep -qF "prefactor: SIGTERM:" "$WORK/$t.log" || fail "the log does not report the SIGTERM exit" || return 1

    # What SIGTERM cannot deliver is counted, on the screen and in the log (every span create fails for good here).
    t=d-sigterm-failed
    start_ui "$t" || return 1
    new_run "$t" || return 1
    api -X POST -H 'Content-Type: application/json' "$API_URL/__prefactor/faults" \
        -d '{"method": "POST", "path": "/api/v1/agent_spans", "status": 422}' >/dev/null \
        || fail "could not add the fault" || return 1
    add_span "$t" e2e:refused || return 1
    keys "$t" s
    wait_for "$t" "sync failed" 20 || return 1
    pid="$(ui_pid "$t")"
    kill -TERM "$pid"
    wait_exit "$t" 40 || return 1
    api -X DELETE "$API_URL/__prefactor/faults" >/dev/null || fail "could not remove the faults" || return 1
    [[ "$EXIT_STATUS" == 143 ]] || fail "after SIGTERM the UI exited with status $EXIT_STATUS, expected 143" || return 1
    screen "$t" | grep -qE '^prefactor: SIGTERM: [0-9]+ operations were not delivered and [1-9][0-9]* failed' \
        || fail "no count of failed operations after SIGTERM" || return 1
    grep -qE 'prefactor: SIGTERM: [0-9]+ operations were not delivered and [1-9]' "$WORK/$t.log" \
        || fail "the log does not count the failed operations" || return 1

    t=d-sighup
    start_ui "$t" || return 1
    pid="$(ui_pid "$t")"
    kill -HUP "$pid"
    wait_exit "$t" 15 || return 1
    [[ "$(alternate_on "$t")" == 0 ]] || fail "after SIGHUP the alternate screen is still on" || return 1
    [[ "$EXIT_STATUS" == 129 ]] || fail "after SIGHUP the UI exited with status $EXIT_STATUS, expected 129" || return 1

    # Ctrl-C is a key in the UI's raw mode: it quits at once, restores the terminal, says what was left, exits 130.
    t=d-ctrl-c
    start_ui "$t" || return 1
    keys "$t" C-c
    wait_exit "$t" 15 || return 1
    [[ "$(alternate_on "$t")" == 0 ]] || fail "after Ctrl-C the alternate screen is still on" || return 1
    [[ "$EXIT_STATUS" == 130 ]] || fail "after Ctrl-C the UI exited with status $EXIT_STATUS, expected 130" || return 1
    screen "$t" | grep -qE '^prefactor: interrupted' || fail "no 'prefactor: interrupted' line after Ctrl-C"
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

# A demo killed with kill -9 while the API refuses its spans leaves its queue file; `tui --queue FILE` shows it with
# its owner dead, and D + y takes it over and delivers it.
case_g() {
    local demo_pid file="" deadline
    SHOW_FILES=("$WORK/g-demo.out" "$WORK/g-demo.err")
    api -X POST "$API_URL/__prefactor/faults" -d '{"method": "POST", "path": "/api/v1/agent_spans", "status": 503}' >/dev/null \
        || fail "cannot add the fault" || return 1
    SWIFT_BACKTRACE=interactive=no "$BIN" demo --api-url "$API_URL" --token "$TOKEN" --speed 5 \
        </dev/null >"$WORK/g-demo.out" 2>"$WORK/g-demo.err" &
    demo_pid=$!
    UI_PIDS+=("$demo_pid")
    deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        file="$(sed -n 's/^demo: queue file //p' "$WORK/g-demo.out" | head -n 1)"
        # (Through a file: grep -q stopping early would fail the pipe.)
        if [[ -n "$file" ]] && "$BIN" queue show "$file" >"$WORK/g-show.txt" 2>/dev/null && grep -q "create_span" "$WORK/g-show.txt"; then
            break
        fi
        sleep 0.2
    done
    [[ -n "$file" ]] || fail "the demo did not name its queue file" || return 1
    [[ "$file" == "$XDG_STATE_HOME/prefactor/queues/"* ]] || fail "the queue file $file is not under XDG_STATE_HOME" || return 1
    grep -q "create_span" "$WORK/g-show.txt" || fail "no span create waits in $file" || return 1
    kill -KILL "$demo_pid" 2>/dev/null
    wait "$demo_pid" 2>/dev/null || true
    [[ -f "$file" ]] || fail "the queue file is gone after kill -9" || return 1
    api -X DELETE "$API_URL/__prefactor/faults" >/dev/null || fail "cannot remove the fault" || return 1

    launch_ui g 120 35 tui --api-url "$API_URL" --token "$TOKEN" --no-demo --queue "$file" || return 1
    wait_for g "dead: D takes it over" 20 || return 1
    keys g D
    wait_for g "Take over $file" 10 || return 1
    keys g y
    wait_for g "Took over" 60 || return 1
    "$BIN" queue show "$file" >"$WORK/g-after.txt" 2>&1
    grep -qF ": 0 operation(s)" "$WORK/g-after.txt" || fail "operations are left in $file after the take-over" || return 1
    keys g q
    wait_exit g 30 || return 1
}

# -------------------------------------------------------------------- main ----

e2e_start_server
echo "e2e: server at $API_URL (pid $SERVER_PID), tmux socket $SOCKET"

run_case a "n, a, Enter, s, f -> the agent:step span is complete on the server"
run_case b "x+y -> failed; c+y -> cancelled; c+y on a prepared span -> pending, then cancelled"
run_case c "resize: 70x20 re-lays out, 40x10 says too small, 120x35 brings the tree back"
run_case d "q drains, restores the terminal and prints the summary; Ctrl-C, SIGTERM, SIGHUP restore it: 130, 143, 129"
run_case e "no terminal: exits non-zero at once with a message on stderr"
run_case f "--render --width 80 --height 24 --after 1 prints a frame"
run_case g "a demo killed with kill -9 leaves its queue file; tui --queue FILE takes it over (D, y) and delivers it"

echo "e2e: $PASSED passed, $FAILED failed"
((FAILED == 0))
