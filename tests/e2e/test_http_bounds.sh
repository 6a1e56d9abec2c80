#!/usr/bin/env bash
# The HTTP gateway's bounds through the real binary: a slowloris client is cut within
# http_read_timeout while the flow serves; 1,000 idle connections are held while curl is
# answered, the host's memory bounded; over http_max_connections a clear refusal; headers
# over http_max_header_size refused; keep-alive off closes every connection.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"
ulimit -n 4096 2>/dev/null || true

cat >"$T/flow.yml" <<'EOF'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
  http_read_timeout: 1500
  http_max_header_size: 8192
  http_max_connections: 1100
executors:
  - name: slow
    uses: Sleep
EOF
start_http_flow "$T/flow.yml"
HOSTPORT=${URL#http://}

# ---- slowloris: a header byte per second ------------------------------------------------
python3 - "$HOSTPORT" >"$T/loris.out" 2>&1 <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
start = time.monotonic()
sent = 0
try:
    for b in b"X-Slow: " + b"a" * 30:          # 38 s to send it all
        s.sendall(bytes([b]))
        sent += 1
        time.sleep(1)
        s.settimeout(0.01)
        try:
            if s.recv(1) == b"":
                break
        except socket.timeout:
            pass
        s.settimeout(None)
except (BrokenPipeError, ConnectionResetError):
    pass
print("cut after %d bytes, %.1f s" % (sent, time.monotonic() - start))
PY
LORIS=$!
sleep 0.5
check "while a slowloris sends, the flow serves" "$(http_code POST /index -d '{"data": ["x"]}')" "200"
wait "$LORIS"
loris=$(cat "$T/loris.out")
echo "# slowloris: $loris"
bytes=$(echo "$loris" | awk '{print $3}')
# 1.5 s of read timeout, checked every 100 ms: cut after a few bytes of its 38.
[ "$bytes" -le 5 ] || fail "the slowloris client was not cut within http_read_timeout: $loris"
check "the slowloris client is cut within http_read_timeout" "cut" "cut"
check_contains "the cut is logged" "$(cat "$T/run.log")" "sent no whole request within 1500 ms"

# ---- 1,000 idle connections ---------------------------------------------------------------
rss0=$(rss_kb "$FLOW_PID")
python3 - "$HOSTPORT" 1000 "$T/held" <<'PY' &
import os, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
socks = [socket.create_connection((host, int(port))) for _ in range(int(sys.argv[2]))]
open(sys.argv[3], "w").write("%d\n" % len(socks))
time.sleep(1.2)   # held within the read timeout
PY
HOLD=$!
for _ in $(seq 1 100); do [ -s "$T/held" ] && break; sleep 0.05; done
check "1,000 connections are open" "$(cat "$T/held")" "1000"
code=$(http_code POST /index -d '{"data": ["among many"]}')
rss1=$(rss_kb "$FLOW_PID")
check "with 1,000 idle connections, curl is answered" "$code" "200"
check "with 1,000 idle connections, the answer is right" "$(jq -r '.data.docs[0].text' "$T/body")" "among many"
echo "# host RSS: $rss0 KiB before, $rss1 KiB with 1,000 idle connections"
[ $((rss1 - rss0)) -lt 65536 ] || fail "1,000 idle connections took $((rss1 - rss0)) KiB (over 64 MiB)"
check "1,000 idle connections take less than 64 MiB" "ok" "ok"
wait "$HOLD"
# Held beyond the read timeout, they are closed; the flow goes on.
sleep 2
check "after the idle ones were closed, the flow serves" "$(http_code POST /index -d '{}')" "200"

# ---- headers over http_max_header_size ----------------------------------------------------
big=$(head -c 12000 /dev/zero | tr '\0' 'h')
code=$(http_code GET /health/live -H "X-Big: $big")
case "$code" in
    413|431) check "a header over http_max_header_size is refused" "refused" "refused" ;;
    *) fail "a header over http_max_header_size: got status $code" ;;
esac
check "after a large header, the flow serves" "$(http_code GET /health/live)" "200"
stop_flow

# ---- bodies held while they arrive: within the byte budget -----------------------------------
# 40 clients each send most of a 4,000,000-byte body and stop: 160 MB if every body were
# kept; the gateway keeps at most 4 x max_message_size (16 MiB) of bodies: the others are
# answered 503 at once, and a curl that comes meanwhile too.
cat >"$T/bodies.yml" <<'EOF'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
  max_message_size: 4194304
  http_read_timeout: 30000
executors:
  - name: slow
    uses: Sleep
EOF
start_http_flow "$T/bodies.yml"
HOSTPORT=${URL#http://}
rss0=$(rss_kb "$FLOW_PID")
python3 - "$HOSTPORT" "$T/sent" <<'PY' &
import select, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
chunk = b"a" * 65536
socks, left = [], {}
for _ in range(40):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"POST /index HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n")
    s.setblocking(False)
    socks.append(s)
    left[s] = 3900000
end = time.monotonic() + 4
sent = 0
while time.monotonic() < end and any(left.values()):
    _, w, _ = select.select([], [s for s in socks if left[s]], [], 0.2)
    for s in w:
        try:
            n = s.send(chunk[:min(len(chunk), left[s])])
        except BlockingIOError:
            continue
        except OSError:      # answered 503 and closed
            left[s] = 0
            continue
        left[s] -= n
        sent += n
open(sys.argv[2], "w").write("%d\n" % sent)
time.sleep(2)
PY
BODIES=$!
for _ in $(seq 1 200); do [ -s "$T/sent" ] && break; sleep 0.05; done
sleep 0.5
rss1=$(rss_kb "$FLOW_PID")
echo "# 40 unfinished 4 MB bodies: $(( $(cat "$T/sent") / 1048576 )) MiB sent; host RSS $rss0 KiB before, $rss1 KiB while they wait"
[ $((rss1 - rss0)) -lt 49152 ] || fail "unfinished bodies took $((rss1 - rss0)) KiB of the host (over 48 MiB)"
check "unfinished bodies take at most the byte budget (and a margin)" "ok" "ok"
head -c 1000000 /dev/zero | tr '\0' 'b' | sed 's/^/{"data": ["/; s/$/"]}/' >"$T/mega.json"
code=$(http_code POST /index --data-binary @"$T/mega.json")
check "while the budget is taken, a new body: 503" "$code" "503"
check_contains "503: says why" "$(jq -r .detail "$T/body")" "bodies being received"
check "while the budget is taken, a request without a body is served" "$(http_code GET /health/live)" "200"
wait "$BODIES"
sleep 0.3
check "after they went, the flow serves" "$(http_code POST /index -d '{"data": ["x"]}')" "200"
stop_flow

# ---- over http_max_connections: a clear refusal; keep-alive off ------------------------------
cat >"$T/few.yml" <<'EOF'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
  http_max_connections: 20
  http_keep_alive: false
executors:
  - name: slow
    uses: Sleep
EOF
start_http_flow "$T/few.yml"
HOSTPORT=${URL#http://}
python3 - "$HOSTPORT" 20 "$T/held2" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
socks = [socket.create_connection((host, int(port))) for _ in range(int(sys.argv[2]))]
open(sys.argv[3], "w").write("%d\n" % len(socks))
time.sleep(2)
PY
HOLD=$!
for _ in $(seq 1 100); do [ -s "$T/held2" ] && break; sleep 0.05; done
sleep 0.2
code=$(curl -s -m 5 -o "$T/body" -D "$T/headers" -w '%{http_code}' "$URL/health/live" || true)
check "over http_max_connections: 503 at once" "$code" "503"
check_contains "over http_max_connections: says why" "$(jq -r .detail "$T/body")" "http_max_connections"
check_contains "over http_max_connections: Retry-After" "$(cat "$T/headers")" "Retry-After: 1"
wait "$HOLD"
sleep 0.2
check "once they are closed, served again" "$(http_code GET /health/live)" "200"
out=$(curl -s -m 20 -w '%{num_connects} ' -d '{}' "$URL/index" -o /dev/null "$URL/index" -o /dev/null)
check "keep-alive off: a connection per request" "$out" "1 1 "
code=$(http_code POST /index -d '{}')
check_contains "keep-alive off: Connection: close" "$(cat "$T/headers")" "Connection: close"
stop_flow
done_checks
