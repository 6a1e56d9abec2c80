#!/usr/bin/env bash
# SIGTERM drains: requests already accepted are answered, then the flow exits 0 and
# leaves no worker process and no runtime directory behind.
. "$(dirname "$0")/lib.sh"

cat >"$T/slow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: slow, uses: Sleep}
  - {name: tag, uses: Echo}
YML
start_flow "$T/slow.yml"
workers=$(pgrep -P "$FLOW_PID" | tr '\n' ' ')
check "the flow runs one worker per executor" "$(wc -w <<<"$workers" | tr -d ' ')" "2"
# The workers' command lines name their spec files, in the flow's runtime directory.
spec=$(ps -o args= -p "${workers%% *}" | awk '{print $NF}')
rundir=$(dirname "$spec")
check "the runtime directory is private" "$(stat -c %a "$rundir")" "700"
for i in 1 2 3 4; do echo "{\"text\":\"$i\"}"; done >"$T/in.ndjson"
"$FLOWHOST" post /x "$T/in.ndjson" --to "$ADDR" --request-size 1 --prefetch 4 -q \
    --parameters '{"sleep_ms": 300}' --timeout 20000 >"$T/out" 2>"$T/post.err" &
post_pid=$!
sleep 0.4   # the first request is being handled, the others wait in the flow
kill -TERM "$FLOW_PID"
sleep 0.1
rc=0
out=$(echo '{"text":"late"}' | "$FLOWHOST" post /x - --to "$ADDR" -q 2>/dev/null) || rc=$?
check "drain: a new request is refused" "$rc:$(jq -r .status.description <<<"$out")" \
      "1:the flow is shutting down: request refused"
rc=0
wait "$post_pid" || rc=$?
check "drain: the post completes successfully" "$rc" "0"
check "drain: all four requests answered" "$(jq -r '.docs[0].text' "$T/out" | sort | tr '\n' ' ')" "1 2 3 4 "
check "drain: answered through every executor" "$(jq -c '.docs[0].tags.seen_by' "$T/out" | sort -u)" '["tag"]'
rc=0
wait "$FLOW_PID" || rc=$?
FLOW_PID=""
check "drain: the flow exits 0" "$rc" "0"
alive=""
for pid in $workers; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
check "no worker process left" "$alive" ""
check "no runtime directory left" "$([ -e "$rundir" ] && echo "$rundir" || true)" ""

# A worker that dies while the flow drains (here: killed for its timeout) is replaced,
# and the requests waiting for it are answered: the drain ends.
cat >"$T/timeout.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: slow, uses: Sleep, timeout: 500}
  - {name: tag, uses: Echo}
YML
start_flow "$T/timeout.yml"
printf '{"text":"1"}\n{"text":"2"}\n{"text":"3"}\n' >"$T/three.ndjson"
"$FLOWHOST" post /x "$T/three.ndjson" --to "$ADDR" --request-size 1 --prefetch 3 -q \
    --parameters '{"sleep_ms": 800}' --timeout 20000 >"$T/out3" 2>/dev/null &
post_pid=$!
sleep 0.3
kill -TERM "$FLOW_PID"
wait "$post_pid" || true
check "drain with a timeout: every request answered" "$(wc -l <"$T/out3" | tr -d ' ')" "3"
check "drain with a timeout: each with the timeout error" \
      "$(jq -r .status.description "$T/out3" | sort -u)" "executor 'slow' timed out after 500 ms"
rc=0
wait "$FLOW_PID" || rc=$?
FLOW_PID=""
check "drain with a timeout: the flow exits 0" "$rc" "0"

# Ctrl-C at a terminal signals the whole foreground process group: the workers, in
# groups of their own, are not hit in the middle of a request; the host drains.
setsid "$FLOWHOST" run --address-file "$T/addr2" "$T/slow.yml" 2>"$T/run2.log" &
for _ in $(seq 1 300); do [ -s "$T/addr2" ] && break; sleep 0.05; done
group=$(pgrep -f "run --address-file $T/addr2")
"$FLOWHOST" post /x --to "$(cat "$T/addr2")" -q --parameters '{"sleep_ms": 500}' >"$T/out4" 2>/dev/null &
post_pid=$!
sleep 0.2
kill -INT -- "-$group"
rc=0
wait "$post_pid" || rc=$?
check "Ctrl-C: the request in flight is answered" "$rc:$(jq -r .status.code "$T/out4")" "0:SUCCESS"
for _ in $(seq 1 100); do kill -0 "$group" 2>/dev/null || break; sleep 0.05; done
check "Ctrl-C: the flow stopped" "$(kill -0 "$group" 2>/dev/null && echo running || echo stopped)" "stopped"

# A second signal stops at once, without waiting for the request in flight.
start_flow "$T/slow.yml"
"$FLOWHOST" post /x --to "$ADDR" -q --parameters '{"sleep_ms": 20000}' >/dev/null 2>"$T/err5" &
post_pid=$!
sleep 0.5
kill -TERM "$FLOW_PID"
sleep 0.2
kill -TERM "$FLOW_PID"
rc=0
wait "$FLOW_PID" || rc=$?
check "second signal: the flow exits 0 at once" "$rc" "0"
check_contains "second signal: says it stops now" "$(cat "$T/run.log")" "second signal: stopping now, 1 request unanswered"
FLOW_PID=""
rc=0
wait "$post_pid" || rc=$?
check "second signal: the client gets an error" "$rc" "2"

# A client whose flow dies under it gets an error, not a hang.
start_flow "$T/slow.yml"
"$FLOWHOST" post /x --to "$ADDR" -q --parameters '{"sleep_ms": 5000}' >/dev/null 2>"$T/err" &
post_pid=$!
sleep 0.5
kill -KILL "$FLOW_PID"
wait "$FLOW_PID" 2>/dev/null || true
FLOW_PID=""
rc=0
wait "$post_pid" || rc=$?
check "flow killed under a post: exit 2" "$rc" "2"
check_contains "flow killed under a post: says so" "$(cat "$T/err")" "closed the connection (1 request unanswered)"

# The same for a program whose waits are interrupted by a signal every 20 ms (no
# SA_RESTART) and that set no response timeout (tests/e2e/tools/fh_signals.c).
start_flow "$T/slow.yml"
timeout 30 "$TOOLS/fh_signals" "$ADDR" /x 5000 >"$T/signals.out" 2>&1 &
post_pid=$!
sleep 0.8
kill -KILL "$FLOW_PID"
wait "$FLOW_PID" 2>/dev/null || true
FLOW_PID=""
rc=0
wait "$post_pid" || rc=$?
check "flow killed under a post interrupted by signals: exit 1, not a hang (124)" "$rc" "1"
check_contains "flow killed under a post interrupted by signals: says so" "$(cat "$T/signals.out")" \
    "closed the connection (1 request unanswered)"

# A client whose flow is gone gets an error, not a hang.
rc=0
timeout 20 "$FLOWHOST" post /x --to "$ADDR" --connect-timeout 1000 -q 2>"$T/err" || rc=$?
check "post to a stopped flow: exit 2 after the connect timeout" "$rc" "2"
check_contains "post to a stopped flow: says so" "$(cat "$T/err")" "cannot reach a flow at $ADDR (no connection after 1000 ms)"

done_checks
