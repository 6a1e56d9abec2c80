#!/usr/bin/env bash
# A `flowhost reload --wait` that is interrupted leaves nothing in the flow's runtime
# directory: on SIGINT (and SIGTERM) the command removes its request and answer files
# and exits 130 (143); killed outright (SIGKILL), its files are gone once the flow has
# written its answers (the flow removes an answer file once written: the command reads
# through the descriptor it holds).
source "$(dirname "$0")/lib.sh"

cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: ver, uses: $T/plug.so, uses_with: {init_ms: 1500}}
YML
rm -f "$T/addr" "$T/pid"
"$FLOWHOST" run --pid-file "$T/pid" "$T/flow.yml" 2>"$T/run.log" &
FLOW_PID=$!
for _ in $(seq 1 300); do
    [ -s "$T/pid" ] && break
    kill -0 "$FLOW_PID" 2>/dev/null || fail "the flow did not start"
    sleep 0.05
done
[ -s "$T/pid" ] || fail "the flow not ready after 15 s"
RUNDIR=$(find "$XDG_RUNTIME_DIR" -maxdepth 1 -name 'flowhost-*' -type d | head -n 1)
leftovers() { find "$RUNDIR" -name 'reload-*' | wc -l | tr -d ' '; }

# interrupt SIGNAL: a reload --wait, sent SIGNAL once the flow has accepted it; prints
# its exit status.
interrupt() {
    : >"$T/reload.err"
    # (a job of a script starts with SIGINT ignored: as from a terminal, it is not)
    env --default-signal=INT "$FLOWHOST" reload --pid-file "$T/pid" --wait 2>"$T/reload.err" &
    local cmd=$! rc=0
    for _ in $(seq 1 400); do
        grep -q "reloading:" "$T/reload.err" && break
        sleep 0.01
    done
    grep -q "reloading:" "$T/reload.err" || fail "the reload was not accepted: $(cat "$T/reload.err")"
    kill "-$1" "$cmd"
    wait "$cmd" || rc=$?
    echo "$rc"
}

check "SIGINT: the command exits 130" "$(interrupt INT)" "130"
check "SIGINT: no file of it left at once" "$(leftovers)" "0"
for _ in $(seq 1 400); do grep -q "reload done" "$T/run.log" && break; sleep 0.025; done
check "SIGTERM: the command exits 143" "$(interrupt TERM)" "143"
check "SIGTERM: no file of it left at once" "$(leftovers)" "0"
for _ in $(seq 1 400); do [ "$(grep -c "reload done" "$T/run.log")" -ge 2 ] && break; sleep 0.025; done
check "SIGKILL: the command is killed" "$(interrupt KILL)" "137"
for _ in $(seq 1 400); do [ "$(grep -c "reload done" "$T/run.log")" -ge 3 ] && break; sleep 0.025; done
check "SIGKILL: no file of it left once the reload is over" "$(leftovers)" "0"
stop_flow
done_checks
