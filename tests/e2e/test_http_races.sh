#!/usr/bin/env bash
# The HTTP gateway's races through the real binary: deadlines that pass while answers
# arrive (every request answered 200 or 504, each counted once in the metrics, the
# flow serving after), and a drain with connections open (requests inside answered, idle
# and half-sent connections closed, a new request refused, the host out with 0).
# Under the sanitizer build, stop_flow checks that nothing was reported.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

cat >"$T/flow.yml" <<'EOF'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
executors:
  - name: s
    uses: Sleep
    replicas: 4
EOF
start_http_flow "$T/flow.yml"
HOSTPORT=${URL#http://}

# ---- deadlines around the answer's arrival: 4 clients, 240 requests of 50 ms with a
# deadline of 46 to 56 ms -------------------------------------------------------------------
python3 - "$HOSTPORT" >"$T/race.out" 2>&1 <<'PY'
import collections, http.client, random, sys, threading
host, port = sys.argv[1].rsplit(":", 1)
counts, lock = collections.Counter(), threading.Lock()
def client(n):
    c = http.client.HTTPConnection(host, int(port), timeout=20)
    for _ in range(n):
        try:
            c.request("POST", "/index", b'{"data": ["x"], "parameters": {"sleep_ms": 50}}',
                      {"X-Flowhost-Timeout": str(random.randint(46, 56))})
            r = c.getresponse()
            r.read()
            st = r.status
        except Exception as e:
            st = type(e).__name__
            c.close()
            c = http.client.HTTPConnection(host, int(port), timeout=20)
        with lock:
            counts[st] += 1
ts = [threading.Thread(target=client, args=(60,)) for _ in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
print("200=%d 504=%d other=%d" % (counts[200], counts[504],
                                   sum(counts.values()) - counts[200] - counts[504]))
PY
echo "# deadline races: $(cat "$T/race.out")"
ok=$(tr ' ' '\n' <"$T/race.out" | awk -F= '$1 == 200 || $1 == 504 {n += $2} END {print n + 0}')
check "240 requests racing their deadlines: each answered 200 or 504" "$ok" "240"
scrape=$(curl -s -m 5 "$URL/metrics")
counted=$(echo "$scrape" | awk '/^flowhost_requests_total\{endpoint="\/index"/ {n += $2} END {print n + 0}')
check "each counted once in the metrics" "$counted" "240"
timeouts=$(echo "$scrape" | awk '/^flowhost_requests_total\{endpoint="\/index",status="timeout"\}/ {print $2}')
check "the 504s are the metrics' timeouts" "$timeouts" \
    "$(tr ' ' '\n' <"$T/race.out" | awk -F= '$1 == 504 {print $2}')"
check "after the races, the flow serves" "$(http_code POST /index -d '{"data": ["x"]}')" "200"

# ---- a drain with connections open ---------------------------------------------------------
python3 - "$HOSTPORT" "$FLOW_PID" >"$T/drain.out" 2>&1 <<'PY'
import os, signal, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
def conn():
    s = socket.create_connection((host, int(port)))
    s.settimeout(15)
    return s
body = b'{"data": ["d"], "parameters": {"sleep_ms": 500}}'
req = b"POST /index HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
posts = [conn() for _ in range(4)]
for s in posts:
    s.sendall(req)
idle = [conn() for _ in range(20)]
half = [conn() for _ in range(5)]
for s in half:
    s.sendall(b"POST /index HTTP/1.1\r\nHost: x\r\n")
halfbody = [conn() for _ in range(3)]
for s in halfbody:
    s.sendall(req[:-10])
time.sleep(0.3)
os.kill(int(sys.argv[2]), signal.SIGTERM)
answers = []
for s in posts:
    out = b""
    while b'"d"' not in out:
        b = s.recv(65536)
        if not b:
            break
        out += b
    answers.append(out.split(b"\r\n")[0].decode())
print("inside:", " ".join(a.replace(" ", "_") for a in answers))
def state(s):
    s.settimeout(5)
    try:
        return "closed" if s.recv(1000) == b"" else "answered"
    except socket.timeout:
        return "open"
    except OSError:
        return "closed"
print("idle:", " ".join(sorted(set(state(s) for s in idle))))
print("half:", " ".join(sorted(set(state(s) for s in half + halfbody))))
PY
cat "$T/drain.out" | sed 's/^/# /'
check "drain: the 4 requests inside are answered" \
    "$(grep '^inside:' "$T/drain.out")" "inside: HTTP/1.1_200_OK HTTP/1.1_200_OK HTTP/1.1_200_OK HTTP/1.1_200_OK"
check "drain: idle connections are closed" "$(grep '^idle:' "$T/drain.out")" "idle: closed"
check "drain: half-sent requests are closed" "$(grep '^half:' "$T/drain.out")" "half: closed"
rc=0
wait "$FLOW_PID" || rc=$?
check "drain: the host exits 0" "$rc" "0"
FLOW_PID=""
check "no sanitizer report from the flow or its workers" \
      "$(grep -c -E 'Sanitizer|runtime error:' "$T/run.log" || true)" "0"
done_checks
