#!/usr/bin/env bash
# Every start of a worker has a deadline (with.timeout_ready), restarts too: a new
# worker whose init hangs is killed at the deadline, the requests waiting for it get an
# error, and a later start that works serves the next requests.
. "$(dirname "$0")/lib.sh"
# Under AddressSanitizer a SIGSEGV would be turned into an abort: let it be a SIGSEGV.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"

cat >"$T/stall.yml" <<YML
jtype: Flow
version: '1'
with:
  timeout_ready: 2000
  workspace: $T/ws
executors:
  - {name: stall, uses: Stall}
  - {name: tag, uses: Echo}
YML
start_flow "$T/stall.yml"
rc=0
out=$(echo '{"text":"s","tags":{"stall":true}}' | "$FLOWHOST" post /x - --to "$ADDR" -q \
    --timeout 20000 2>/dev/null) || rc=$?
check "the request that breaks init: the crash is its error" "$rc:$(jq -r .status.description <<<"$out")" \
      "1:executor 'stall' crashed: signal 11 (SIGSEGV)"
# The new worker now waits in init for as long as the marker is there.
rc=0
out=$(echo '{"text":"w"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 20000 2>/dev/null) || rc=$?
check "a request for a worker stuck in init: answered with an error" "$rc:$(jq -r .status.code <<<"$out")" "1:ERROR"
check "a request for a worker stuck in init: the error names the deadline" \
      "$(jq -r .status.description <<<"$out")" "executor 'stall' was not ready within 2000 ms (timeout_ready)"
check_contains "the stuck worker is replaced" "$(cat "$T/run.log")" \
      "executor 'stall' was not ready within 2000 ms (timeout_ready): restarting it"
rm -f "$T/ws/stall/0/stall"
out=$(echo '{"text":"v"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 20000)
check "once init works again, a restarted worker serves the next request" \
      "$(jq -r .status.code <<<"$out"):$(jq -c .docs[0].tags.seen_by <<<"$out")" 'SUCCESS:["tag"]'
check "one worker per executor runs, no stuck one left" "$(pgrep -P "$FLOW_PID" | wc -l | tr -d ' ')" "2"

# A worker stopped (SIGSTOP) while it starts is the same case: killed at the deadline.
before=" $(pgrep -P "$FLOW_PID" | tr '\n' ' ')"
echo '{"text":"s","tags":{"stall":true}}' | "$FLOWHOST" post /x - --to "$ADDR" -q \
    --timeout 20000 >/dev/null 2>&1 || true
starting=""
for _ in $(seq 1 100); do
    for pid in $(pgrep -P "$FLOW_PID"); do
        case "$before" in *" $pid "*) ;; *) starting=$pid ;; esac
    done
    [ -n "$starting" ] && break
    sleep 0.05
done
check "a new worker is starting" "$([ -n "$starting" ] && echo yes || echo no)" "yes"
kill -STOP "$starting"
rm -f "$T/ws/stall/0/stall"   # init could go on now, but its process is stopped
rc=0
out=$(echo '{"text":"x"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 20000 2>/dev/null) || rc=$?
check "a worker stopped while it starts: its request gets the deadline's error" \
      "$rc:$(jq -r .status.description <<<"$out")" \
      "1:executor 'stall' was not ready within 2000 ms (timeout_ready)"
out=$(echo '{"text":"y"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 20000)
check "a worker stopped while it starts: then a new one serves" "$(jq -r .status.code <<<"$out")" "SUCCESS"
check "a worker stopped while it starts: killed" "$(kill -0 "$starting" 2>/dev/null && echo alive || echo gone)" "gone"
stop_flow
done_checks
