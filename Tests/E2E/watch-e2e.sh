#!/usr/bin/env bash
# End-to-end test of the terminal UI's watch mode against an agent in another process that uses the official Python
# SDK (prefactor-core 0.5.3, Tests/Interop/slow_agent.py).
#
# Usage: Tests/E2E/watch-e2e.sh PATH_TO_prefactor [PYTHON]
#
#   PYTHON  an interpreter with prefactor-core installed; default <repo>/.venv-interop/bin/python, created on first
#           use (Tests/Interop/sdk-python.sh).
#
# Starts `prefactor serve --host 127.0.0.1 --port 0 --in-memory --token watch-e2e`, creates the agent
# `watch-e2e-agent` (POST /api/v1/agent) and starts slow_agent.py under it: one run whose nested spans
# (watch:agent > watch:llm > watch:tool, watch:retrieval) each last seconds, round after round, until the SDK reports
# the run terminated. Cases (each runs only if the previous ones passed):
#   a  the agent prints its instance id; the server lists the instance, with an active span
#   b  `prefactor tui --render --watch --after 1 --width 140 --height 40` shows the run (`@watch-e2e-agent`, the id
#      in the detail pane) and its spans, nested, with the right status glyphs (● active, ✓ complete tool, ✗ failed
#      retrieval); the header's span counts lie between the server's (GET /api/v1/agent_spans) just before and just
#      after the render. Rendered again until this holds (20 s).
#   c  `prefactor tui --watch` in a 140x40 tmux session: `/` + the instance id + Enter selects the run, `T` asks
#      "Terminate instance ID on the server? (y/n)", `y`: the UI shows it ■ terminated and
#      GET /api/v1/agent_instance/{id} says `terminated`, with a reason
#   d  the agent learns of it through the SDK (the control block of a span finish response, or its 30 s poll),
#      prints `TERMINATED reason=<the server's reason> via=...`, cancels its open spans and exits 0; the UI's span
#      counts then equal the server's (no span active, the cancelled ones ⊘)
# Prints one line per case and `watch-e2e: N passed, M failed`; on a failure, what was expected and what was seen:
# the screen or the rendered frame, the agent's output. Needs tmux, curl and python3. Stops only what it started:
# its processes by PID, and its own tmux server (private socket).
set -euo pipefail

E2E_NAME="watch-e2e"
E2E_USAGE="[PYTHON]"
TOKEN="watch-e2e"
E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=Tests/E2E/lib.sh
source "$E2E_DIR/lib.sh"
# shellcheck source=Tests/Interop/sdk-python.sh
source "$E2E_DIR/../Interop/sdk-python.sh"

[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 PATH_TO_prefactor [PYTHON]" >&2; exit 2; }
e2e_args "$1"
e2e_need tmux curl python3
sdk_python "$E2E_NAME" "${2:-}"
e2e_setup
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
STOP_AFTER_FAILURE=yes

AGENT_NAME="watch-e2e-agent"
AGENT_ID=""     # the agent on the server
AGENT_PID=""    # slow_agent.py
INSTANCE=""     # the run it registered
REASON=""       # the termination reason on the server
UI="watch-$$"   # the tmux session of the UI

# Checks one rendered frame against the server's spans before and after it; prints what does not match.
cat >"$WORK/check_frame.py" <<'PY'
import collections, re, sys

frame_path, before_path, after_path, instance, agent_name, agent_id = sys.argv[1:]
lines = open(frame_path, encoding="utf-8").read().split("\n")
problems = []
GLYPHS = {"●": "active", "✓": "complete", "✗": "failed", "⊘": "cancelled", "○": "pending", "◌": "prepared", "■": "terminated"}

def server_counts(path):
    """Spans by status, by (schema name, status) and by schema name, and the total."""
    counts = collections.Counter()
    for line in open(path, encoding="utf-8"):
        if line.strip():
            name, status = line.rstrip("\n").split("\t")
            counts[status] += 1
            counts[(name, status)] += 1
            counts[name] += 1
            counts["total"] += 1
    return counts

before, after = server_counts(before_path), server_counts(after_path)
header = lines[0] if lines else ""
if "[ok]" not in header:
    problems.append(f"the header does not show the API as [ok]: {header.strip()!r}")
if "1 run ●1" not in header:
    problems.append(f"the header does not count 1 run, active ('1 run ●1'): {header.strip()!r}")
match = re.search(r"(\d+) spans?((?: [●✓✗⊘○◌■]\d+)*)", header)
if not match:
    problems.append(f"no span counts in the header: {header.strip()!r}")
else:
    shown = collections.Counter(total=int(match.group(1)))
    for glyph, count in re.findall(r"([●✓✗⊘○◌■])(\d+)", match.group(2)):
        shown[GLYPHS[glyph]] = int(count)
    for key in ("total", "complete", "failed"):
        if not before[key] <= shown[key] <= after[key]:
            problems.append(
                f"the header counts {shown[key]} {key} spans; the server had {before[key]} just before the render "
                f"and {after[key]} just after")
    if shown["active"] < 1:
        problems.append(f"the header counts no active span: {header.strip()!r}")

tree = [line.split("│", 1)[0] for line in lines[1:]]
detail = [line.split("│", 1)[1].strip() if "│" in line else "" for line in lines[1:]]

runs = [m for m in (re.match(r"^[▾▸] (\S) run (\S+) @(.+?)(?:\s{2,}|$)", row) for row in tree) if m]
if len(runs) != 1:
    problems.append(f"expected one run row '▾ ● run {instance[:6]}…{instance[-6:]} @{agent_name}', saw {len(runs)}")
else:
    glyph, shown_id, shown_agent = runs[0].groups()
    head, _, tail = shown_id.partition("…")
    if glyph != "●":
        problems.append(f"the run row's glyph is {glyph}, expected ● (active)")
    if not (instance.startswith(head) and instance.endswith(tail) and len(head) + len(tail) >= 8):
        problems.append(f"the run row shows the id {shown_id!r}, which is not {instance}")
    if shown_agent.strip() != agent_name:
        problems.append(f"the run row shows the agent '@{shown_agent.strip()}', expected '@{agent_name}'")
for text in (f"Run {instance}", "status   ● active", f"agent    {agent_name} ({agent_id})", "source   another process"):
    if not any(line.startswith(text) for line in detail):
        problems.append(f"the detail pane does not show '{text}'")

# Span rows: two columns of indent per level below the run, then the fold mark (or a space), then the glyph.
depths = {"watch:agent": 1, "watch:llm": 2, "watch:tool": 3, "watch:retrieval": 3}
seen = collections.Counter()
for row in tree:
    m = re.match(r"^( *)[▾▸ ] (\S) (watch:\w+)", row)
    if not m:
        continue
    indent, glyph, name = m.groups()
    seen[(name, glyph)] += 1
    if name not in depths:
        problems.append(f"unexpected span {name!r} in the row {row.rstrip()!r}")
    elif len(indent) != 2 * depths[name]:
        problems.append(f"{name} at depth {len(indent) // 2}, expected {depths[name]}: {row.rstrip()!r}")
    if glyph not in "●✓✗":
        problems.append(f"a span shown {glyph} ({GLYPHS.get(glyph, '?')}) while the agent runs: {row.rstrip()!r}")
for name, glyph in (("watch:agent", None), ("watch:llm", None), ("watch:tool", "✓"), ("watch:retrieval", "✗")):
    count = sum(n for (s, g), n in seen.items() if s == name and (glyph is None or g == glyph))
    if count == 0:
        problems.append(f"no row '{glyph or '●/✓'} {name}' in the tree")
if not any(g == "●" for (_, g) in seen):
    problems.append("no active span row ('● watch:...') in the tree")
# Every row is a span the server has: no more rows of a type, or of a finished type and status, than it lists.
for name in depths:
    rows = sum(n for (s, _), n in seen.items() if s == name)
    if rows > after[name]:
        problems.append(f"{rows} rows of {name}, the server lists {after[name]}")
for (name, glyph), rows in sorted(seen.items()):
    status = GLYPHS.get(glyph)
    if status in ("complete", "failed") and rows > after[(name, status)]:
        problems.append(f"{rows} rows '{glyph} {name}', the server lists {after[(name, status)]} {name} {status}")

for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
PY

# ------------------------------------------------------------------ helpers ----

# show_agent: the agent's stdout and stderr are printed if the current case fails.
show_agent() { SHOW_FILES+=("$WORK/agent.out" "$WORK/agent.err"); }

# span_counts_line SPANS_FILE: "N spans" and the counts by status, as the header shows them (● ○ ✓ ✗ ⊘, in that
# order, zeros left out).
span_counts_line() {
    awk -F '\t' '
        { total++; n[$2]++ }
        END {
            line = total " span" (total == 1 ? "" : "s")
            split("active pending complete failed cancelled", order, " ")
            split("● ○ ✓ ✗ ⊘", glyph, " ")
            for (i = 1; i <= 5; i++) if (n[order[i]] > 0) line = line " " glyph[i] n[order[i]]
            print line
        }' "$1"
}

# ------------------------------------------------------------------- cases ----

case_a() {
    show_agent
    SHOW_FILES+=("$WORK/server.err")
    local deadline=$((SECONDS + 30)) listed="" active=""
    while [[ -z "$INSTANCE" ]] && ((SECONDS < deadline)); do
        INSTANCE="$(sed -n 's/^INSTANCE id=\(ai_[0-9A-Za-z]*\)$/\1/p' "$WORK/agent.out" | head -n 1)"
        [[ -z "$INSTANCE" ]] || break
        kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent exited before printing 'INSTANCE id=ai_...'" || return 1
        sleep 0.1
    done
    [[ -n "$INSTANCE" ]] || fail "the agent printed no 'INSTANCE id=ai_...' line within 30 s" || return 1
    deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
        [[ -n "$listed" ]] || { server_instances 2>/dev/null | grep -qxF "$INSTANCE" && listed=yes; } || true
        server_spans "$INSTANCE" >"$WORK/spans.txt" 2>/dev/null || true
        grep -q $'\tactive$' "$WORK/spans.txt" && active=yes
        [[ -n "$listed" && -n "$active" ]] && return 0
        sleep 0.2
    done
    SHOW_FILES+=("$WORK/spans.txt")
    [[ -n "$listed" ]] || fail "GET /api/v1/agent_instance does not list $INSTANCE" || return 1
    fail "GET /api/v1/agent_spans?agent_instance_id=$INSTANCE lists no active span (spans.txt: what it lists)"
}

case_b() {
    show_agent
    SHOW_FILES=("$WORK/frame.txt" "$WORK/frame.problems" "${SHOW_FILES[@]}")
    local deadline=$((SECONDS + 20)) rc attempts=0
    while ((SECONDS < deadline)); do
        attempts=$((attempts + 1))
        server_spans "$INSTANCE" >"$WORK/before.txt" || fail "could not list the spans on the server" || return 1
        rc=0
        SWIFT_BACKTRACE=interactive=no timeout 30 "$BIN" tui --render --watch --api-url "$API_URL" --token "$TOKEN" \
            --after 1 --width 140 --height 40 --log-file "$WORK/render.log" \
            </dev/null >"$WORK/frame.txt" 2>"$WORK/frame.err" || rc=$?
        ((rc == 0)) || { SHOW_FILES+=("$WORK/frame.err"); fail "prefactor tui --render --watch exited with status $rc"; return 1; }
        server_spans "$INSTANCE" >"$WORK/after.txt" || fail "could not list the spans on the server" || return 1
        if python3 "$WORK/check_frame.py" "$WORK/frame.txt" "$WORK/before.txt" "$WORK/after.txt" \
            "$INSTANCE" "$AGENT_NAME" "$AGENT_ID" >"$WORK/frame.problems"; then
            echo "     frame $attempts: $(head -n 1 "$WORK/frame.txt" | sed 's/  */ /g')"
            return 0
        fi
        sleep 0.5
    done
    fail "after $attempts frames in 20 s the rendered frame still does not match (last frame and its problems below;" \
         "server before: $(span_counts_line "$WORK/before.txt"), after: $(span_counts_line "$WORK/after.txt"))"
}

case_c() {
    local t="$UI" details status reason
    show_agent
    launch_ui "$t" 140 40 tui --watch --api-url "$API_URL" --token "$TOKEN" || return 1
    wait_for "$t" "@$AGENT_NAME" 20 || return 1
    keys "$t" /
    wait_for "$t" "▏  Enter keeps, Esc clears" || return 1
    keys "$t" -l "$INSTANCE"
    wait_for "$t" "/$INSTANCE▏" || return 1
    keys "$t" Enter
    wait_for "$t" "/$INSTANCE  (Esc clears)" || return 1
    wait_for "$t" "│ Run $INSTANCE" || return 1
    wait_for "$t" "│ status   ● active" || return 1
    keys "$t" T
    wait_for "$t" "Terminate instance $INSTANCE on the server? (y/n)" || return 1
    keys "$t" y
    wait_for "$t" "│ status   ■ terminated" || return 1
    wait_for "$t" "■ run " || return 1
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        details="$(api "$API_URL/api/v1/agent_instance/$INSTANCE")" || fail "GET /api/v1/agent_instance/$INSTANCE failed" || return 1
        status="$(json 'data["details"]["status"]' <<<"$details")"
        reason="$(json 'data["details"].get("termination_reason") or ""' <<<"$details")"
        [[ "$status" == terminated ]] && break
        sleep 0.2
    done
    [[ "$status" == terminated ]] \
        || fail "GET /api/v1/agent_instance/$INSTANCE says status '$status', expected 'terminated'" || return 1
    [[ -n "$reason" ]] || fail "the terminated instance has no termination_reason" || return 1
    REASON="$reason"
    wait_for "$t" "│ reason   $REASON"
}

case_d() {
    local t="$UI" rc=0 line deadline=$((SECONDS + 30)) expected shown
    show_agent
    while kill -0 "$AGENT_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -0 "$AGENT_PID" 2>/dev/null && { fail "the agent is still running 30 s after the termination"; return 1; }
    wait "$AGENT_PID" || rc=$?
    EXTRA_PIDS=()
    AGENT_PID=""
    line="$(grep -m1 '^TERMINATED ' "$WORK/agent.out" || true)"
    [[ -n "$line" ]] || fail "the agent (exit status $rc) printed no 'TERMINATED reason=$REASON ...' line" || return 1
    [[ "$line" == "TERMINATED reason=$REASON via="* ]] \
        || fail "the agent printed '$line', expected 'TERMINATED reason=$REASON via=...'" || return 1
    ((rc == 0)) || fail "the agent printed '$line' but exited with status $rc" || return 1
    echo "     agent: $line"

    # The UI follows what happened after the termination: the spans the agent cancelled.
    SHOW_PANE="$t"
    server_spans "$INSTANCE" >"$WORK/final.txt" || fail "could not list the spans on the server" || return 1
    SHOW_FILES+=("$WORK/final.txt")
    grep -q $'\tactive$' "$WORK/final.txt" && { fail "the server still lists active spans after the agent exited"; return 1; }
    grep -q $'\tcancelled$' "$WORK/final.txt" || fail "the server lists no cancelled span; the agent cancels its open ones" || return 1
    expected="$(span_counts_line "$WORK/final.txt")"
    keys "$t" Escape
    wait_gone "$t" "(Esc clears)" || return 1
    deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        shown="$(screen "$t" | head -n 1 | grep -oE '[0-9]+ spans?( [●✓✗⊘○◌■][0-9]+)*' || true)"
        [[ "$shown" == "$expected" ]] && return 0
        sleep 0.2
    done
    fail "the header shows '$shown', expected the server's '$expected'"
}

# -------------------------------------------------------------------- main ----

e2e_start_server
echo "$E2E_NAME: server at $API_URL (pid $SERVER_PID), tmux socket $SOCKET, python $PY"

AGENT_ID="$(api -X POST -H 'Content-Type: application/json' "$API_URL/api/v1/agent" \
    -d "{\"details\": {\"name\": \"$AGENT_NAME\", \"description\": \"watch-mode end-to-end test\"}}" \
    | json 'data["details"]["id"]')" || { echo "$E2E_NAME: could not create the agent $AGENT_NAME" >&2; exit 1; }

"$PY" "$E2E_DIR/../Interop/slow_agent.py" --api-url "$API_URL" --token "$TOKEN" --agent-id "$AGENT_ID" --deadline 60 \
    </dev/null >"$WORK/agent.out" 2>"$WORK/agent.err" &
AGENT_PID=$!
EXTRA_PIDS+=("$AGENT_PID")
echo "$E2E_NAME: agent $AGENT_ID, slow_agent.py pid $AGENT_PID"

run_case a "the agent prints its instance id; the server lists the instance with an active span"
run_case b "render --watch shows the run @$AGENT_NAME and its nested spans (● ✓ ✗) as the server lists them"
run_case c "tui --watch: / + the id, T, y -> the run is terminated on the server"
run_case d "the agent learns of it through the SDK and exits 0; the UI's span counts equal the server's"

echo "$E2E_NAME: $PASSED passed, $FAILED failed"
((FAILED == 0))
