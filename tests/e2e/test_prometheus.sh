#!/usr/bin/env bash
# GET /metrics with real Prometheus parts: `promtool check metrics` passes on what a flow
# serves under load, and a Prometheus server on loopback scrapes the flow while it serves
# requests and reads a request-duration quantile and the request count back from its own
# query API (Debian's `prometheus` package, which scripts/setup installs); and what a
# request's status is counted as in a graph (a branch's timeout is the request's).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "skipped: prometheus / promtool not installed (scripts/setup installs them)"
    exit 0
fi

cat >"$T/flow.yml" <<'YML'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
executors:
  - {name: a, uses: Sleep}
  - {name: b, uses: Sleep, replicas: 2}
YML
start_http_flow "$T/flow.yml"
seq 1 200 | jq -c '{id: ("d" + tostring), text: tostring}' >"$T/docs.ndjson"
load() { # load N: N requests of 2 documents, 1 ms each, through the ZeroMQ port
    "$FLOWHOST" post /index "$T/docs.ndjson" --to "$ADDR" -q --request-size 2 --size "$(( $1 * 2 ))" \
        -p '{"sleep_ms": 1}' >/dev/null
}
load 50
curl -s -m 10 "$URL/metrics" -o "$T/metrics.txt"
check "GET /metrics: promtool check metrics prints nothing and passes" \
      "$(promtool check metrics <"$T/metrics.txt" 2>&1; echo "rc=$?")" "rc=0"
check "GET /metrics: the 50 requests counted" \
      "$(awk '/^flowhost_requests_total\{.*endpoint="\/index".*status="success"/ {print $2}' "$T/metrics.txt")" "50"
check "GET /metrics: each replica of b has its handler histogram" \
      "$(grep -c '^flowhost_executor_duration_seconds_count{executor="b"' "$T/metrics.txt")" "2"

# A Prometheus server on loopback, scraping every second.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target=${URL#http://}
cat >"$T/prometheus.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: flowhost
    static_configs: [{targets: ['$target']}]
YML
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
    --web.listen-address="127.0.0.1:$port" >"$T/prometheus.log" 2>&1 &
prom=$!
trap 'kill $prom 2>/dev/null || true; cleanup' EXIT
query() { # query PROMQL: the first result's value, or ""
    curl -s -m 5 -G "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$1" |
        jq -r '.data.result[0].value[1] // empty' 2>/dev/null || true
}
for _ in $(seq 1 100); do
    [ "$(query 'up{job="flowhost"}')" = "1" ] && break
    sleep 0.2
done
check "Prometheus scrapes the flow (up = 1)" "$(query 'up{job="flowhost"}')" "1"
# Load while it scrapes: a few seconds of requests.
for _ in 1 2 3 4 5 6; do load 40; sleep 0.5; done
for _ in $(seq 1 50); do
    total=$(query 'sum(flowhost_requests_total{status="success"})')
    [ "${total%.*}" = "290" ] && break
    sleep 0.2
done
check "Prometheus has every request counted" "${total%.*}" "290"
p50=$(query 'histogram_quantile(0.5, sum by (le) (flowhost_executor_duration_seconds_bucket{executor="a"}))')
check "a p50 of a's handler, read back from Prometheus, is a number above 1 ms and under 1 s" \
      "$(python3 -c "import sys; v=float('$p50' or 'nan'); print('ok' if 0.001 <= v < 1 else 'bad: %r' % v)")" "ok"
kill "$prom" 2>/dev/null || true
wait "$prom" 2>/dev/null || true
stop_flow
# The status of a request in the metrics: a timeout inside a branch of a graph counts as
# the request's timeout, and as the executor's; a handler's error as an error.
cat >"$T/graph.yml" <<'YML'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
executors:
  - {name: p, uses: Branch, needs: gateway}
  - {name: q, uses: Branch, needs: gateway, timeout: 300}
  - {name: j, uses: Branch, needs: [p, q]}
YML
start_http_flow "$T/graph.yml"
echo '{"id": "x"}' | "$FLOWHOST" post /index - --to "$ADDR" -q -p '{"q": {"sleep_ms": 1000}}' >/dev/null 2>&1 || true
echo '{"id": "x"}' | "$FLOWHOST" post /index - --to "$ADDR" -q -p '{"p": {"fail": true}}' >/dev/null 2>&1 || true
echo '{"id": "x"}' | "$FLOWHOST" post /index - --to "$ADDR" -q >/dev/null 2>&1 || true
curl -s -m 10 "$URL/metrics" -o "$T/graph_metrics.txt"
status_count() { awk -v s="status=\"$1\"" 'index($0, "flowhost_requests_total{") == 1 && index($0, s) {n += $2} END {print n + 0}' "$T/graph_metrics.txt"; }
check "graph: requests by status (timeout, error, success)" \
      "$(status_count timeout) $(status_count error) $(status_count success)" "1 1 1"
check "graph: q's timeout counted as q's" \
      "$(awk 'index($0, "flowhost_executor_errors_total{") == 1 && index($0, "executor=\"q\"") && index($0, "kind=\"timeout\"") {print $2}' "$T/graph_metrics.txt")" "1"
stop_flow
# Dynamic batching: each handler call's size counted once, whatever requests it merged.
cat >"$T/batch.yml" <<'YML'
jtype: Flow
version: '1'
with: {protocol: [zmq, http]}
executors:
  - name: b
    uses: Branch
    uses_dynamic_batching: {'/index': {preferred_batch_size: 8, timeout: 200}}
YML
start_http_flow "$T/batch.yml"
"$FLOWHOST" post /index "$T/docs.ndjson" --to "$ADDR" -q --request-size 1 --size 24 --prefetch 24 >/dev/null
curl -s -m 10 "$URL/metrics" -o "$T/batch_metrics.txt"
sum=$(awk 'index($0, "flowhost_executor_batch_size_sum{") == 1 {print $2}' "$T/batch_metrics.txt")
count=$(awk 'index($0, "flowhost_executor_batch_size_count{") == 1 {print $2}' "$T/batch_metrics.txt")
check "batching: the calls' sizes add up to the 24 documents" "$sum" "24"
check "batching: fewer calls than requests (batches were formed)" \
      "$(python3 -c "print('yes' if 1 <= int('${count:-0}') < 24 else 'no: ${count:-none}')")" "yes"
stop_flow

# with.monitoring: false: nothing counted, GET /metrics says so.
cat >"$T/off.yml" <<'YML'
jtype: Flow
version: '1'
with: {protocol: [zmq, http], monitoring: false}
executors:
  - {name: a, uses: Sleep}
YML
start_http_flow "$T/off.yml"
check "monitoring off: GET /metrics 404, saying why" \
      "$(curl -s -m 10 -w ' %{http_code}' "$URL/metrics")" '{"detail":"metrics are off (with.monitoring: false)"} 404'
stop_flow
done_checks
