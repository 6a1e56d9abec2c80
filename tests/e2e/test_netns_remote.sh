#!/usr/bin/env bash
# Across machines: a gateway host and two executor hosts (network namespaces on one
# bridge). Remote replicas share the work; a link cut under load costs the requests the
# cut worker held an error each within the heartbeat bound (none hangs, none is answered
# twice), the other replica serves on, and the worker is taken back when its link returns;
# a host that dies and comes back likewise; a worker whose keys refuse the gateway is said
# to on both sides while the flow serves through the other. Needs root and iproute2:
# skipped otherwise, saying why.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/remote_lib.sh"
source "$(dirname "$0")/netns_lib.sh"
netns_require
netns_hosts gw h1 h2

docs() { local i; for i in $(seq 1 "$1"); do echo "{\"id\":\"d$i\",\"text\":\"$i\"}"; done; }
docs 300 >"$T/300.ndjson"
docs 100 >"$T/100.ndjson"
post() { # post OUT N-FILE SLEEP-MS: posts on the gateway host, one document a request
    on gw "$FLOWHOST" post /index "$2" --to "$ADDR" --request-size 1 -q --timeout 60000 \
        --parameters "{\"sleep_ms\": $3}" >"$1" 2>/dev/null
}
ledger_lines() { cat "$@" 2>/dev/null | wc -l | tr -d ' '; }

start_worker h1 ip netns exec "$NS_h1" -- --listen "tcp://$HOST_IP_h1:8081" --uses Ledger --uses-with "{\"ledger\": \"$T/h1.ledger\"}"
start_worker h2 ip netns exec "$NS_h2" -- --listen "tcp://$HOST_IP_h2:8081" --uses Ledger --uses-with "{\"ledger\": \"$T/h2.ledger\"}"
rc=0
on gw "$FLOWHOST" ping -q "$HOST_IP_h1:8081" || rc=$?
check "the gateway host reaches a worker host (probe)" "$rc" "0"
rc=0
"$FLOWHOST" ping -q --timeout 300 "$HOST_IP_h1:8081" || rc=$?
check "this machine's own network does not (the hosts are apart)" "$rc" "1"
cat >"$T/flow.yml" <<YML
with: {timeout_ready: 10000}
executors:
  - {name: led, host: ["$HOST_IP_h1:8081", "$HOST_IP_h2:8081"], credit: 4}
YML
start_flow_on gw "$T/flow.yml"

# --- remote replicas -------------------------------------------------------------------
post "$T/a.out" "$T/100.ndjson" 2
check "replicas: every request succeeds" "$(jq -r .status.code "$T/a.out" | sort | uniq -c | tr -s ' ')" " 100 SUCCESS"
check "replicas: both hosts served" "$( [ -s "$T/h1.ledger" ] && [ -s "$T/h2.ledger" ] && echo yes)" "yes"
check "replicas: every request ran once" \
      "$(ledger_lines "$T/h1.ledger" "$T/h2.ledger"):$(cat "$T/h1.ledger" "$T/h2.ledger" | cut -d' ' -f1 | sort -u | wc -l | tr -d ' ')" "100:100"

# --- a link cut under load, and restored ----------------------------------------------
: >"$T/h1.ledger"
: >"$T/h2.ledger"
post "$T/cut.out" "$T/300.ndjson" 10 &
poster=$!
for _ in $(seq 1 200); do [ "$(ledger_lines "$T/h2.ledger")" -ge 10 ] && break; sleep 0.05; done
link h2 down
cut_at=$(date +%s%N)
wait_log "$T/run.log" "executor 'led' stopped answering heartbeats" 12
lost_ms=$((($(date +%s%N) - cut_at) / 1000000))
echo "# the gateway gave the cut worker up $lost_ms ms after the cut"
rc=0
wait "$poster" || rc=$?
check "cut: every request answered once" "$(count_answers "$T/cut.out")" "300 300"
n_err=$(jq -r 'select(.status.code != "SUCCESS") | .request_id' "$T/cut.out" | wc -l | tr -d ' ')
check "cut: only what the cut worker held failed (1..4: its credit)" "$( [ "$n_err" -ge 1 ] && [ "$n_err" -le 4 ] && echo yes)" "yes"
check "cut: each with the reason" "$(jq -r 'select(.status.code != "SUCCESS") | .status.description' "$T/cut.out" | sort -u)" \
      "executor 'led' stopped answering heartbeats"
check "cut: the rest served by the other host" "$(jq -r 'select(.status.code == "SUCCESS") | .request_id' "$T/cut.out" | wc -l | tr -d ' ')" \
      "$((300 - n_err))"
wait_log "$T/h2.log" "dropped the gateway at $HOST_IP_gw: no word from it" 12
: >"$T/h2.ledger"
link h2 up
up_at=$(date +%s%N)
wait_log "$T/run.log" "its worker at $HOST_IP_h2:8081 is back" 15
for _ in $(seq 1 400); do
    [ -s "$T/h2.ledger" ] && break
    echo '{"text": "x"}' | on gw "$FLOWHOST" post /index - --to "$ADDR" -q --timeout 10000 >/dev/null 2>&1 || true
done
back_ms=$((($(date +%s%N) - up_at) / 1000000))
echo "# from the link's return to the first request served on it: $back_ms ms"
check "restored: the worker serves again" "$( [ -s "$T/h2.ledger" ] && echo yes)" "yes"
post "$T/after.out" "$T/100.ndjson" 2
check "restored: every request succeeds" "$(jq -r .status.code "$T/after.out" | sort | uniq -c | tr -s ' ')" " 100 SUCCESS"
check "restored: both hosts serve" "$(jq -r '.routes[1].replica' "$T/after.out" | sort -u | tr '\n' ' ')" "0 1 "

# --- a host that dies, and comes back -----------------------------------------------------
: >"$T/h1.ledger"
post "$T/die.out" "$T/300.ndjson" 10 &
poster=$!
for _ in $(seq 1 200); do [ "$(ledger_lines "$T/h1.ledger")" -ge 10 ] && break; sleep 0.05; done
link h1 down
ip netns pids "${NETNS_PREFIX}h1" | xargs -r kill -KILL
rc=0
wait "$poster" || rc=$?
check "died: every request answered once" "$(count_answers "$T/die.out")" "300 300"
n_err=$(jq -r 'select(.status.code != "SUCCESS") | .request_id' "$T/die.out" | wc -l | tr -d ' ')
check "died: only what it held failed" "$( [ "$n_err" -ge 1 ] && [ "$n_err" -le 4 ] && echo yes)" "yes"
link h1 up
: >"$T/h1.ledger"
start_worker h1 ip netns exec "$NS_h1" -- --listen "tcp://$HOST_IP_h1:8081" --uses Ledger --uses-with "{\"ledger\": \"$T/h1.ledger\"}"
wait_log "$T/run.log" "its worker at $HOST_IP_h1:8081 is back" 15
post "$T/reborn.out" "$T/100.ndjson" 2
check "reborn: every request succeeds" "$(jq -r .status.code "$T/reborn.out" | sort | uniq -c | tr -s ' ')" " 100 SUCCESS"
check "reborn: the new worker serves" "$( [ -s "$T/h1.ledger" ] && echo yes)" "yes"
kill -TERM "$FLOW_PID"
wait "$FLOW_PID" || true
FLOW_PID=""

# --- a wrong key across the network ---------------------------------------------------------
for k in gateway worker1 worker2 stranger; do "$FLOWHOST" keygen "$T/$k" >/dev/null; done
kill -TERM "$WPID_h1" "$WPID_h2"
wait "$WPID_h1" "$WPID_h2" 2>/dev/null || true
start_worker k1 ip netns exec "$NS_h1" -- --listen "tcp://$HOST_IP_h1:8081" --uses Ledger --uses-with "{\"ledger\": \"$T/k1.ledger\"}" \
    --key "$T/worker1_secret" --allow "$T/gateway"
start_worker k2 ip netns exec "$NS_h2" -- --listen "tcp://$HOST_IP_h2:8081" --uses Ledger --uses-with "{\"ledger\": \"$T/k2.ledger\"}" \
    --key "$T/worker2_secret" --allow "$T/stranger"
cat >"$T/keys.yml" <<YML
with: {timeout_ready: 3000, gateway_key: $T/gateway_secret}
executors:
  - name: led
    host: ["$HOST_IP_h1:8081", "$HOST_IP_h2:8081"]
    worker_key: $T/worker1
YML
start_flow_on gw "$T/keys.yml"
check_contains "wrong key: the gateway names the worker and why" "$(cat "$T/run.log")" \
    "its worker at $HOST_IP_h2:8081: the CURVE handshake failed"
check_contains "wrong key: the worker says so" "$(cat "$T/k2.log")" "a connection failed its CURVE handshake"
post "$T/keys.out" "$T/100.ndjson" 0
check "wrong key: the flow serves through the worker it may reach" \
      "$(jq -r .status.code "$T/keys.out" | sort | uniq -c | tr -s ' '):$(jq -r '.routes[1].replica' "$T/keys.out" | sort -u)" \
      " 100 SUCCESS:0"
check "wrong key: nothing ran on the refused worker" "$(ledger_lines "$T/k2.ledger")" "0"
stop_flow
stop_workers
done_checks
