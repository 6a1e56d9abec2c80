#!/usr/bin/env bash
# The flow's answers to `flowhost reload` are one line each, whatever their length: a
# flow of 34 executors with 64-character names answers a refusal (the names it has) and
# an acceptance (the names it reloads) with a line that ends, the longest lists
# shortened ("and N more"), and the command says so at once.
source "$(dirname "$0")/lib.sh"

{
    echo "jtype: Flow"
    echo "version: '1'"
    echo "executors:"
    for i in $(seq -w 1 34); do
        printf '  - {name: e%s_%s, uses: Echo}\n' "$i" "$(printf 'x%.0s' $(seq 1 60))"
    done
} >"$T/flow.yml"
rm -f "$T/addr" "$T/pid"
"$FLOWHOST" run --pid-file "$T/pid" --address-file "$T/addr" "$T/flow.yml" 2>"$T/run.log" &
FLOW_PID=$!
for _ in $(seq 1 600); do
    [ -s "$T/pid" ] && break
    kill -0 "$FLOW_PID" 2>/dev/null || fail "the flow did not start"
    sleep 0.05
done
[ -s "$T/pid" ] || fail "the flow not ready after 30 s"

rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --executor nosuch --timeout 5000 2>"$T/reload.err" || rc=$?
err=$(cat "$T/reload.err")
check "refused: exits 1" "$rc" "1"
check_contains "refused: it says why" "$err" "the flow refused the reload: the flow has no executor 'nosuch' (it has: e01_"
check_contains "refused: the list is shortened" "$err" "more)"
check "refused: no 'did not answer'" "$(grep -c 'did not answer' "$T/reload.err" || true)" "0"

rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --timeout 5000 2>"$T/reload.err" || rc=$?
err=$(cat "$T/reload.err")
check "accepted: exits 0" "$rc" "0"
check_contains "accepted: it names the executors" "$err" "flowhost: reload accepted: e01_"
check_contains "accepted: the list is shortened" "$err" "more"
check "accepted: one line" "$(wc -l <"$T/reload.err" | tr -d ' ')" "1"
stop_flow
done_checks
