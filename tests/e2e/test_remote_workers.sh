#!/usr/bin/env bash
# Remote workers on loopback: `flowhost worker --listen` serves one executor for a gateway
# elsewhere, a flow names it with host/port (Jina's external executor). Replicas share the
# work; a worker killed mid-load costs the requests it held an error each (none lost,
# none answered twice), the other replica serves on, and the worker is taken back when it
# returns; a worker that stops says so at once; a gateway that dies is given up by its
# worker, which then serves the next; one gateway at a time; probes; bad options.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/remote_lib.sh"

docs() { # docs N: N documents d1..dN
    local i
    for i in $(seq 1 "$1"); do echo "{\"id\":\"d$i\",\"text\":\"$i\"}"; done
}
docs 200 >"$T/200.ndjson"
docs 20 >"$T/20.ndjson"

# --- options a worker refuses -----------------------------------------------------------
w_fail() { # w_fail DESC NEEDLE -- OPTIONS...: exit 2 and the reason on stderr
    local desc=$1 needle=$2
    shift 3
    local rc=0
    timeout 20 "$FLOWHOST" worker "$@" >"$T/stdout" 2>"$T/stderr" || rc=$?
    check "$desc: exit status" "$rc" "2"
    check_contains "$desc: says why" "$(cat "$T/stderr")" "$needle"
}
w_fail "no --uses" "--uses is required" -- --listen tcp://127.0.0.1:1
w_fail "not tcp" "--listen must be tcp://ADDR:PORT" -- --listen 127.0.0.1:1 --uses Echo
w_fail "uses_with not a map" "--uses-with: 'uses_with' must be a mapping" -- \
    --listen tcp://127.0.0.1:1 --uses Echo --uses-with '[1]'
w_fail "uses_with not JSON" "--uses-with:" -- --listen tcp://127.0.0.1:1 --uses Echo --uses-with '{"a": '
w_fail "env not K=V" "--env must be K=V" -- --listen tcp://127.0.0.1:1 --uses Echo --env X
w_fail "key without allow" "--key needs --allow" -- --listen tcp://127.0.0.1:1 --uses Echo --key /nonexistent
rc=0
"$FLOWHOST" worker --listen tcp://127.0.0.1:1 --uses Nope 2>"$T/stderr" || rc=$?
check "an executor that cannot start: exit 1" "$rc" "1"
check_contains "an executor that cannot start: says why" "$(cat "$T/stderr")" "executor type 'Nope' not found"

# --- two remote replicas and a local executor --------------------------------------------
start_worker a -- --uses Ledger --uses-with "{\"ledger\": \"$T/a.ledger\"}"
start_worker b -- --uses Ledger --uses-with "{\"ledger\": \"$T/b.ledger\"}"
rc=0
"$FLOWHOST" ping -q "$WADDR_a" || rc=$?
check "a probe finds a remote worker ready" "$rc" "0"
# --- one worker listed twice: refused by the flow loader (test_remote_config.sh) -------
cat >"$T/dup.yml" <<YML
executors:
  - {name: led, host: ["$WADDR_a", "$WADDR_a"]}
YML
rc=0
"$FLOWHOST" run "$T/dup.yml" 2>"$T/dup.err" || rc=$?
check_contains "listed twice: the flow does not start, saying why" "$rc $(cat "$T/dup.err")" \
      "2 flowhost: $T/dup.yml:2:43: 'host' '$WADDR_a' is listed twice"

cat >"$T/two.yml" <<YML
jtype: Flow
version: '1'
with: {timeout_ready: 5000}
executors:
  - name: led
    host: [$WADDR_a, $WADDR_b]
    external: true
    credit: 4
  - {name: after, uses: Echo}
YML
out=$("$FLOWHOST" validate "$T/two.yml")
check_contains "validate names where it is served" "$out" "led  (remote: $WADDR_a $WADDR_b)"
start_flow "$T/two.yml"
rc=0
"$FLOWHOST" post /index "$T/200.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 \
    --parameters '{"sleep_ms": 2}' >"$T/two.out" 2>/dev/null || rc=$?
check "two replicas: every request succeeds" "$rc:$(jq -r .status.code "$T/two.out" | sort | uniq -c | tr -s ' ')" \
      "0: 200 SUCCESS"
check "two replicas: both served" "$( [ -s "$T/a.ledger" ] && [ -s "$T/b.ledger" ] && echo yes)" "yes"
check "two replicas: every request ran once" \
      "$(cat "$T/a.ledger" "$T/b.ledger" | wc -l | tr -d ' '):$(cat "$T/a.ledger" "$T/b.ledger" | cut -d' ' -f1 | sort -u | wc -l | tr -d ' ')" "200:200"
check "the routes name the replica the gateway gave it" \
      "$(jq -r '.routes[1].replica' "$T/two.out" | sort -u | tr '\n' ' ')" "0 1 "

# --- a worker killed under load, then started again -------------------------------------
: >"$T/a.ledger"
: >"$T/b.ledger"
"$FLOWHOST" post /index "$T/200.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 \
    --parameters '{"sleep_ms": 10}' >"$T/kill.out" 2>/dev/null &
post=$!
for _ in $(seq 1 100); do [ "$(wc -l <"$T/b.ledger")" -ge 10 ] && break; sleep 0.05; done
kill -KILL "$WPID_b"
rc=0
wait "$post" || rc=$?
check "killed: every request answered once" "$(count_answers "$T/kill.out")" "200 200"
errors=$(jq -r 'select(.status.code != "SUCCESS") | .status.description' "$T/kill.out" | sort | uniq -c | tr -s ' ')
check_contains "killed: its requests got an error naming it" "$errors" "the connection to its worker at $WADDR_b closed"
n_err=$(jq -r 'select(.status.code != "SUCCESS") | .request_id' "$T/kill.out" | wc -l | tr -d ' ')
check "killed: at most its credit failed" "$( [ "$n_err" -ge 1 ] && [ "$n_err" -le 4 ] && echo yes)" "yes"
check "killed: the rest succeeded" \
      "$(jq -r 'select(.status.code == "SUCCESS") | .request_id' "$T/kill.out" | wc -l | tr -d ' ')" "$((200 - n_err))"
check "killed: the other replica served on" \
      "$(jq -r 'select(.status.code == "SUCCESS") | .routes[1].replica' "$T/kill.out" | tail -n 20 | sort -u)" "0"
check_contains "killed: the gateway says so" "$(cat "$T/run.log")" "is down until it answers again"
start_worker b -- --listen "tcp://$WADDR_b" --uses Ledger --uses-with "{\"ledger\": \"$T/b.ledger\"}"
wait_log "$T/run.log" "its worker at $WADDR_b is back" 10
: >"$T/b.ledger"
"$FLOWHOST" post /index "$T/20.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 \
    --parameters '{"sleep_ms": 10}' >"$T/back.out" 2>/dev/null
check "back: every request succeeds" "$(jq -r .status.code "$T/back.out" | sort -u)" "SUCCESS"
check "back: the restarted worker serves again" "$( [ -s "$T/b.ledger" ] && echo yes)" "yes"

# --- a worker that stops (SIGTERM) is given up at once ------------------------------------
kill -TERM "$WPID_b"
wait "$WPID_b" 2>/dev/null || true
wait_log "$T/run.log" "its worker at $WADDR_b left" 5
check_contains "stopped: the worker said it to the gateway" "$(cat "$T/b.log")" "stopping (signal 15)"
"$FLOWHOST" post /index "$T/20.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 >"$T/one.out" 2>/dev/null
check "stopped: the other replica serves alone" "$(jq -r '.routes[1].replica' "$T/one.out" | sort -u)" "0"

# --- one gateway at a time; a gateway that dies is given up ------------------------------
cat >"$T/solo.yml" <<YML
with: {timeout_ready: 2000}
executors:
  - {name: led, host: "$WADDR_a"}
YML
"$FLOWHOST" run "$T/solo.yml" 2>"$T/second.log" &
second=$!
REMOTE_PIDS+=("$second")
wait_log "$T/second.log" "serves another gateway" 10
rc=0
"$FLOWHOST" post /index "$T/20.ndjson" --flow "$T/solo.yml" -q --timeout 5000 >/dev/null 2>&1 || rc=$?
kill -TERM "$second"
wait "$second" 2>/dev/null || true
check_contains "a second gateway is refused, saying why" "$(cat "$T/second.log")" \
    "its worker at $WADDR_a refused: this worker (at $WADDR_a) serves another gateway"
check_contains "the worker says it refused one" "$(cat "$T/a.log")" "refused the gateway at"
kill -KILL "$FLOW_PID"
wait "$FLOW_PID" 2>/dev/null || true
FLOW_PID=""
wait_log "$T/a.log" "dropped the gateway at 127.0.0.1: its connection closed" 5
start_flow "$T/solo.yml"
"$FLOWHOST" post /index "$T/20.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 >"$T/new.out" 2>/dev/null
check "a new gateway is served once the old one is given up" "$(jq -r .status.code "$T/new.out" | sort | uniq -c | tr -s ' ')" " 20 SUCCESS"

# --- a gateway that dies while a handler runs: its result is dropped, what waits is not run
: >"$T/a.ledger"
stop_flow
cat >"$T/stale.yml" <<YML
with: {timeout_ready: 5000, protocol: [zmq, http]}
executors:
  - {name: led, host: "$WADDR_a", credit: 4}
YML
start_flow "$T/stale.yml"
ADDR=$(sed -n 1p "$T/addr") # the second line is the HTTP URL
# Quick requests first: a worker whose time per request is known gets its credit's worth.
"$FLOWHOST" post /index "$T/20.ndjson" --to "$ADDR" --request-size 1 -q --timeout 20000 >/dev/null 2>&1
: >"$T/a.ledger"
"$FLOWHOST" post /index "$T/20.ndjson" --to "$ADDR" --request-size 5 --prefetch 4 -q --timeout 20000 \
    --parameters '{"sleep_ms": 1500}' >/dev/null 2>&1 &
post=$!
for _ in $(seq 1 100); do [ -s "$T/a.ledger" ] && break; sleep 0.05; done
kill -KILL "$FLOW_PID"
wait "$FLOW_PID" 2>/dev/null || true
FLOW_PID=""
wait_log "$T/a.log" "4 requests of that gateway dropped" 5
sleep 2 # the handler that ran (1.5 s) is over: the next would have begun by now
check "gateway gone mid-handler: the requests it queued were not run" "$(wc -l <"$T/a.ledger" | tr -d ' ')" "1"
wait "$post" 2>/dev/null || true
start_flow "$T/stale.yml"
ADDR=$(sed -n 1p "$T/addr") # the second line is the HTTP URL
"$FLOWHOST" post /index "$T/20.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 >"$T/after.out" 2>/dev/null
check "gateway gone mid-handler: the next gateway is served at once" "$(jq -r .status.code "$T/after.out" | sort -u)" "SUCCESS"

# --- readiness: a flow whose only worker is gone says so, and serves when it is back -----
kill -KILL "$WPID_a"
wait_log "$T/run.log" "its worker at $WADDR_a closed" 5
rc=0
out=$("$FLOWHOST" ping "$ADDR" 2>&1) || rc=$?
check "gone: the flow is not ready" "$rc" "1"
check_contains "gone: ping says which executor" "$out" "led"
"$FLOWHOST" post /index "$T/20.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 >"$T/gone.out" 2>/dev/null || true
check "gone: its requests fail at once with why" "$(jq -r .status.description "$T/gone.out" | sort -u)" \
      "executor 'led' is down: executor 'led': the connection to its worker at $WADDR_a closed"
URL=$(sed -n 2p "$T/addr")
check "gone: /health/ready says 503" "$(curl -s -o "$T/health.json" -w '%{http_code}' "$URL/health/ready")" "503"
check "gone: /health/ready names it, no replica ready" \
      "$(jq -c '.executors[] | [.name, .replicas_ready, .replicas]' "$T/health.json")" '["led",0,1]'
check_contains "gone: the metrics show it" "$(curl -s "$URL/metrics" | grep '^flowhost_executor_replicas_ready')" \
      'executor="led"'
check "gone: the metrics say 0 ready" \
      "$(curl -s "$URL/metrics" | grep '^flowhost_executor_replicas_ready{' | awk '{print $2}')" "0"
start_worker a -- --listen "tcp://$WADDR_a" --uses Ledger --uses-with "{\"ledger\": \"$T/a.ledger\"}"
wait_log "$T/run.log" "its worker at $WADDR_a is back" 10
rc=0
"$FLOWHOST" ping -q "$ADDR" || rc=$?
check "back: the flow is ready" "$rc" "0"
check "back: /health/ready says 200" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health/ready")" "200"
stop_flow
# The gateway says DISCONNECT and closes: the worker may see either first.
wait_log "$T/a.log" "dropped the gateway at 127.0.0.1: \(it said it is stopping\|its connection closed\)" 5
stop_workers
done_checks
