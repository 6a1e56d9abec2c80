#!/usr/bin/env bash
# Rolling reload that goes wrong: a new plugin file that does not start (init fails, init
# crashes, not a plugin, never READY within timeout_ready) leaves the old workers
# serving, with no failed request for a client posting throughout; one log line names the
# executor, the replica and the reason, the reload of that executor stops there (its
# second replica is not touched), and `flowhost reload --wait` exits 1 saying why. A
# later reload with a good file works. A reload asked during a drain is refused, and a
# drain during a reload (a new worker stuck starting) ends the flow in time.
source "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"

start_reloadable() {
    rm -f "$T/addr" "$T/pid"
    "$FLOWHOST" run --pid-file "$T/pid" --address-file "$T/addr" "$1" 2>"$T/run.log" &
    FLOW_PID=$!
    for _ in $(seq 1 300); do
        [ -s "$T/addr" ] && [ -s "$T/pid" ] && break
        kill -0 "$FLOW_PID" 2>/dev/null || fail "flow $1 did not start"
        sleep 0.05
    done
    [ -s "$T/pid" ] || fail "flow $1 not ready after 15 s"
    ADDR=$(head -n 1 "$T/addr")
}

# wait_gone PID: 0 once process PID has ended (within 20 s), 1 if not.
wait_gone() {
    for _ in $(seq 1 400); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.05
    done
    return 1
}

post_in_background() { # N SLEEP_MS OUT
    local i
    for i in $(seq 1 "$1"); do echo "{\"id\":\"d$i\"}"; done >"$T/in.ndjson"
    : >"$3"
    "$FLOWHOST" post /index "$T/in.ndjson" --to "$ADDR" --request-size 1 -q --timeout 60000 \
        --parameters "{\"sleep_ms\": $2}" >"$3" 2>"$3.err" &
    POST_PID=$!
    for _ in $(seq 1 400); do
        [ "$(wc -l <"$3")" -ge 20 ] && return 0
        kill -0 "$POST_PID" 2>/dev/null || fail "the post ended early: $(cat "$3.err")"
        sleep 0.025
    done
    fail "the post did not get going"
}

# --- new files that do not start ----------------------------------------------------
cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
with: {timeout_ready: 1500}
executors:
  - {name: ver, uses: $T/plug.so, replicas: 2}
YML
start_reloadable "$T/flow.yml"
echo "not a shared object" >"$T/text.so"
for bad in broken crashing text stuck; do
    case $bad in
        broken) file=$FH_PLUGIN_DIR/versioned_broken.so; reason="this version does not start" ;;
        crashing) file=$FH_PLUGIN_DIR/versioned_crashing.so; reason="SIGSEGV" ;;
        text) file=$T/text.so; reason="$T/plug.so" ;;
        stuck) file=$FH_PLUGIN_DIR/versioned_stuck.so; reason="not ready within 1500 ms (timeout_ready)" ;;
    esac
    post_in_background 300 3 "$T/$bad.out"
    before=$(jq -r '.docs[0].tags.pid' "$T/$bad.out" | sort -u | tr '\n' ' ')
    cp "$file" "$T/plug.tmp"
    mv "$T/plug.tmp" "$T/plug.so"
    lines=$(wc -l <"$T/run.log")
    rc=0
    "$FLOWHOST" reload --pid-file "$T/pid" --wait 2>"$T/reload.err" || rc=$?
    check "$bad: reload --wait exits 1" "$rc" "1"
    check_contains "$bad: and says why" "$(cat "$T/reload.err")" "$reason"
    log=$(tail -n +$((lines + 1)) "$T/run.log")
    line=$(grep "reload of executor" <<<"$log" || true)
    check "$bad: one log line says the reload failed" "$(grep -c . <<<"$line")" "1"
    check_contains "$bad: naming the executor and the replica" "$line" "reload of executor 'ver', replica 0 failed:"
    check_contains "$bad: and the reason" "$line" "$reason"
    check_contains "$bad: the old worker keeps serving" "$line" "its old worker keeps serving, and the reload of 'ver' stops here"
    check "$bad: replica 1 is left alone" "$(grep -c "replica 1" <<<"$log" || true)" "0"
    check "$bad: nothing was replaced" "$(grep -c "replaced: new worker" <<<"$log" || true)" "0"
    rc=0
    wait "$POST_PID" || rc=$?
    check "$bad: every request of the post answered with success by the old file" \
          "$rc:$(jq -r '"\(.status.code) \(.docs[0].tags.version)"' "$T/$bad.out" | sort | uniq -c | tr -s ' ')" \
          "0: 300 SUCCESS 1"
    check "$bad: by the workers of before" \
          "$(jq -r '.docs[0].tags.pid' "$T/$bad.out" | sort -u | tr '\n' ' ')" "$before"
    check "$bad: no worker of the new file is left" \
          "$(pgrep -P "$FLOW_PID" | wc -l | tr -d ' ')" "2"
done
# A good file afterwards: reloaded.
cp "$FH_PLUGIN_DIR/versioned_v2.so" "$T/plug.tmp"
mv "$T/plug.tmp" "$T/plug.so"
rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --wait 2>"$T/reload.err" || rc=$?
check "a good file after the failures: reloaded" "$rc" "0"
echo '{"id":"p"}' >"$T/p.ndjson"
check "it answers from the new file" \
      "$("$FLOWHOST" post /index "$T/p.ndjson" --to "$ADDR" -q | jq -r '.docs[0].tags.version')" "2"
stop_flow

# --- a reload asked during a drain is refused -----------------------------------------
cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
start_reloadable "$T/flow.yml"
echo '{"id":"slow"}' >"$T/slow.ndjson"
"$FLOWHOST" post /index "$T/slow.ndjson" --to "$ADDR" -q --parameters '{"sleep_ms": 1500}' \
    >"$T/slow.out" 2>/dev/null &
POST_PID=$!
sleep 0.3
kill -TERM "$FLOW_PID"
sleep 0.2
expect_fail "during a drain: refused" 1 "the flow is shutting down" -- \
    "$FLOWHOST" reload --pid-file "$T/pid"
kill -HUP "$FLOW_PID"
rc=0
wait_gone "$FLOW_PID" || rc=$?
check "during a drain: the flow still ends in time" "$rc" "0"
wait "$FLOW_PID" || rc=$?
FLOW_PID=""
check "during a drain: the flow exits 0" "$rc" "0"
wait "$POST_PID" || true
check "during a drain: the request in flight is answered" "$(jq -r .status.code "$T/slow.out")" "SUCCESS"
check_contains "during a drain: a SIGHUP is ignored, with a line" "$(cat "$T/run.log")" "SIGHUP while shutting down: no reload"

# --- a drain during a reload: the new worker, stuck starting, does not hold the flow ---
cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
cat >"$T/slowstart.yml" <<YML
jtype: Flow
version: '1'
with: {timeout_ready: 60000}
executors:
  - {name: ver, uses: $T/plug.so}
YML
start_reloadable "$T/slowstart.yml"
cp "$FH_PLUGIN_DIR/versioned_stuck.so" "$T/plug.tmp"
mv "$T/plug.tmp" "$T/plug.so"
"$FLOWHOST" reload --pid-file "$T/pid" --wait 2>"$T/waited.err" &
WAITER=$!
for _ in $(seq 1 200); do
    grep -q "replacing its workers" "$T/run.log" && break
    sleep 0.025
done
sleep 0.2
start=$(date +%s%N)
kill -TERM "$FLOW_PID"
rc=0
wait_gone "$FLOW_PID" || rc=$?
check "drain during a reload: the flow ends in time" "$rc" "0"
wait "$FLOW_PID" || rc=$?
FLOW_PID=""
echo "# drain during a reload: the flow took $((($(date +%s%N) - start) / 1000000)) ms to stop"
check "drain during a reload: the flow exits 0" "$rc" "0"
rc=0
wait "$WAITER" || rc=$?
check "drain during a reload: reload --wait exits 1" "$rc" "1"
check_contains "drain during a reload: saying the flow is shutting down" "$(cat "$T/waited.err")" \
    "the flow is shutting down"
check_contains "drain during a reload: the log says the reload stopped" "$(cat "$T/run.log")" \
    "reload stopped: the flow is shutting down"
check "no sanitizer report" "$(grep -c -E 'Sanitizer|runtime error:' "$T/run.log" || true)" "0"
done_checks
