#!/usr/bin/env bash
# Descriptors and the HTTP gateway: with a limit of 1,024 (soft and hard), a client opens
# 1,100 idle HTTP connections, then a worker crashes and is restarted. HTTP connections
# count in the host's descriptor budget with ZeroMQ's (http_max_connections and
# max_connections lowered to share what the limit leaves), so the restart finds its
# descriptors: the host lives, a new worker runs and serves, and the ZeroMQ port too.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

cat >"$T/flow.yml" <<'EOF'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
executors:
  - {name: echo, uses: Echo}
EOF
rm -f "$T/addr"
( ulimit -n 1024; exec "$FLOWHOST" run --address-file "$T/addr" "$T/flow.yml" 2>"$T/run.log" ) &
FLOW_PID=$!
for _ in $(seq 1 300); do
    [ -f "$T/addr" ] && [ "$(wc -l <"$T/addr")" -ge 2 ] && break
    sleep 0.05
done
[ -f "$T/addr" ] && [ "$(wc -l <"$T/addr")" -ge 2 ] || fail "the flow did not start"
ADDR=$(sed -n 1p "$T/addr")
URL=$(sed -n 2p "$T/addr")
HOSTPORT=${URL#http://}
check "the host runs with a limit of 1024 descriptors" \
      "$(awk '/open files/ {print $4}' "/proc/$FLOW_PID/limits")" "1024"
check_contains "log: http_max_connections lowered to share the limit" "$(cat "$T/run.log")" \
    "http_max_connections lowered to"

# 1,100 idle connections (their client's own limit raised), held until $T/go appears.
python3 - "$HOSTPORT" 1100 "$T/held" "$T/go" <<'PY' &
import os, resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
host, port = sys.argv[1].rsplit(":", 1)
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex((host, int(port)))   # beyond the host's bound, left in its listen queue
    socks.append(s)
time.sleep(1)
open(sys.argv[3], "w").write("%d\n" % len(socks))
end = time.monotonic() + 20
while not os.path.exists(sys.argv[4]) and time.monotonic() < end:
    time.sleep(0.05)
PY
HOLD=$!
trap 'touch "$T/go"; cleanup' EXIT
for _ in $(seq 1 200); do [ -s "$T/held" ] && break; sleep 0.05; done
[ -s "$T/held" ] || fail "the connections were not opened"
fds=$(ls "/proc/$FLOW_PID/fd" | wc -l)
echo "# host descriptors in use with 1,100 HTTP connections open to it: $fds of 1024"
check "the host keeps descriptors free" "$(( fds < 960 ))" "1"

# A worker crashes: its restart needs descriptors (pipes, the new worker's connection).
worker=$(pgrep -P "$FLOW_PID" | head -n 1)
kill -KILL "$worker"
new=""
for _ in $(seq 1 100); do
    new=$(pgrep -P "$FLOW_PID" | head -n 1 || true)
    [ -n "$new" ] && [ "$new" != "$worker" ] && break
    sleep 0.05
done
sleep 1
kill -0 "$FLOW_PID" 2>/dev/null && alive=yes || alive=no
check "the host is alive after the worker's restart among 1,100 HTTP connections" "$alive" "yes"
check "a new worker runs" "$([ -n "$new" ] && [ "$new" != "$worker" ] && echo yes || echo no)" "yes"
echo '{"text": "over zmq"}' >"$T/in.ndjson"
out=$(timeout 20 "$FLOWHOST" post /index "$T/in.ndjson" --to "$ADDR" 2>"$T/post.err" || true)
check "the restarted worker serves (ZeroMQ client)" "$(echo "$out" | jq -r '.docs[0].text')" "over zmq"
touch "$T/go"
wait "$HOLD" || true
for _ in $(seq 1 100); do
    [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/health/live" || true)" = "200" ] && break
    sleep 0.1
done
check "once they are gone, HTTP serves" "$(http_code POST /index -d '{"data": ["x"]}')" "200"
stop_flow
done_checks
