#!/usr/bin/env bash
# A rolling reload is not a restart in the metrics nor in the health answer: one clean
# reload of two executors of two replicas counts 4 in flowhost_worker_reloads_total and
# leaves flowhost_worker_restarts_total (what the restart alert of observability.md
# watches) and /health/ready's restarts at 0, by surge as in place; a worker killed is
# still counted as a restart. promtool accepts the new counter.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
with: {protocol: [zmq, http]}
executors:
  - {name: a, uses: $T/plug.so, replicas: 2}
  - {name: b, uses: $T/plug.so, replicas: 2}
YML
start_http_flow "$T/flow.yml"

# total FAMILY: the sum of the family's series in $T/metrics.txt.
total() { awk -v f="$1{" 'index($0, f) == 1 {n += $2} END {print n + 0}' "$T/metrics.txt"; }
scrape() { curl -s -m 10 "$URL/metrics" -o "$T/metrics.txt" || fail "GET /metrics failed"; }
health_restarts() {
    curl -s -m 10 "$URL/health/ready" | jq -c '[.executors[].restarts]'
}

rc=0
"$FLOWHOST" reload "$FLOW_PID" --wait 2>"$T/reload.err" || rc=$?
check "surge: reload --wait exits 0" "$rc" "0"
scrape
check "surge: 4 reloads counted" "$(total flowhost_worker_reloads_total)" "4"
check "surge: no restart counted" "$(total flowhost_worker_restarts_total)" "0"
check "surge: /health/ready counts no restart" "$(health_restarts)" "[0,0]"

rc=0
"$FLOWHOST" reload "$FLOW_PID" --executor b --in-place --wait 2>"$T/reload.err" || rc=$?
check "in place: reload --wait exits 0" "$rc" "0"
scrape
check "in place: 2 more reloads counted" "$(total flowhost_worker_reloads_total)" "6"
check "in place: no restart counted" "$(total flowhost_worker_restarts_total)" "0"
check "in place: /health/ready counts no restart" "$(health_restarts)" "[0,0]"

# A crash is still a restart.
victim=$(pgrep -P "$FLOW_PID" | head -n 1)
kill -KILL "$victim"
for _ in $(seq 1 200); do
    scrape
    [ "$(total flowhost_worker_restarts_total)" = "1" ] && break
    sleep 0.025
done
check "crash: one restart counted" "$(total flowhost_worker_restarts_total)" "1"
check "crash: no more reloads" "$(total flowhost_worker_reloads_total)" "6"
if command -v promtool >/dev/null; then
    check "promtool check metrics passes" "$(promtool check metrics <"$T/metrics.txt" 2>&1; echo "rc=$?")" "rc=0"
fi
stop_flow
done_checks
