#!/usr/bin/env bash
# A remote worker against hostile or unlucky peers (tools/fh_peer.c plays a gateway or a
# stranger on a DEALER): a second gateway's hello changes only its own settings (none of
# the gateway before carries over, nothing points into a hello freed); a hello a flow
# could not give is refused with why; a new gateway's hello that comes while the worker
# gathers a batch ends the batch (its requests were the gone gateway's); strangers cannot
# make it hold frames over its --max-message-size; a gateway past its credit cannot stop
# the listener (probes, heartbeats) behind a long handler; a flood of idle connections
# never spends the descriptors libzmq needs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/remote_lib.sh"
PEER=$TOOLS/fh_peer

# --- a second gateway whose hello names no executor -------------------------------------
start_worker a -- --uses Echo --name own
out=$("$PEER" "tcp://$WADDR_a" conn hello:1:first:0:0:0: recv:300 disc close \
      conn hello:2::0:0:0: recv:300 reqbad recv:500)
check_contains "first gateway served under its executor name" "$out" "hello-ok"
check_contains "a hello without a name: the worker's own name, not the gateway's before" \
      "$out" "code=1 executor=own error=malformed request"

# --- hellos a flow could not give: refused, saying why -----------------------------------
out=$("$PEER" "tcp://$WADDR_a" conn hello:3:x:0:10:4000000000: recv:300)
check_contains "a batch timeout of 46 days is refused" "$out" \
      "status=its batching rule for '/index' is not one a flow can give"
out=$("$PEER" "tcp://$WADDR_a" conn 'hello:4:x:0:0:0:{"tags__a": {"$nope": 1}}' recv:300)
check_contains "a 'when' that does not compile is refused" "$out" "status=its 'when' does not compile"
out=$("$PEER" "tcp://$WADDR_a" conn hello:5:x:2147483647:0:0: recv:300)
check_contains "a max_message_size over the worker's is refused" "$out" \
      "status=the flow's max_message_size (2147483647) is over this worker's --max-message-size (268435456)"
check_contains "the worker logs the refusal" "$(cat "$T/a.log")" "refused the gateway at"
# The worker still serves a real flow after all that.
cat >"$T/a.yml" <<YML
executors:
  - {name: e, host: "$WADDR_a"}
YML
start_flow "$T/a.yml"
echo '{"id": "x"}' >"$T/one.ndjson"
rc=0
"$FLOWHOST" post /index "$T/one.ndjson" --to "$ADDR" -q --timeout 10000 >"$T/a.out" 2>/dev/null || rc=$?
check "after the hostile hellos a flow is served" "$rc:$(jq -r '.status.code + " " + .routes[1].executor' "$T/a.out")" \
      "0:SUCCESS e"
stop_flow

# --- a new gateway while the worker gathers a batch --------------------------------------
start_worker b -- --uses Echo --name own
cat >"$T/b1.yml" <<YML
executors:
  - name: first
    host: "$WADDR_b"
    uses_dynamic_batching: {/index: {preferred_batch_size: 1000, timeout: 60000}}
    timeout: 120000
YML
cat >"$T/b2.yml" <<YML
executors:
  - {name: second, host: "$WADDR_b"}
YML
start_flow "$T/b1.yml"
"$FLOWHOST" post /index "$T/one.ndjson" --to "$ADDR" -q --timeout 120000 >/dev/null 2>&1 &
post_pid=$!
sleep 1 # the worker opened a batch of 1000 that waits 60 s
kill -KILL "$FLOW_PID"
wait "$FLOW_PID" 2>/dev/null || true
kill "$post_pid" 2>/dev/null || true
wait "$post_pid" 2>/dev/null || true
FLOW_PID=""
wait_log "$T/b.log" "dropped the gateway" 10
start_flow "$T/b2.yml"
rc=0
"$FLOWHOST" post /index "$T/one.ndjson" --to "$ADDR" -q --timeout 10000 >"$T/b.out" 2>/dev/null || rc=$?
check "the next gateway's request is served at once, not after the old batch's 60 s" \
      "$rc:$(jq -r '.status.code' "$T/b.out")" "0:SUCCESS"
check "and under its own executor name, with its own settings (no batch)" \
      "$(jq -r '.routes[1].executor + " batch=" + (.routes[1].batch // 0 | tostring)' "$T/b.out")" \
      "second batch=0"
stop_flow

# --- strangers and frames: the worker's own --max-message-size, from the first byte -----
start_worker c -- --uses Echo --max-message-size 1048576
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
before=$(rss "$WPID_c")
"$PEER" "tcp://$WADDR_c" conn big:200000000 sleep:1500 close >/dev/null
after=$(rss "$WPID_c")
echo "worker RSS before ${before} kB, after a 200 MB frame ${after} kB"
check "a stranger's 200 MB frame is refused: the worker holds < 50 MB more" \
      "$(( after - before < 50000 ))" "1"
rc=0
"$FLOWHOST" ping -q "$WADDR_c" || rc=$?
check "the worker still answers a probe" "$rc" "0"
w_rc=0
timeout 10 "$FLOWHOST" worker --listen tcp://127.0.0.1:1 --uses Echo --max-message-size 10 \
    2>"$T/stderr" || w_rc=$?
check "--max-message-size below 1024: exit 2" "$w_rc" "2"
check_contains "and says why" "$(cat "$T/stderr")" "--max-message-size must be at least 1024"

# --- a gateway over its credit, behind a long handler: the listener stays free --------
start_worker d -- --uses Sleep
"$PEER" "tcp://$WADDR_d" conn hello:7:s:0:0:0: recv:200 sreq:5000 flood:3000 sleep:4000 \
    >/dev/null &
peer_pid=$!
sleep 1.5 # the 5 s handler runs, 3000 requests came behind it
rc=0
"$FLOWHOST" ping -q --timeout 2000 "$WADDR_d" || rc=$?
check "a probe is answered while 3000 requests wait behind a 5 s handler" "$rc" "0"
wait_log "$T/d.log" "dropped a request of its gateway" 5
check_contains "the requests over the credit bound are dropped, and said" "$(cat "$T/d.log")" \
      "the most a flow's credit allows is 256"
wait "$peer_pid" || true

# --- after a `timeout`, the worker is taken back only once its old handler is done ----
start_worker f -- --uses Sleep
cat >"$T/f.yml" <<YML
executors:
  - {name: slow, host: "$WADDR_f", timeout: 500}
YML
start_flow "$T/f.yml"
"$FLOWHOST" post /index "$T/one.ndjson" --to "$ADDR" -q --timeout 10000 \
    --parameters '{"sleep_ms": 3000}' >"$T/f1.out" 2>/dev/null || true
check_contains "a 3 s request times out at 500 ms" "$(jq -r .status.description "$T/f1.out")" "timed out"
wait_log "$T/run.log" "is back" 10
for i in 1 2 3 4 5; do echo "{\"id\": \"d$i\"}"; done >"$T/five.ndjson"
"$FLOWHOST" post /index "$T/five.ndjson" --to "$ADDR" --request-size 1 -q --timeout 10000 \
    --parameters '{"sleep_ms": 0}' >"$T/f2.out" 2>/dev/null || true
check "once it is back, the next five requests succeed (none waits behind the old handler)" \
      "$(jq -r .status.code "$T/f2.out" | sort | uniq -c | tr -s ' ')" " 5 SUCCESS"
stop_flow

# --- batching rules past the 64th reach a remote worker too --------------------------
start_worker g -- --uses Batcher
{
    echo "executors:"
    echo "  - name: many"
    echo "    host: \"$WADDR_g\""
    echo "    uses_dynamic_batching:"
    for i in $(seq 1 70); do echo "      /e$i: {preferred_batch_size: 3, timeout: 3000}"; done
} >"$T/rules.yml"
start_flow "$T/rules.yml"
for i in 1 2 3; do echo "{\"id\": \"d$i\"}"; done >"$T/three.ndjson"
"$FLOWHOST" post /e70 "$T/three.ndjson" --to "$ADDR" --request-size 1 -q --timeout 10000 \
    >"$T/rules.out" 2>/dev/null || true
check "the 70th rule applies: three requests, every one answered, fewer calls than requests" \
      "$(jq -r .status.code "$T/rules.out" | sort | uniq -c | tr -s ' ') $(jq -s '[.[].docs[0].tags.batch_size] | max >= 2' "$T/rules.out")" \
      " 3 SUCCESS true"
stop_flow

# --- an address where no flowhost worker listens: no word of CURVE without keys --------
python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    try:
        c.recv(100); c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    except OSError:
        pass
    c.close()
' >"$T/http.port" &
http_pid=$!
REMOTE_PIDS+=("$http_pid") # killed at the end should the test fail
for _ in $(seq 1 100); do [ -s "$T/http.port" ] && break; sleep 0.05; done
cat >"$T/h.yml" <<YML
with: {timeout_ready: 1500}
executors:
  - {name: e, host: "127.0.0.1:$(cat "$T/http.port")"}
YML
start_flow "$T/h.yml"
wait_log "$T/run.log" "is unreachable" 10
check_contains "an HTTP server where a worker should be: the handshake failed, and why" \
      "$(cat "$T/run.log")" "the handshake failed: "
check "no word of CURVE when the flow has no keys" "$(grep -c CURVE "$T/run.log" || true)" "0"
stop_flow
kill "$http_pid"
wait "$http_pid" 2>/dev/null || true
REMOTE_PIDS=("${REMOTE_PIDS[@]/$http_pid/}")

# --- a flood of idle connections up to the descriptor limit -----------------------------
start_worker e prlimit --nofile=256:256 -- --uses Echo
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in ticks
ticks=$(getconf CLK_TCK)
c0=$(cpu "$WPID_e")
out=$("$TOOLS/fh_hostile" conns "$WADDR_e" 300 4 </dev/null)
c1=$(cpu "$WPID_e")
echo "$out; worker CPU over the flood: $(( (c1 - c0) * 1000 / ticks )) ms"
accepted=$(echo "$out" | sed -n 's/connections: \([0-9]*\) accepted.*/\1/p')
check "300 idle connections, a limit of 256 descriptors: 160 (+ those on their way) let in, not all it has" \
      "$(( accepted <= 210 ))" "1"
check "nothing spins meanwhile: under 2 s of CPU in the 5 s of the flood" \
      "$(( (c1 - c0) * 1000 / ticks < 2000 ))" "1"
wait_log "$T/e.log" "new ones wait" 5
rc=0
"$FLOWHOST" ping -q --timeout 5000 "$WADDR_e" || rc=$?
check "after the flood the worker answers a probe" "$rc" "0"

# --- SIGTERM during a slow init: it stops, and never listens ----------------------------
mkdir -p "$T/ws"
touch "$T/ws/stall" # Stall's init waits while the mark is there
"$FLOWHOST" worker --listen tcp://127.0.0.1:0 --uses Stall --workspace "$T/ws" 2>"$T/s.log" &
s_pid=$!
REMOTE_PIDS+=("$s_pid")
sleep 1
kill -TERM "$s_pid"
wait_log "$T/s.log" "stopping" 5
rm -f "$T/ws/stall"
rc=0
wait "$s_pid" || rc=$?
check "stopped during init: exit 0" "$rc" "0"
check "stopped during init: it never said it listens" "$(grep -c 'listening on' "$T/s.log" || true)" "0"

stop_workers
done_checks
