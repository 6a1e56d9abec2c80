#!/usr/bin/env bash
# A reload keeps the replica's breaker history: a worker that died 3 times in a row
# (a request that crashes it), then is reloaded with a file that still crashes, opens
# its breaker at the 5th death in a row (BREAKER_DEATHS), as without the reload; the
# reload does not start the count again.
source "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"

cat >"$T/flow.yml" <<'YML'
jtype: Flow
version: '1'
executors:
  - {name: c, uses: Crash}
YML
rm -f "$T/pid" "$T/addr"
"$FLOWHOST" run --pid-file "$T/pid" --address-file "$T/addr" "$T/flow.yml" 2>"$T/run.log" &
FLOW_PID=$!
for _ in $(seq 1 300); do
    [ -s "$T/pid" ] && [ -s "$T/addr" ] && break
    kill -0 "$FLOW_PID" 2>/dev/null || fail "the flow did not start"
    sleep 0.05
done
[ -s "$T/pid" ] || fail "the flow not ready after 15 s"
ADDR=$(head -n 1 "$T/addr")
echo '{"id": "boom", "tags": {"crash": true}}' >"$T/crash.ndjson"
# crash: one request that kills the worker (answered with an error).
crash() {
    "$FLOWHOST" post /index "$T/crash.ndjson" --to "$ADDR" -q --timeout 20000 >/dev/null 2>&1 || true
}
deaths() { grep -c "executor 'c' crashed" "$T/run.log" || true; }
# ready_again: waits until a worker of c is ready again (the flow's restart).
ready_again() {
    for _ in $(seq 1 400); do
        "$FLOWHOST" ping "$ADDR" >/dev/null 2>&1 && return 0
        sleep 0.025
    done
    fail "c not ready again"
}
for _ in 1 2 3; do crash; done
check "3 deaths" "$(deaths)" "3"
ready_again
rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --wait --timeout 15000 2>"$T/reload.err" || rc=$?
check "the reload succeeds" "$rc" "0"
crash
crash
check "5 deaths" "$(deaths)" "5"
for _ in $(seq 1 200); do grep -q "is down" "$T/run.log" && break; sleep 0.025; done
check_contains "the 5th death in a row opens the breaker" "$(cat "$T/run.log")" \
    "its workers died 5 times in a row"
stop_flow
done_checks
