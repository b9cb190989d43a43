#!/usr/bin/env bash
# Makes PNG screenshots of the terminal UI from real runs, into screenshots/:
#   live-demo.png          the default `prefactor` (embedded server + demo agent) after a few seconds, with token
#                          usage and cost (example prices for the demo's models in a config file)
#   timeline.png           the same run as a timeline (w)
#   failed-llm-detail.png  the detail pane of a failed llm:chat span (the UI with --demo against `prefactor serve`,
#                          errors only (e) and filtered to llm:chat, the newest failure selected)
#   queue-backlog.png      the queue while the API fails: every POST answers 503 (a fault injected through
#                          /__prefactor/faults), operations pile up and retry; the queue pane is focused (Tab Tab)
#   watch-remote.png       `prefactor tui --watch` following the runs of another process (`prefactor demo`)
#
# Usage: scripts/screenshots.sh [PATH_TO_prefactor]
#   Without a path it builds the debug binary (swift build --product prefactor). Writes to $SCREENSHOTS_DIR
#   (default: screenshots/). Each screen is run in a 120x35 tmux session on a private socket, captured with
#   `tmux capture-pane -e -p` and drawn by scripts/ansi_to_png.py (pyte + Pillow, installed on first use into
#   .venv-screenshots) in DejaVu Sans Mono (Debian: fonts-dejavu-core). Needs tmux, curl and python3.
#   Stops only what it started: its processes by PID, and its own tmux server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${SCREENSHOTS_DIR:-$ROOT/screenshots}"
VENV="$ROOT/.venv-screenshots"
PY="$VENV/bin/python"
FONT="/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FONT_BOLD="/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
REQUIREMENTS=("pyte==0.8.2" "Pillow==13.0.0")
COLS=120
ROWS=35
TOKEN="screenshots"

for tool in tmux curl python3; do
    command -v "$tool" >/dev/null || { echo "screenshots: $tool is needed (apt-get install -y $tool)" >&2; exit 2; }
done
if [[ ! -f "$FONT" || ! -f "$FONT_BOLD" ]]; then
    echo "screenshots: DejaVu Sans Mono is missing ($FONT): apt-get install -y fonts-dejavu-core" >&2
    exit 2
fi

if [[ $# -ge 1 ]]; then
    BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
else
    echo "screenshots: building prefactor" >&2
    (cd "$ROOT" && swift build --product prefactor >&2)
    BIN="$(cd "$ROOT" && swift build --show-bin-path)/prefactor"
fi
[[ -x "$BIN" ]] || { echo "screenshots: '$BIN' is not an executable" >&2; exit 2; }

if ! "$PY" -c 'import pyte, PIL' >/dev/null 2>&1; then
    echo "screenshots: installing ${REQUIREMENTS[*]} into $VENV" >&2
    [[ -x "$PY" ]] || python3 -m venv "$VENV"
    "$PY" -m pip install --quiet "${REQUIREMENTS[@]}"
fi

SOCKET="prefactor-shots-$$"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/prefactor-shots.XXXXXX")"
# Queue files (and logs) go to the temporary folder, never to the user's state directory.
export XDG_STATE_HOME="$WORK/state"
SERVER_PID=""
API_URL=""
UI_PIDS=()

unset PREFACTOR_API_URL PREFACTOR_API_TOKEN NO_COLOR || true

tm() { tmux -L "$SOCKET" -f "$WORK/tmux.conf" "$@"; }

cleanup() {
    local pid
    for pid in "${UI_PIDS[@]}"; do
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

printf 'set -g status off\n' >"$WORK/tmux.conf"
mkdir -p "$OUT"

die() {
    echo "screenshots: $*" >&2
    if [[ -n "${CURRENT:-}" ]]; then
        echo "---- screen of '$CURRENT':" >&2
        screen "$CURRENT" >&2 || true
    fi
    exit 1
}

screen() { tm capture-pane -p -t "$1" 2>/dev/null || true; }

keys() { tm send-keys -t "$1" "${@:2}"; }

# wait_for SESSION EXTENDED_REGEX SECONDS: polls the screen until a line matches.
wait_for() {
    local deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        screen "$1" | grep -qE -- "$2" && return 0
        sleep 0.2
    done
    return 1
}

# number SESSION SED_REGEX: the first number the regex captures on the screen (0 when none).
number() {
    local value
    value="$(screen "$1" | sed -nE "s/.*$2.*/\\1/p" | head -n 1)"
    echo "${value:-0}"
}

# wait_number SESSION SED_REGEX MINIMUM SECONDS: polls until that number reaches the minimum.
wait_number() {
    local deadline=$((SECONDS + $4))
    while ((SECONDS < deadline)); do
        (($(number "$1" "$2") >= $3)) && return 0
        sleep 0.2
    done
    return 1
}

# start_ui NAME ARGS...: runs `prefactor tui ARGS` in a new 120x35 session and waits for its first frame.
start_ui() {
    local name="$1"
    shift
    CURRENT="$name"
    tm new-session -d -s "$name" -x "$COLS" -y "$ROWS" "$(printf '%q ' exec env LANG=C.UTF-8 LC_ALL=C.UTF-8 \
        SWIFT_BACKTRACE=interactive=no TERM=xterm-256color "$BIN" tui --log-file "$WORK/$name.log" "$@")"
    UI_PIDS+=("$(tm display -p -t "$name" '#{pane_pid}')")
    wait_for "$name" '^queue pending' 30 || die "the UI '$name' did not draw its first frame"
}

stop_ui() {
    local pid
    pid="$(tm display -p -t "$1" '#{pane_pid}' 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
    tm kill-session -t "$1" 2>/dev/null || true
}

# shoot SESSION NAME: captures the screen with colours and renders screenshots/NAME.png.
shoot() {
    local size
    size="$(tm display -p -t "$1" '#{pane_width} #{pane_height}')"
    tm capture-pane -e -p -t "$1" >"$WORK/$2.ans"
    "$PY" "$ROOT/scripts/ansi_to_png.py" "$WORK/$2.ans" "$OUT/$2.png" --cols "${size% *}" --rows "${size#* }" \
        --font "$FONT" --bold-font "$FONT_BOLD"
    echo "screenshots: wrote $OUT/$2.png"
}

api() { curl -fsS --max-time 10 -H "Authorization: Bearer $TOKEN" "$@"; }

# ------------------------------------------------------------- live-demo ----
# The default command: embedded server and demo agent. Wait until a fair number of spans have completed, then
# select the first run's planning LLM call so the detail pane shows a span with its payload and result.
# Example prices for the demo's models (not real ones: none are built in), so the runs show their LLM cost.
cat >"$WORK/config.yml" <<'YAML'
prices:
  gpt-4o:
    input-per-million: 2.00
    output-per-million: 8.00
  claude-sonnet-4:
    input-per-million: 3.00
    output-per-million: 12.00
  llama-3.1-70b:
    input-per-million: 0.50
    output-per-million: 0.80
YAML
start_ui live --config "$WORK/config.yml"
wait_for live 'demo running' 20 || die "the demo agent is not running"
wait_number live '✓([0-9]+)' 15 30 || die "the demo completed fewer than 15 spans in 30 s"
keys live j j
wait_for live '│ llm:chat' 5 || echo "screenshots: note: the third row is not an llm:chat span" >&2
sleep 0.3  # let the selection's frame be drawn
shoot live live-demo
# The same run as a timeline (w): one bar per span along the run's time, token usage on the LLM calls.
keys live w
wait_for live 'Timeline of the selected run' 5 || die "the timeline did not open"
sleep 0.3
shoot live timeline
stop_ui live

# ------------------------------------------------------- a prefactor serve ----
"$BIN" serve --port 0 --in-memory --token "$TOKEN" --enable-fault-injection --log-level warning </dev/null >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
    API_URL="$(sed -n 's/^PREFACTOR_API_URL=//p' "$WORK/server.out" | head -n 1)"
    [[ -n "$API_URL" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
[[ -n "$API_URL" ]] || die "prefactor serve did not start: $(cat "$WORK/server.out" "$WORK/server.err")"

# ----------------------------------------------------- failed-llm-detail ----
# The demo fails about 7% of its LLM calls (rate_limit_exceeded). Errors only (e) plus the filter llm:chat leaves
# only failed llm:chat spans and their ancestors; G selects the newest one.
start_ui failed --api-url "$API_URL" --token "$TOKEN" --demo --demo-speed 3
keys failed e
keys failed /
keys failed -l 'llm:chat'
keys failed Enter
wait_for failed '^/llm:chat' 5 || die "the filter did not take"
wait_for failed '✗ llm:chat' 180 || die "no failed llm:chat span within 180 s"
keys failed G
wait_for failed '"error" : "rate_limit_exceeded"' 10 || die "the selected span is not a failed LLM call"
sleep 0.3
shoot failed failed-llm-detail
stop_ui failed

# --------------------------------------------------------- queue-backlog ----
# Every POST fails with 503 while the demo keeps working: operations retry with backoff and pile up behind them.
start_ui backlog --api-url "$API_URL" --token "$TOKEN" --demo
wait_number backlog 'delivered ([0-9]+)' 20 30 || die "fewer than 20 operations delivered in 30 s"
api -X POST -H 'Content-Type: application/json' "$API_URL/__prefactor/faults" \
    -d '{"method": "POST", "path": "/api/v1/*", "status": 503}' >/dev/null || die "could not inject the fault"
wait_for backlog '\[retrying\]' 20 || die "the header does not say retrying"
wait_number backlog 'retrying ([0-9]+) \(next' 2 20 || die "fewer than 2 operations retrying"
wait_number backlog 'queue pending ([0-9]+)' 10 30 || die "fewer than 10 operations pending"
keys backlog Tab Tab
wait_for backlog '^↑↓ select' 5 || die "the queue pane did not take the focus"
sleep 0.5
shoot backlog queue-backlog
api -X DELETE "$API_URL/__prefactor/faults" >/dev/null || die "could not remove the fault"
# The API is back: the queue must drain.
wait_for backlog '\[ok\]' 60 || die "the header did not go back to ok after the fault was removed"
wait_for backlog 'retrying 0 ' 60 || die "operations were still retrying 60 s after the fault was removed"
echo "screenshots: the queue recovered after the fault was removed"
stop_ui backlog

# ----------------------------------------------------------- watch-remote ----
# Another process (a headless demo agent) works against the same server; the UI, with no agent of its own, watches
# it: the runs are marked @agent, and the header says how fresh the view is.
"$BIN" demo --api-url "$API_URL" --token "$TOKEN" --speed 2 </dev/null >"$WORK/demo.out" 2>&1 &
UI_PIDS+=("$!")
start_ui watch --api-url "$API_URL" --token "$TOKEN" --watch
wait_for watch '@' 30 || die "no run of the other process appeared"
wait_number watch '✓([0-9]+)' 10 60 || die "fewer than 10 completed spans watched in 60 s"
wait_for watch 'watch [0-9]+s ago' 10 || die "the header does not show the freshness of the view"
keys watch j
sleep 0.5
shoot watch watch-remote
stop_ui watch

echo "screenshots: done ($OUT)"
