#!/usr/bin/env bash
# Rolling reload in place (`flowhost reload --in-place`): for executors whose workspace
# takes one process at a time. A surge reload of such an executor fails safely (the new
# worker cannot take the workspace's lock; the old one serves on); in place, each old
# worker finishes what it holds and stops first, then the new one starts: a client
# posting throughout sees no failed request, with two replicas and with one (its
# requests wait); the demo's docstore indexer keeps its index across the reload; a new
# file that does not start in place leaves that replica down, the other replica serving.
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

post_in_background() { # N SLEEP_MS OUT
    local i
    for i in $(seq 1 "$1"); do echo "{\"id\":\"d$i\"}"; done >"$T/in.ndjson"
    : >"$3"
    "$FLOWHOST" post /index "$T/in.ndjson" --to "$ADDR" --request-size 1 -q --timeout 60000 \
        --parameters "{\"sleep_ms\": $2}" >"$3" 2>"$3.err" &
    POST_PID=$!
    for _ in $(seq 1 400); do
        [ "$(wc -l <"$3")" -ge 40 ] && return 0
        kill -0 "$POST_PID" 2>/dev/null || fail "the post ended early: $(cat "$3.err")"
        sleep 0.025
    done
    fail "the post did not get going"
}

swap_plugin() {
    cp "$FH_PLUGIN_DIR/versioned_$1.so" "$T/plug.tmp"
    mv "$T/plug.tmp" "$T/plug.so"
}

# posted NAME N OUT [VERSIONS]: every request of the post answered once, with success.
posted() {
    local rc=0
    wait "$POST_PID" || rc=$?
    check "$1: every request answered with success, none failed" \
          "$rc:$(jq -r .status.code "$3" | sort | uniq -c | tr -s ' ')" "0: $2 SUCCESS"
    check "$1: every request answered once" \
          "$(jq -r '.docs[0].id' "$3" | sort -u | wc -l | tr -d ' ')" "$2"
    if [ -n "${4:-}" ]; then
        check "$1: answered by versions" \
              "$(jq -r '.docs[0].tags.version' "$3" | sort -u | tr '\n' ' ')" "$4"
    fi
}

flow() { # NAME REPLICAS
    cat >"$T/$1.yml" <<YML
jtype: Flow
version: '1'
with: {workspace: $T/ws-$1}
executors:
  - {name: ver, uses: $T/plug.so, uses_with: {lock: true}, replicas: $2}
YML
}

# --- two replicas that lock their workspace -----------------------------------------
cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
flow two 2
start_reloadable "$T/two.yml"
post_in_background 600 3 "$T/surge.out"
swap_plugin v2
rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --wait 2>"$T/reload.err" || rc=$?
check "surge: fails on the workspace's lock" "$rc" "1"
check_contains "surge: saying so" "$(cat "$T/reload.err")" "lock: in use by another process"
posted surge 600 "$T/surge.out" "1 "

post_in_background 600 3 "$T/two.out"
rc=0
start=$(date +%s%N)
"$FLOWHOST" reload --pid-file "$T/pid" --in-place --wait 2>"$T/reload.err" || rc=$?
echo "# two: a reload in place of 2 replicas took $((($(date +%s%N) - start) / 1000000)) ms under load"
check "two: reload --in-place --wait exits 0 [$(cat "$T/reload.err")]" "$rc" "0"
post_running=$(kill -0 "$POST_PID" 2>/dev/null && echo yes || echo no)
check "two: the post was still running when the reload was over" "$post_running" "yes"
posted two 600 "$T/two.out" "1 2 "
check_contains "two: the log says each replica was replaced in place" "$(cat "$T/run.log")" \
    "reload: executor 'ver', replica 1 replaced in place: new worker"
stop_flow

# --- one replica: its requests wait, none fails ---------------------------------------
cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
flow one 1
start_reloadable "$T/one.yml"
post_in_background 400 3 "$T/one.out"
swap_plugin v2
rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --in-place --wait 2>"$T/reload.err" || rc=$?
check "one: reload --in-place --wait exits 0" "$rc" "0"
posted one 400 "$T/one.out" "1 2 "
stop_flow

# --- in place, a new file that does not start: that replica is down, the other serves --
cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
flow bad 2
start_reloadable "$T/bad.yml"
post_in_background 400 3 "$T/bad.out"
swap_plugin broken
rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --in-place --wait 2>"$T/reload.err" || rc=$?
check "bad: reload --in-place --wait exits 1" "$rc" "1"
line=$(grep "reload of executor" "$T/run.log" || true)
check_contains "bad: one line names the executor, the replica, the reason" "$line" \
    "reload of executor 'ver', replica 0 failed: executor 'ver' failed to start: init failed: this version does not start; in place, its old worker is gone"
check "bad: replica 1 is left alone" "$(grep -c "replica 1" "$T/run.log" || true)" "0"
posted bad 400 "$T/bad.out" "1 "
stop_flow

# --- the demo's indexer: its docstore takes one writer; its index stays ---------------
export FLOWHOST_WORKSPACE=$T/search-ws
start_reloadable "$FLOWS/search.yml"
head -n 50 "$FLOWS/data/fortunes.ndjson" >"$T/docs.ndjson" 2>/dev/null ||
    for i in $(seq 1 50); do echo "{\"text\":\"fortune number $i of the test\"}"; done >"$T/docs.ndjson"
"$FLOWHOST" index "$T/docs.ndjson" --to "$ADDR" --request-size 10 -q >/dev/null ||
    fail "search: indexing failed"
query=$(head -n 1 "$T/docs.ndjson")
before=$(echo "$query" | "$FLOWHOST" search - --to "$ADDR" -q | jq -c '[.docs[0].matches[].id]')
rc=0
"$FLOWHOST" reload --pid-file "$T/pid" --in-place --executor indexer --wait 2>"$T/reload.err" || rc=$?
check "search: the indexer reloads in place [$(cat "$T/reload.err")]" "$rc" "0"
after=$(echo "$query" | "$FLOWHOST" search - --to "$ADDR" -q | jq -c '[.docs[0].matches[].id]')
check "search: the same matches after the reload (the index stayed)" "$after" "$before"
check "search: and some" "$([ "$after" != "[]" ] && echo yes || echo no)" "yes"
stop_flow
done_checks
