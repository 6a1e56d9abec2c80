#!/usr/bin/env bash
# `flowhost run --pid-file`: a flow that stops removes its pid file only while the file
# still holds its pid. Two flows given the same file: the second one's pid is in it, the
# first one stopping leaves it there (a `flowhost reload --pid-file` still finds the
# running flow), and the second one stopping removes it.
source "$(dirname "$0")/lib.sh"

cat >"$T/flow.yml" <<'YML'
jtype: Flow
version: '1'
executors:
  - {name: e, uses: Echo}
YML
# start FILE: a flow with --pid-file FILE, ready; its pid in STARTED.
start() {
    rm -f "$T/addr"
    "$FLOWHOST" run --pid-file "$1" --address-file "$T/addr" "$T/flow.yml" 2>>"$T/run.log" &
    STARTED=$!
    for _ in $(seq 1 300); do
        [ -s "$T/addr" ] && [ "$(cat "$1" 2>/dev/null)" = "$STARTED" ] && return 0
        kill -0 "$STARTED" 2>/dev/null || fail "the flow did not start"
        sleep 0.05
    done
    fail "the flow not ready after 15 s"
}
stop() { kill -TERM "$1"; wait "$1" || fail "the flow $1 did not stop cleanly"; }
first="" second=""
trap 'for p in $first $second; do kill -KILL "$p" 2>/dev/null || true; done; cleanup' EXIT

start "$T/flow.pid"
first=$STARTED
FLOW_PID=$first
start "$T/flow.pid"
second=$STARTED
check "the second flow's pid is in the file" "$(cat "$T/flow.pid")" "$second"
stop "$first"
check "the first flow stopping leaves the second one's pid file" "$(cat "$T/flow.pid" 2>&1)" "$second"
FLOW_PID=$second
rc=0
"$FLOWHOST" reload --pid-file "$T/flow.pid" --wait 2>"$T/reload.err" || rc=$?
check "reload --pid-file reaches the running flow" "$rc" "0"
stop "$second"
FLOW_PID=""
check "the second flow stopping removes it" "$([ -e "$T/flow.pid" ] && echo there || echo gone)" "gone"
done_checks
