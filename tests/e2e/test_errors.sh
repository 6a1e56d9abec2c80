#!/usr/bin/env bash
# A failing handler, on_error skip and ignore, callbacks, and a crashing plugin: the
# request gets an error, the flow keeps serving.
. "$(dirname "$0")/lib.sh"

# --- skip (the default): the executors after the failing one are skipped ---------------
start_flow "$FLOWS/errors.yml"
rc=0
out=$(echo '{"text":"x","tags":{"fail":true}}' | "$FLOWHOST" post /index - --to "$ADDR" -q 2>"$T/err") || rc=$?
check "failing handler: exit status 1" "$rc" "1"
check "failing handler: status ERROR" "$(jq -r .status.code <<<"$out")" "ERROR"
check "failing handler: names the executor" "$(jq -r .status.executor <<<"$out")" "failer"
check "failing handler: the handler's message and endpoint" "$(jq -r .status.description <<<"$out")" "asked to fail on /index"
check "skip: 'after' did not see the request" "$(jq -c '[.routes[].executor]' <<<"$out")" '["gateway","before","failer"]'
check "skip: documents as the failing executor got them" "$(jq -c '.docs[0].tags.seen_by' <<<"$out")" '["before"]'
check_contains "failing handler: one-line error on stderr" "$(cat "$T/err")" "failed in executor 'failer': asked to fail on /index"
out=$(echo '{"text":"y"}' | "$FLOWHOST" post /index - --to "$ADDR" -q)
check "the next post succeeds" "$(jq -r .status.code <<<"$out")" "SUCCESS"
check "the next post goes through all" "$(jq -c '.docs[0].tags.seen_by' <<<"$out")" '["before","after"]'

# Callbacks from the C API: on_error then on_always for the failure, on_done then
# on_always for the others, once each, in order.
"$TOOLS/fh_callbacks" "$ADDR" /index one fail-two three >"$T/cb"
check "callbacks fire in order, once per response" "$(tr '\n' '|' <"$T/cb")" \
      "done one|always one|error fail-two failer: asked to fail on /index|always fail-two|done three|always three|"
stop_flow

# --- ignore: the request goes on through the rest, its status stays ERROR --------------
cat >"$T/ignore.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: before, uses: Echo}
  - {name: failer, uses: Fail, on_error: ignore}
  - {name: after, uses: Echo}
YML
rc=0
out=$(echo '{"text":"x","tags":{"fail":true}}' | "$FLOWHOST" post /index - --flow "$T/ignore.yml" -q 2>/dev/null) || rc=$?
check "ignore: still an error" "$(jq -r .status.executor <<<"$out"):$rc" "failer:1"
check "ignore: 'after' saw the request" "$(jq -c '[.routes[].executor]' <<<"$out")" '["gateway","before","failer","after"]'

# --- a crashing plugin costs one request an error, never the flow ----------------------
cat >"$T/crash.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: first, uses: Echo}
  - {name: crasher, uses: Crash}
  - {name: last, uses: Echo}
YML
# Under AddressSanitizer a SIGSEGV would be turned into an abort: let it be a SIGSEGV.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"
start_flow "$T/crash.yml"
for i in $(seq 1 20); do
    if [ "$i" = 7 ] || [ "$i" = 15 ]; then
        echo "{\"text\":\"$i\",\"tags\":{\"crash\":true}}"
    else
        echo "{\"text\":\"$i\"}"
    fi
done >"$T/crash.ndjson"
rc=0
"$FLOWHOST" post /index "$T/crash.ndjson" --to "$ADDR" --request-size 1 --prefetch 4 -q \
    --timeout 30000 >"$T/crash.out" 2>/dev/null || rc=$?
check "crash: exit status 1 (some responses are errors)" "$rc" "1"
check "crash: every request answered exactly once" \
      "$(jq -r '.docs[0].text' "$T/crash.out" | sort -n | tr '\n' ' ')" "$(seq 1 20 | tr '\n' ' ')"
check "crash: exactly the two marked requests failed" \
      "$(jq -r 'select(.status.code == "ERROR") | .docs[0].text' "$T/crash.out" | sort -n | tr '\n' ' ')" "7 15 "
check "crash: the error names the executor and the signal" \
      "$(jq -r 'select(.status.code == "ERROR") | .status.description' "$T/crash.out" | sort -u)" \
      "executor 'crasher' crashed: signal 11 (SIGSEGV)"
out=$(echo '{"text":"after"}' | "$FLOWHOST" post /index - --to "$ADDR" -q)
check "crash: the flow serves on with a new worker" "$(jq -c '.docs[0].tags.seen_by' <<<"$out")" '["first","last"]'
# Crashes in a row: the first restart is at once, then 100 ms, 200 ms... (backoff).
for i in 1 2 3; do
    echo '{"text":"boom","tags":{"crash":true}}' | "$FLOWHOST" post /index - --to "$ADDR" -q \
        --timeout 20000 >/dev/null 2>&1 || true
done
check_contains "crash: restarts back off" "$(cat "$T/run.log")" "executor 'crasher' restarts in 100 ms (it died 2 times in a row)"
check_contains "crash: and back off further" "$(cat "$T/run.log")" "executor 'crasher' restarts in 200 ms (it died 3 times in a row)"
out=$(echo '{"text":"after"}' | "$FLOWHOST" post /index - --to "$ADDR" -q --timeout 20000)
check "crash: after the backoff the flow serves on" "$(jq -c '.docs[0].tags.seen_by' <<<"$out")" '["first","last"]'
stop_flow

# --- timeout: a handler past its executor's `timeout` costs its request an error ------
cat >"$T/timeout.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: slow, uses: Sleep, timeout: 300}
  - {name: tag, uses: Echo}
YML
start_flow "$T/timeout.yml"
rc=0
out=$(echo '{"text":"t"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --parameters '{"sleep_ms": 20000}' 2>/dev/null) || rc=$?
check "timeout: exit status 1" "$rc" "1"
check "timeout: the error names the executor and the limit" "$(jq -r .status.description <<<"$out")" \
      "executor 'slow' timed out after 300 ms"
out=$(echo '{"text":"u"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --parameters '{"sleep_ms": 10}')
check "timeout: the next request succeeds on a new worker" "$(jq -c '.docs[0].tags.seen_by' <<<"$out")" '["tag"]'
stop_flow

# --- an executor that can no longer start is reported down, not restarted forever -----
cat >"$T/fragile.yml" <<YML
jtype: Flow
version: '1'
with:
  workspace: $T/ws
executors:
  - {name: fragile, uses: Fragile}
  - {name: tag, uses: Echo}
YML
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"
start_flow "$T/fragile.yml"
rc=0
out=$(echo '{"text":"b","tags":{"break":true}}' | "$FLOWHOST" post /x - --to "$ADDR" -q 2>/dev/null) || rc=$?
check "fragile: the crash is the request's error" "$rc:$(jq -r .status.description <<<"$out")" \
      "1:executor 'fragile' crashed: signal 11 (SIGSEGV)"
rc=0
out=$(echo '{"text":"c"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 20000 2>/dev/null) || rc=$?
check_contains "fragile: later requests: the executor is down, and why" "$rc:$(jq -r .status.description <<<"$out")" \
      "1:executor 'fragile' is down: executor 'fragile' failed to start: init failed: init refused: the workspace is marked broken"
# (The worker that failed its init says so, then exits: give it a moment to be reaped.)
for _ in $(seq 1 50); do
    [ "$(pgrep -P "$FLOW_PID" | wc -l | tr -d ' ')" = 1 ] && break
    sleep 0.1
done
check "fragile: no worker of it is left running" "$(pgrep -P "$FLOW_PID" | wc -l | tr -d ' ')" "1"
stop_flow

# --- a worker that stops answering while idle (here: stopped) is replaced -------------
cat >"$T/idle.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: tag, uses: Echo}
YML
start_flow "$T/idle.yml"
worker=$(pgrep -P "$FLOW_PID")
kill -STOP "$worker"
for _ in $(seq 1 200); do
    grep -q "stopped answering heartbeats" "$T/run.log" && break
    sleep 0.1
done
check_contains "heartbeats: the stopped worker is found out" "$(cat "$T/run.log")" \
      "executor 'tag' stopped answering heartbeats: restarting it"
out=$(echo '{"text":"v"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 20000)
check "heartbeats: the next request is served by a new worker" "$(jq -c '.docs[0].tags.seen_by' <<<"$out")" '["tag"]'
check "heartbeats: the stopped worker is gone" "$(kill -0 "$worker" 2>/dev/null && echo alive || echo gone)" "gone"
stop_flow

done_checks
