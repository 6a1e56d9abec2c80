#!/usr/bin/env bash
# Rolling reload: `flowhost reload` and SIGHUP replace an executor's workers one replica
# at a time with the plugin file as it is on disk now. A client posting throughout sees
# no failed request, with two replicas and with one (a new worker starts beside the old
# one, which finishes what it holds); every request is answered once and run once (the
# Versioned executor's ledger); the answers after the reload come from the new file;
# the flow stays ready throughout (flowhost ping); `--executor` reloads only the
# executors named; a reload of an unknown executor, of a process that is no flow, is
# refused with a reason.
source "$(dirname "$0")/lib.sh"

# start_reloadable FLOW.yml: as start_flow, with a pid file ($T/pid).
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
    check "the pid file holds the flow's pid" "$(cat "$T/pid")" "$FLOW_PID"
}

# post_in_background N SLEEP_MS OUT: posts N one-document requests d1..dN; POST_PID.
post_in_background() {
    local i
    for i in $(seq 1 "$1"); do echo "{\"id\":\"d$i\"}"; done >"$T/in.ndjson"
    : >"$3"
    "$FLOWHOST" post /index "$T/in.ndjson" --to "$ADDR" --request-size 1 -q --timeout 60000 \
        --parameters "{\"sleep_ms\": $2}" >"$3" 2>"$3.err" &
    POST_PID=$!
    # Under way: some answers are in.
    for _ in $(seq 1 400); do
        [ "$(wc -l <"$3")" -ge 40 ] && return 0
        kill -0 "$POST_PID" 2>/dev/null || fail "the post ended early: $(cat "$3.err")"
        sleep 0.025
    done
    fail "the post did not get going"
}

# swap_plugin VERSION: replaces $T/plug.so the way an install does (a new file, renamed).
swap_plugin() {
    cp "$FH_PLUGIN_DIR/versioned_$1.so" "$T/plug.tmp"
    mv "$T/plug.tmp" "$T/plug.so"
}

# check_post NAME N OUT: the post of N requests ended well, every request answered once
# with success, each run once (ledger $T/NAME.ledger), and both versions answered.
check_post() {
    local rc=0
    wait "$POST_PID" || rc=$?
    check "$1: the post succeeds" "$rc" "0"
    check "$1: every request answered with success, none failed" \
          "$(jq -r .status.code "$3" | sort | uniq -c | tr -s ' ')" " $2 SUCCESS"
    check "$1: every request answered once" \
          "$(jq -r '.docs[0].id' "$3" | sort -u | wc -l | tr -d ' ')" "$2"
    check "$1: every request run once" \
          "$(wc -l <"$T/$1.ledger" | tr -d ' '):$(cut -d' ' -f1 "$T/$1.ledger" | sort -u | wc -l | tr -d ' ')" \
          "$2:$2"
    check "$1: answers from the old file, then from the new" \
          "$(jq -r '.docs[0].tags.version' "$3" | sort -u | tr '\n' ' ')" "1 2 "
    echo "# $1: $(jq -r '.docs[0].tags.version' "$3" | uniq -c | wc -l) runs of one version in the answers"
}

# after_check NAME: a new post is answered by version 2 only, by REPLICAS workers none of
# which is one of the first ones.
after_check() {
    local i
    for i in $(seq 1 20); do echo "{\"id\":\"e$i\"}"; done >"$T/after.ndjson"
    "$FLOWHOST" post /index "$T/after.ndjson" --to "$ADDR" --request-size 1 -q \
        >"$T/after.out" 2>/dev/null || fail "$1: the post after the reload failed"
    check "$1: after the reload, every answer from the new file" \
          "$(jq -r '.docs[0].tags.version' "$T/after.out" | sort -u)" "2"
    check "$1: after the reload, no answer from a worker of before" \
          "$(jq -r '.docs[0].tags.pid' "$T/after.out" | sort -u | grep -c -x -F -f "$T/$1.pids_before" || true)" "0"
}

flow() { # flow NAME REPLICAS [INIT_MS]
    cat >"$T/$1.yml" <<YML
jtype: Flow
version: '1'
executors:
  - name: ver
    uses: $T/plug.so
    uses_with: {ledger: $T/$1.ledger, init_ms: ${3:-0}}
    replicas: $2
YML
}

# pids_before NAME: the workers' pids as the first answers name them.
pids_before() {
    jq -r '.docs[0].tags.pid' "$T/$1.out" | sort -u >"$T/$1.pids_before"
}

# --- two replicas, `flowhost reload --pid-file --wait` ------------------------------
cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
flow two 2
start_reloadable "$T/two.yml"
post_in_background 600 3 "$T/two.out"
pids_before two
swap_plugin v2
rc=0
start=$(date +%s%N)
"$FLOWHOST" reload --pid-file "$T/pid" --wait 2>"$T/reload.err" || rc=$?
took=$((($(date +%s%N) - start) / 1000000))
check "two: reload --wait exits 0" "$rc" "0"
check_contains "two: it says what it reloaded" "$(cat "$T/reload.err")" "flowhost: reload done: 2 replicas replaced"
post_running=$(kill -0 "$POST_PID" 2>/dev/null && echo yes || echo no)
check "two: the post was still running when the reload was over" "$post_running" "yes"
echo "# two: a reload of 2 replicas took $took ms under load (the command's wall time)"
check_post two 600 "$T/two.out"
log=$(cat "$T/run.log")
check_contains "two: the log says replica 0 was replaced" "$log" "reload: executor 'ver', replica 0 replaced: new worker"
check_contains "two: the log says replica 1 was replaced" "$log" "reload: executor 'ver', replica 1 replaced: new worker"
check_contains "two: the log says when the executor's reload ended" "$log" "reload: executor 'ver' reloaded: 2 workers replaced in"
check_contains "two: the old workers stopped cleanly" "$log" "the old worker (pid $(head -n 1 "$T/two.pids_before")) stopped (exit status 0)"
after_check two
stop_flow

# --- one replica, SIGHUP; the flow stays ready throughout ---------------------------
# The new worker takes 400 ms to start: the old one serves meanwhile.
cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
flow one 1 400
start_reloadable "$T/one.yml"
post_in_background 800 3 "$T/one.out"
pids_before one
# flowhost ping all along: exit 0 while the flow is ready.
( while [ ! -e "$T/stop_ping" ]; do
      "$FLOWHOST" ping "$ADDR" >/dev/null 2>&1 && echo ok || echo NOT
      sleep 0.02
  done >"$T/pings" ) &
PING_PID=$!
swap_plugin v2
kill -HUP "$FLOW_PID"
for _ in $(seq 1 400); do
    grep -q "reload done" "$T/run.log" && break
    sleep 0.025
done
check_contains "one: SIGHUP reloads every executor" "$(cat "$T/run.log")" "SIGHUP: reloading every executor"
check_contains "one: the reload is over" "$(grep "reload done" "$T/run.log")" "1 replaced, 0 skipped, 0 failed"
post_running=$(kill -0 "$POST_PID" 2>/dev/null && echo yes || echo no)
check "one: the post was still running when the reload was over" "$post_running" "yes"
touch "$T/stop_ping"
wait "$PING_PID"
check "one: the flow answered ready to every ping" "$(sort -u "$T/pings")" "ok"
check "one: pinged more than 5 times while the new worker started ($(wc -l <"$T/pings"))" \
      "$([ "$(wc -l <"$T/pings")" -gt 5 ] && echo yes || echo no)" "yes"
check_post one 800 "$T/one.out"
after_check one
stop_flow

# --- a SIGHUP while a rollout runs: one more pass, then one end -----------------------
cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
flow again 2 300
start_reloadable "$T/again.yml"
swap_plugin v2
lines=$(wc -l <"$T/run.log")
kill -HUP "$FLOW_PID"
sleep 0.1
kill -HUP "$FLOW_PID" # the first replica's new worker is still starting
for _ in $(seq 1 400); do
    grep -q "reload done" "$T/run.log" && break
    sleep 0.025
done
log=$(tail -n +$((lines + 1)) "$T/run.log")
check "again: the executor is reloaded twice, one pass after the other" \
      "$(grep -c "reload: executor 'ver' reloaded: 2 workers replaced" <<<"$log")" "2"
check "again: and the rollout ends once, having replaced 4 workers" \
      "$(grep "reload done" <<<"$log" | grep -o "4 replaced, 0 skipped, 0 failed")" "4 replaced, 0 skipped, 0 failed"
stop_flow

# --- --executor: only the executors named; refusals ---------------------------------
cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
cat >"$T/pair.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: first, uses: $T/plug.so}
  - {name: second, uses: Echo, replicas: 2}
YML
start_reloadable "$T/pair.yml"
swap_plugin v2
rc=0
"$FLOWHOST" reload "$FLOW_PID" --executor second --wait 2>"$T/reload.err" || rc=$?
check "pair: reload --executor second exits 0" "$rc" "0"
check "pair: only second was reloaded" \
      "$(grep -o "reload: executor '[a-z]*' reloaded" "$T/run.log" | tr '\n' ' ')" \
      "reload: executor 'second' reloaded "
echo '{"id":"p"}' >"$T/p.ndjson"
check "pair: first still answers with the file it started with" \
      "$("$FLOWHOST" post /index "$T/p.ndjson" --to "$ADDR" -q | jq -r '.docs[0].tags.version')" "1"
expect_fail "pair: an executor the flow does not have" 1 "refused the reload" \
    "no executor 'third'" "first, second" -- \
    "$FLOWHOST" reload --pid-file "$T/pid" --executor third
rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --executor first 2>"$T/reload.err" || rc=$?
check "pair: reload without --wait exits 0 once accepted" "$rc" "0"
check_contains "pair: and says so" "$(cat "$T/reload.err")" "flowhost: reload accepted: first"
for _ in $(seq 1 400); do
    grep -q "executor 'first' reloaded" "$T/run.log" && break
    sleep 0.025
done
check "pair: first now answers from the new file" \
      "$("$FLOWHOST" post /index "$T/p.ndjson" --to "$ADDR" -q | jq -r '.docs[0].tags.version')" "2"
check "pair: the runtime directory keeps no request nor answer" \
      "$(ls "$XDG_RUNTIME_DIR"/flowhost-*/ | grep -c '^reload-' || true)" "0"
# Another user may not: the signal is refused before anything is written.
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null && runuser -u nobody -- "$FLOWHOST" --version >/dev/null 2>&1; then
    expect_fail "pair: another user" 1 "not allowed to reload the flow of another user" -- \
        runuser -u nobody -- "$FLOWHOST" reload "$FLOW_PID"
else
    echo "# skipped: the test of another user needs root, runuser and a flowhost nobody can run"
fi
rc=0
"$FLOWHOST" reload 2>/dev/null || rc=$?
check "pair: no pid: bad usage" "$rc" "2"
rc=0
"$FLOWHOST" reload --timeout soon "$FLOW_PID" 2>/dev/null || rc=$?
check "pair: a timeout that is no number: bad usage" "$rc" "2"
stop_flow
check "pair: the pid file is removed when the flow stops" "$([ -e "$T/pid" ] && echo there || echo gone)" "gone"

expect_fail "a process that is no flow" 1 "is not a running flow" -- "$FLOWHOST" reload $$
expect_fail "no such process" 1 "no such process" -- "$FLOWHOST" reload 999999999
expect_fail "a pid file that is not there" 1 "cannot read the pid file" -- \
    "$FLOWHOST" reload --pid-file "$T/nothing"
done_checks
