#!/usr/bin/env bash
# How reloads are asked for: `flowhost reload` queues a signal of its own that names its
# request file, and a plain SIGHUP means every executor, whatever files lie about.
# - a targeted reload whose command gave up waiting (the flow stopped meanwhile) is
#   withdrawn: the flow, reading it later, reloads nothing (not every executor);
# - a SIGHUP that comes while a targeted request is pending reloads every executor (the
#   two do not coalesce into the targeted one);
# - a request file that cannot be removed does not stop later SIGHUPs from reloading.
source "$(dirname "$0")/lib.sh"

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
}

# wait_log TEXT COUNT: waits (at most 10 s) until the flow's log holds TEXT COUNT times.
wait_log() {
    for _ in $(seq 1 400); do
        [ "$(grep -c -F -- "$1" "$T/run.log" || true)" -ge "$2" ] && return 0
        sleep 0.025
    done
    fail "the log does not hold '$1' $2 times"
}

count() { grep -c -F -- "$1" "$T/run.log" || true; }

cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: a, uses: $T/plug.so}
  - {name: b, uses: $T/plug.so}
YML
start_reloadable "$T/flow.yml"
RUNDIR=$(find "$XDG_RUNTIME_DIR" -maxdepth 1 -name 'flowhost-*' -type d | head -n 1)
[ -n "$RUNDIR" ] || fail "no runtime directory"

# --- a request withdrawn: the flow was stopped while its command waited -------------
kill -STOP "$FLOW_PID"
rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --executor a --timeout 300 2>"$T/reload.err" || rc=$?
kill -CONT "$FLOW_PID"
check "withdrawn: the command exits 1" "$rc" "1"
check_contains "withdrawn: it says the flow did not answer" "$(cat "$T/reload.err")" "did not answer"
# Either way the flow logs something: a withdrawn request, or (wrongly) a rollout.
for _ in $(seq 1 400); do
    grep -q -E "withdrawn|reload done" "$T/run.log" && break
    sleep 0.025
done
sleep 0.3
check "withdrawn: no executor reloaded" "$(count "replica 0 replaced")" "0"
check_contains "withdrawn: the log says so" "$(cat "$T/run.log")" "withdrawn (its file is gone"
check "withdrawn: no request file left" "$(find "$RUNDIR" -name 'reload-*' | wc -l)" "0"

# --- a SIGHUP while a targeted request is pending -----------------------------------
kill -STOP "$FLOW_PID"
"$FLOWHOST" reload --pid-file "$T/pid" --executor a --wait --timeout 15000 2>"$T/reload.err" &
RELOAD_PID=$!
for _ in $(seq 1 400); do
    [ -n "$(find "$RUNDIR" -name 'reload-*.req')" ] && break
    sleep 0.025
done
sleep 0.2 # its signal is sent right after the file is in place
kill -HUP "$FLOW_PID"
kill -CONT "$FLOW_PID"
rc=0
wait "$RELOAD_PID" || rc=$?
check "pending: the targeted reload --wait exits 0" "$rc" "0"
wait_log "reload done" 1
check "pending: executor a reloaded once" "$(count "executor 'a', replica 0 replaced")" "1"
check "pending: executor b reloaded too (the SIGHUP)" "$(count "executor 'b', replica 0 replaced")" "1"
check "pending: one rollout" "$(count "reload done")" "1"

# --- a request file that cannot be removed ------------------------------------------
mkdir "$RUNDIR/reload-999.req"
kill -HUP "$FLOW_PID"
wait_log "reload done" 2
check "stuck file: the SIGHUP reloads executor b" "$(count "executor 'b', replica 0 replaced")" "2"

# --- and the command works as ever --------------------------------------------------
rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --executor b --wait 2>"$T/reload.err" || rc=$?
check "command: reload --executor b --wait exits 0" "$rc" "0"
check_contains "command: it reloaded b only" "$(cat "$T/reload.err")" "reload done: 1 replica replaced"
rmdir "$RUNDIR/reload-999.req"
stop_flow
done_checks
