#!/usr/bin/env bash
# A busy worker that is stopped (SIGSTOP) is found out by its silence, with no `timeout`
# set: its request gets an error, the requests behind it are served by a new worker,
# and a shutdown is not held up. A handler that is merely slow keeps beating and takes
# its time. The drain has a deadline (with.timeout_drain): at it, the requests still in
# flight are answered with an error, the workers are killed, the host exits 0.
. "$(dirname "$0")/lib.sh"

# worker_of N: the pid of the flow's worker of executor N (0-based), by its spec file.
worker_of() {
    local pid
    for pid in $(pgrep -P "$FLOW_PID"); do
        case "$(ps -o args= -p "$pid")" in *"/exec-$1-0.spec") echo "$pid"; return ;; esac
    done
}

cat >"$T/slow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: slow, uses: Sleep}
  - {name: tag, uses: Echo}
YML
start_flow "$T/slow.yml"
# A handler slower than the heartbeat silence limit (6 s) is not taken for dead.
out=$(echo '{"text":"slow"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --parameters '{"sleep_ms": 8000}' \
    --timeout 30000)
check "a slow handler (8 s), no timeout: it takes its time and succeeds" \
      "$(jq -r .status.code <<<"$out"):$(jq -c .docs[0].tags.seen_by <<<"$out")" 'SUCCESS:["tag"]'
check "a slow handler: its worker was not replaced" "$(grep -c 'stopped answering' "$T/run.log" || true)" "0"

worker=$(worker_of 0)
"$FLOWHOST" post /x --to "$ADDR" -q --parameters '{"sleep_ms": 60000}' --timeout 40000 \
    >"$T/a.out" 2>/dev/null &
a_pid=$!
sleep 0.5
kill -STOP "$worker"
echo '{"text":"behind"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 40000 >"$T/b.out" 2>/dev/null &
b_pid=$!
rc=0
wait "$a_pid" || rc=$?
check "a stopped busy worker: its request is answered with an error" "$rc:$(jq -r .status.code "$T/a.out")" "1:ERROR"
check "a stopped busy worker: the error says what happened" "$(jq -r .status.description "$T/a.out")" \
      "executor 'slow' stopped answering heartbeats"
rc=0
wait "$b_pid" || rc=$?
check "a stopped busy worker: the request behind it is served by a new worker" \
      "$rc:$(jq -c .docs[0].tags.seen_by "$T/b.out")" '0:["tag"]'
for _ in $(seq 1 100); do kill -0 "$worker" 2>/dev/null || break; sleep 0.05; done
check "a stopped busy worker: it is killed" "$(kill -0 "$worker" 2>/dev/null && echo alive || echo gone)" "gone"

# Stopped in the middle of a request, then SIGTERM: the drain ends (the default drain
# deadline is 20 s; the silence is found out sooner).
"$FLOWHOST" post /x --to "$ADDR" -q --parameters '{"sleep_ms": 60000}' --timeout 40000 \
    >"$T/c.out" 2>/dev/null &
c_pid=$!
sleep 0.5
kill -STOP "$(worker_of 0)"
kill -TERM "$FLOW_PID"
rc=0
timeout 40 tail --pid="$FLOW_PID" -f /dev/null || rc=$?
check "SIGTERM with a stopped busy worker: the flow stops" "$rc" "0"
rc=0
wait "$FLOW_PID" || rc=$?
FLOW_PID=""
check "SIGTERM with a stopped busy worker: exit status 0" "$rc" "0"
rc=0
wait "$c_pid" || rc=$?
check "SIGTERM with a stopped busy worker: its request answered with an error" \
      "$rc:$(jq -r .status.code "$T/c.out")" "1:ERROR"

# The drain deadline: a handler that would run 60 s, and a request waiting behind it.
cat >"$T/drain.yml" <<YML
jtype: Flow
version: '1'
with:
  timeout_drain: 1000
executors:
  - {name: slow, uses: Sleep}
  - {name: tag, uses: Echo}
YML
start_flow "$T/drain.yml"
workers=$(pgrep -P "$FLOW_PID" | tr '\n' ' ')
printf '{"text":"1"}\n{"text":"2"}\n' >"$T/two.ndjson"
"$FLOWHOST" post /x "$T/two.ndjson" --to "$ADDR" --request-size 1 --prefetch 2 -q \
    --parameters '{"sleep_ms": 60000}' --timeout 40000 >"$T/d.out" 2>/dev/null &
d_pid=$!
sleep 0.5
kill -TERM "$FLOW_PID"
rc=0
timeout 15 tail --pid="$FLOW_PID" -f /dev/null || rc=$?
check "drain deadline: the flow stops well before the handler would end (60 s)" "$rc" "0"
rc=0
wait "$FLOW_PID" || rc=$?
FLOW_PID=""
check "drain deadline: exit status 0" "$rc" "0"
rc=0
wait "$d_pid" || rc=$?
check "drain deadline: both requests answered" "$rc:$(wc -l <"$T/d.out" | tr -d ' ')" "1:2"
check "drain deadline: each with the deadline's error" "$(jq -r .status.description "$T/d.out" | sort -u)" \
      "the flow is shutting down: request not finished within timeout_drain (1000 ms)"
check_contains "drain deadline: the log says so" "$(cat "$T/run.log")" \
      "request not finished within timeout_drain (1000 ms): answering 2 requests with an error"
alive=""
for pid in $workers; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
check "drain deadline: no worker left" "$alive" ""
check "no sanitizer report" "$(grep -c -E 'Sanitizer|runtime error:' "$T/run.log" || true)" "0"
done_checks
