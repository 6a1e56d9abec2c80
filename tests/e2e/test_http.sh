#!/usr/bin/env bash
# The HTTP gateway through the real binary, with curl and Python's urllib: every path,
# every status code, keep-alive, deadlines, a client that goes away, flowhost ping.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

cat >"$T/flow.yml" <<'EOF'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
  max_message_size: 65536
  max_inflight: 4
executors:
  - name: slow
    uses: Sleep
  - name: fail
    uses: Fail
EOF
start_http_flow "$T/flow.yml"
check_contains "the banner names the HTTP address" "$(cat "$T/run.log")" "HTTP:         $URL"

# ---- the REST API ---------------------------------------------------------------------
code=$(http_code POST /index -H 'Content-Type: application/json' \
    -d '{"data": [{"text": "hello", "tags": {"year": 2021, "w": 0.5}}, "world"],
         "parameters": {"top_k": 3, "threshold": 0.5}, "request_id": "r-1"}')
check "POST /index: 200" "$code" "200"
check "POST /index: the request id" "$(jq -r .requestId "$T/body")" "r-1"
check "POST /index: the documents" "$(jq -r '[.data.docs[].text] | join(",")' "$T/body")" "hello,world"
check_contains "POST /index: an int parameter stays an int" "$(cat "$T/body")" '"top_k":3,'
check_contains "POST /index: an int tag stays an int" "$(cat "$T/body")" '"year":2021'
check "POST /index: the routes" "$(jq -r '[.routes[].pod] | join(",")' "$T/body")" "gateway,slow,fail"
check "POST /index: status success" "$(jq -r .status.code "$T/body")" "0"
check "POST /index: the endpoint" "$(jq -r .header.execEndpoint "$T/body")" "/index"

code=$(http_code POST /post -d '{"exec_endpoint": "/anything", "data": ["a", "b", "c"]}')
check "POST /post: 200" "$code" "200"
check "POST /post: the endpoint" "$(jq -r .header.execEndpoint "$T/body")" "/anything"
check "POST /post: 3 documents" "$(jq '.data.docs | length' "$T/body")" "3"
check "PUT /update: 200" "$(http_code PUT /update -d '{}')" "200"
check "DELETE /delete: 200" "$(http_code DELETE /delete -d '{"data": ["x"]}')" "200"
check "POST /search with an empty body: 200" "$(http_code POST /search)" "200"

code=$(http_code POST /index -d '{"data": ["x"], "parameters": {"fail": true}}')
check "an executor's error: 200" "$code" "200"
check "an executor's error: status 3" "$(jq -r .status.code "$T/body")" "3"
check "an executor's error: its executor" "$(jq -r .status.exception.executor "$T/body")" "fail"

check "GET /openapi.json: 200" "$(http_code GET /openapi.json)" "200"
check "GET /openapi.json: OpenAPI 3" "$(jq -r .openapi "$T/body")" "3.0.3"
check "GET /openapi.json: /index is described" "$(jq -r '.paths["/index"].post.operationId' "$T/body")" "post_index"
check "GET /docs: 200" "$(http_code GET /docs)" "200"
check_contains "GET /docs: HTML" "$(cat "$T/headers")" "text/html"

# ---- health, metrics --------------------------------------------------------------------
check "GET /health/live: 200" "$(http_code GET /health/live)" "200"
check "GET /health/ready: 200" "$(http_code GET /health/ready)" "200"
check "GET /health/ready: both executors" "$(jq -c '[.executors[] | [.name, .ready, .replicas_ready, .replicas, .restarts]]' "$T/body")" \
      '[["slow",true,1,1,0],["fail",true,1,1,0]]'
check "GET /metrics: 200" "$(http_code GET /metrics)" "200"
check_contains "GET /metrics: Prometheus' text format" "$(cat "$T/headers")" "text/plain; version=0.0.4"
check_contains "GET /metrics: the requests counted" "$(cat "$T/body")" 'flowhost_requests_total{endpoint="/index"'
check "POST /health/live: 405" "$(http_code POST /health/live)" "405"

# ---- refusals -----------------------------------------------------------------------------
check "an unknown path: 404" "$(http_code GET /nowhere)" "404"
check "GET /index: 405" "$(http_code GET /index)" "405"
check_contains "GET /index: Allow" "$(cat "$T/headers")" "Allow: POST"
code=$(http_code POST /post -d '{"data": [{"text": "a"}, ')
check "broken JSON: 400" "$code" "400"
check_contains "broken JSON: the position" "$(jq -r .detail "$T/body")" "line 1, column"
check "broken JSON: the line" "$(jq -r .line "$T/body")" "1"
code=$(http_code POST /index -d '{"data": 5}')
check "a wrong type: 400" "$code" "400"
check_contains "a wrong type: says what" "$(jq -r .detail "$T/body")" "'data' must be an array"
check "a bad X-Flowhost-Timeout: 400" "$(http_code POST /index -H 'X-Flowhost-Timeout: soon' -d '{}')" "400"
head -c 100000 /dev/zero | tr '\0' 'a' | sed 's/^/{"data": ["/; s/$/"]}/' >"$T/big.json"
code=$(http_code POST /index --data-binary @"$T/big.json")
check "a body over max_message_size: 413" "$code" "413"
check_contains "413: says why" "$(jq -r .detail "$T/body")" "max_message_size"
code=$(http_code POST /index -H 'Transfer-Encoding: chunked' --data-binary @"$T/big.json")
check "a chunked body over max_message_size: 413" "$code" "413"

# ---- deadlines, a full flow, keep-alive ---------------------------------------------------
code=$(http_code POST /index -H 'X-Flowhost-Timeout: 200' -d '{"parameters": {"sleep_ms": 1500}}')
check "past the request's deadline: 504" "$code" "504"
check_contains "504: says why" "$(jq -r .detail "$T/body")" "no answer within 200 ms"
check "after a 504, the flow serves" "$(http_code POST /index -d '{"data": ["after"]}')" "200"
check "the answer after a 504 is its own" "$(jq -r '.data.docs[0].text' "$T/body")" "after"

# A client that goes away while its request is inside: the answer is dropped.
curl -s -m 0.3 "$URL/index" -d '{"parameters": {"sleep_ms": 800}}' >/dev/null 2>&1 || true
check "after a client went away, the flow serves" "$(http_code POST /index -d '{}')" "200"

# max_inflight 4 keeps 1 slot for requests that wait: with 3 inside, a no-wait one is 503.
SLOW=()
for k in 1 2 3; do
    curl -s -m 20 -o "$T/slow$k" "$URL/index" -d '{"parameters": {"sleep_ms": 1500}}' &
    SLOW+=($!)
done
sleep 0.5
code=$(http_code POST /index -H 'X-Flowhost-No-Wait: 1' -d '{}')
check "the flow full, no wait: 503" "$code" "503"
check_contains "503: Retry-After" "$(cat "$T/headers")" "Retry-After: 1"
check_contains "503: says why" "$(jq -r .detail "$T/body")" "busy: the flow is full"
code=$(http_code POST /index -d '{"data": ["waited"]}')
check "the flow full, a request that waits: 200" "$code" "200"
wait "${SLOW[@]}" || true
check "the slow ones are answered" "$(cat "$T/slow1" "$T/slow2" "$T/slow3" | jq -s '[.[].status.code] | join(",")' -r)" "0,0,0"

out=$(curl -s -m 20 -w '%{num_connects} ' -d '{}' "$URL/index" -o /dev/null "$URL/index" -o /dev/null "$URL/index" -o /dev/null \
      -H 'Content-Type: application/json')
check "keep-alive: 3 requests on 1 connection" "$out" "1 0 0 "

# ---- Python's urllib ------------------------------------------------------------------------
python3 - "$URL" <<'PY' >"$T/py.out" 2>&1 || fail "urllib: $(cat "$T/py.out")"
import json, sys, urllib.request, urllib.error
url = sys.argv[1]
body = json.dumps({"data": [{"id": "d1", "text": "one", "tags": {"n": 7, "f": 7.5}}],
                   "parameters": {"k": 2, "nested": {"deep": [1, 2.0]}}}).encode()
req = urllib.request.Request(url + "/search", data=body, headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as r:
    assert r.status == 200, r.status
    out = json.load(r)
doc = out["data"]["docs"][0]
assert doc["id"] == "d1" and doc["text"] == "one", doc
assert type(doc["tags"]["n"]) is int and doc["tags"]["n"] == 7, doc["tags"]
assert type(doc["tags"]["f"]) is float, doc["tags"]
p = out["parameters"]
assert type(p["k"]) is int and type(p["nested"]["deep"][0]) is int and type(p["nested"]["deep"][1]) is float, p
try:
    urllib.request.urlopen(urllib.request.Request(url + "/post", data=b'{"data": [', method="POST"), timeout=10)
    raise SystemExit("broken JSON was taken")
except urllib.error.HTTPError as e:
    assert e.code == 400, e.code
    assert "line 1" in json.load(e)["detail"]
print("ok")
PY
check "urllib: documents and typed values back" "$(cat "$T/py.out")" "ok"

# ---- flowhost ping --------------------------------------------------------------------------
check "ping: a ready flow" "$("$FLOWHOST" ping "$ADDR" 2>&1; echo "rc=$?")" "$ADDR is ready
rc=0"
rc=0
"$FLOWHOST" ping 2>/dev/null || rc=$?
check "ping: no address is bad usage" "$rc" "2"
rc=0
"$FLOWHOST" ping --timeout x "$ADDR" 2>/dev/null || rc=$?
check "ping: a bad --timeout is bad usage" "$rc" "2"
# A port nobody serves (the HTTP one takes no ZeroMQ): no answer within the timeout.
expect_fail "ping: no flow there" 1 "no answer from" -- "$FLOWHOST" ping --timeout 300 "${URL#http://}"

# ---- a drain with an HTTP request inside --------------------------------------------------
curl -s -m 20 -o "$T/drained" -w '%{http_code}' "$URL/index" -d '{"data": ["inside"], "parameters": {"sleep_ms": 800}}' >"$T/drained.code" &
CURL_PID=$!
sleep 0.3
kill -TERM "$FLOW_PID"
sleep 0.1
code=$(http_code POST /index -d '{}')
check "draining: a new request is 503" "$code" "503"
wait "$CURL_PID" || true
check "draining: the request inside is answered" "$(cat "$T/drained.code")" "200"
check "draining: with its documents" "$(jq -r '.data.docs[0].text' "$T/drained")" "inside"
rc=0
wait "$FLOW_PID" || rc=$?
FLOW_PID=""
check "the flow stops with status 0" "$rc" "0"
check "no sanitizer report" "$(grep -c -E 'Sanitizer|runtime error:' "$T/run.log" || true)" "0"

# ---- a second signal while HTTP requests are inside: they are told, the host exits 0 -------
start_http_flow "$T/flow.yml"
curl -s -m 10 -o "$T/stop1" -w '%{http_code}' "$URL/index" -d '{"parameters": {"sleep_ms": 3000}}' >"$T/stop1.code" &
S1=$!
curl -s -m 10 -o "$T/stop2" -w '%{http_code}' "$URL/index" -d '{"parameters": {"sleep_ms": 3000}}' >"$T/stop2.code" &
S2=$!
sleep 0.5
kill -TERM "$FLOW_PID"
sleep 0.3
kill -TERM "$FLOW_PID"
rc=0
wait "$FLOW_PID" || rc=$?
FLOW_PID=""
check "a second signal: the flow exits 0" "$rc" "0"
wait "$S1" "$S2" || true
check "a second signal: the requests inside are told" "$(cat "$T/stop1.code") $(cat "$T/stop2.code")" "503 503"
check_contains "a second signal: why" "$(cat "$T/stop1")" "the flow stopped"
check "a second signal: no sanitizer report, no abort" "$(grep -c -E 'Sanitizer|runtime error:|Fatal error' "$T/run.log" || true)" "0"

# ---- an executor that cannot start again: not ready -----------------------------------------
cat >"$T/fragile.yml" <<EOF
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
  workspace: $T/ws
executors:
  - {name: fragile, uses: Fragile}
EOF
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"
start_http_flow "$T/fragile.yml"
code=$(http_code POST /index -d '{"data": [{"text": "b", "tags": {"break": true}}]}')
check "a crash: 200 with the error inside" "$code:$(jq -r .status.code "$T/body")" "200:3"
for _ in $(seq 1 100); do
    [ "$(http_code GET /health/ready)" = 503 ] && break
    sleep 0.1
done
check "an executor without a ready replica: /health/ready 503" "$(http_code GET /health/ready)" "503"
check "/health/ready names it" "$(jq -c '[.ready, .executors[0].name, .executors[0].ready, .executors[0].replicas_ready, .executors[0].replicas, (.executors[0].restarts > 0)]' "$T/body")" \
      '[false,"fragile",false,0,1,true]'
check "/health/live is still 200" "$(http_code GET /health/live)" "200"
expect_fail "ping: not ready" 1 "is not ready: executor 'fragile' has no ready replica" -- "$FLOWHOST" ping "$ADDR"
stop_flow
done_checks
