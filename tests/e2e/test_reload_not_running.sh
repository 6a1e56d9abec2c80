#!/usr/bin/env bash
# Rolling reload of replicas that are not serving when their turn comes. A replica whose
# worker is still starting (a restart after a crash, which loaded the file as it was
# then) is replaced too: after the reload every answer comes from the new file. A replica
# that is down (its breaker open) is skipped, and `flowhost reload --wait` exits 1
# saying so: a deploy script must not take it for a success.
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
    ADDR=$(head -n 1 "$T/addr")
}

swap_plugin() {
    cp "$FH_PLUGIN_DIR/versioned_$1.so" "$T/plug.tmp"
    mv "$T/plug.tmp" "$T/plug.so"
}

# the_worker: the pid of the flow's one worker process (empty: none).
the_worker() { pgrep -P "$FLOW_PID" | head -n 1 || true; }

# versions N: posts N one-document requests, prints the versions that answered.
versions() {
    local i
    for i in $(seq 1 "$1"); do echo "{\"id\":\"e$i\"}"; done >"$T/after.ndjson"
    "$FLOWHOST" post /index "$T/after.ndjson" --to "$ADDR" --request-size 1 -q --timeout 20000 \
        >"$T/after.out" 2>"$T/after.err" || fail "the post failed: $(cat "$T/after.err")"
    jq -r '.docs[0].tags.version' "$T/after.out" | sort | uniq -c | tr -s ' ' | tr '\n' ';'
}

cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
with: {timeout_ready: 10000}
executors:
  - {name: ver, uses: $T/plug.so, uses_with: {init_ms: 1500}}
YML

# --- a replica still starting (with the old file) when the reload comes -------------
start_reloadable "$T/flow.yml"
first=$(the_worker)
[ -n "$first" ] || fail "no worker found"
kill -KILL "$first"
# Its restart has mapped the old file, and sleeps in its init.
new=""
for _ in $(seq 1 200); do
    new=$(the_worker)
    [ -n "$new" ] && [ "$new" != "$first" ] && grep -q "$T/plug.so" "/proc/$new/maps" 2>/dev/null && break
    new=""
    sleep 0.02
done
[ -n "$new" ] || fail "the worker was not restarted"
swap_plugin v2
rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --wait --timeout 15000 2>"$T/reload.err" || rc=$?
check "starting: reload --wait exits 0" "$rc" "0"
check_contains "starting: the replica was replaced" "$(cat "$T/reload.err")" "1 replica replaced"
check "starting: after the reload, every answer from the new file" "$(versions 20)" " 20 2;"
check_contains "starting: the log says the restarting worker was replaced" "$(cat "$T/run.log")" \
    "reload: executor 'ver', replica 0 replaced: new worker"
stop_flow

# --- a replica down, its breaker open -----------------------------------------------
cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
sed -i 's/init_ms: 1500/init_ms: 0/' "$T/flow.yml"
start_reloadable "$T/flow.yml"
swap_plugin broken
kill -KILL "$(the_worker)"
for _ in $(seq 1 200); do
    grep -q "is down" "$T/run.log" && break
    sleep 0.025
done
grep -q "is down" "$T/run.log" || fail "the executor did not go down"
swap_plugin v2
rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --wait --timeout 15000 2>"$T/reload.err" || rc=$?
check "down: reload --wait exits 1" "$rc" "1"
check_contains "down: it says the replica is down" "$(cat "$T/reload.err")" \
    "executor 'ver', replica 0 is down"
stop_flow

done_checks
