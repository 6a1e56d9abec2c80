#!/usr/bin/env bash
# HTTP clients that close their connection while their request waits (for a slot, or
# for the flow's answer) through the real binary: their connections are closed at once
# (http_max_connections is free again, /health/live answers), the requests that had no
# slot yet are dropped, those inside the flow go on for nobody and their answers are
# dropped on arrival, never written into a connection that took the same descriptor;
# every one is counted as cancelled, and new clients are served.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

# 20 connections at most; 4 requests inside the flow at once, each 1 s long: of 20
# requests, 4 are inside the flow and 16 wait for a slot; none is answered before the
# clients go.
cat >"$T/flow.yml" <<'EOF'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
  http_max_connections: 20
  max_inflight: 4
executors:
  - name: slow
    uses: Sleep
EOF
start_http_flow "$T/flow.yml"
HOSTPORT=${URL#http://}

metric() { # metric SERIES: its value in a scrape (0 if absent)
    curl -s -m 5 "$URL/metrics" | awk -v s="$1" '$1 == s {v = $2} END {print v + 0}'
}

# 20 clients post, wait until every request is read, and close. Then 10 new idle
# connections (which may take the closed ones' descriptors) listen for 4.5 s: the
# answers of the requests inside the flow come then, and must reach none of them.
python3 - "$HOSTPORT" "$T/closed" "$T/stray" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
body = b'{"data": ["x"], "parameters": {"sleep_ms": 1000}}'
req = (b"POST /index HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       b"Content-Length: %d\r\n\r\n" % len(body)) + body
socks = [socket.create_connection((host, int(port))) for _ in range(20)]
for s in socks:
    s.sendall(req)
time.sleep(0.4)
for s in socks:
    s.close()
idle = [socket.create_connection((host, int(port))) for _ in range(10)]
open(sys.argv[2], "w").write("closed\n")
time.sleep(4.5)
stray = 0
for s in idle:
    s.setblocking(False)
    try:
        stray += len(s.recv(65536))
    except BlockingIOError:
        pass
open(sys.argv[3], "w").write("%d\n" % stray)
PY
CLIENTS=$!
for _ in $(seq 1 100); do [ -s "$T/closed" ] && break; sleep 0.05; done
[ -s "$T/closed" ] || fail "the clients did not run"
sleep 0.3
# Before: the 20 closed connections were kept until their answers (20 s of work), and
# the 10 idle ones beyond were told 503.
check "20 clients gone while waiting: /health/live answers at once" \
    "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/health/live")" "200"
check "their connections are closed (only the 10 idle and the scrape's stay)" \
    "$(metric flowhost_http_connections)" "11"
check "their requests are counted as cancelled" \
    "$(metric 'flowhost_requests_total{endpoint="/index",status="cancelled"}')" "20"
code=$(http_code POST /index -d '{"data": ["after"]}')
check "a new client is served" "$code" "200"
check "...with its own answer" "$(jq -r '.data.docs[0].text' "$T/body")" "after"
wait "$CLIENTS"
check "no answer of a gone client reached a new connection" "$(cat "$T/stray")" "0"
check "the gone clients' answers are not counted as served" \
    "$(metric 'flowhost_requests_total{endpoint="/index",status="success"}')" "1"
check "the flow still serves" "$(http_code POST /index -d '{"data": ["again"]}')" "200"
stop_flow
done_checks
