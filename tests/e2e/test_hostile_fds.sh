#!/usr/bin/env bash
# Descriptors: with a limit of 1,024 (soft and hard), a client opens 1,030 idle
# connections, then a worker crashes and is restarted. The host keeps a reserve of
# descriptors and bounds client connections (max_connections, lowered to fit the limit),
# so it does not abort (unbounded, libzmq aborted on "Too many open files" accepting the
# new worker), spins no CPU at the bound, and serves again once the connections are gone.
# Then with.max_connections itself: a bound of 4 lets in 4 connections.
. "$(dirname "$0")/lib.sh"

HOSTILE=$TOOLS/fh_hostile
[ -x "$HOSTILE" ] || fail "$HOSTILE not built"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HOLDERS=()
# The tool holding connections waits for its input to end: also when a check fails.
trap 'kill "${HOLDERS[@]}" 2>/dev/null || true; cleanup' EXIT

cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: echo, uses: Echo}
YML
rm -f "$T/addr"
( ulimit -n 1024; exec "$FLOWHOST" run --address-file "$T/addr" "$T/flow.yml" 2>"$T/run.log" ) &
FLOW_PID=$!
for _ in $(seq 1 300); do
    [ -s "$T/addr" ] && break
    sleep 0.05
done
[ -s "$T/addr" ] || fail "the flow did not start"
ADDR=$(cat "$T/addr")
check "the host runs with a limit of 1024 descriptors" \
      "$(awk '/open files/ {print $4}' "/proc/$FLOW_PID/limits")" "1024"

# 1,030 idle connections, held until the pipe closes.
mkfifo "$T/hold"
"$HOSTILE" conns "$ADDR" 1030 60 <"$T/hold" >"$T/conns.out" &
hostile=$!
HOLDERS+=("$hostile")
exec 3>"$T/hold"
for _ in $(seq 1 400); do
    [ -s "$T/conns.out" ] && break
    sleep 0.05
done
cat "$T/conns.out"
# A worker crashes: its restart needs descriptors.
worker=$(pgrep -P "$FLOW_PID" | head -n 1)
kill -KILL "$worker"
for _ in $(seq 1 100); do
    new=$(pgrep -P "$FLOW_PID" | head -n 1 || true)
    [ -n "$new" ] && [ "$new" != "$worker" ] && break
    sleep 0.05
done
sleep 1 # the new worker connects to the host: an accept that needs a descriptor
kill -0 "$FLOW_PID" 2>/dev/null && alive=yes || alive=no
check "the host is alive after the worker's restart at the bound" "$alive" "yes"
check "a new worker runs" "$(( new != worker ))" "1"

# Connections the host has (established, on its side), once those refused are closed.
port=${ADDR##*:}
# /proc/net/tcp: local address:port in hex, state 01 is ESTABLISHED.
established() {
    awk -v p=":$(printf '%04X' "$port")" 'substr($2, length($2) - 4) == p && $4 == "01"' \
        /proc/net/tcp | wc -l
}
for _ in $(seq 1 120); do
    [ "$(established)" -le 888 ] && break
    sleep 0.1
done
kept=$(established)
echo "client connections the host kept: $kept"
check "the host keeps at most 888 client connections" "$(( kept <= 888 ))" "1"
check "the host held back connections over the bound" \
      "$(( $(awk '/^connections:/ {print $2}' "$T/conns.out") < 1030 ))" "1"
check_contains "log: new connections wait" "$(cat "$T/run.log")" "client connections (max_connections): new ones wait"
check_contains "log: max_connections lowered to fit the limit" "$(cat "$T/run.log")" \
    "max_connections lowered to 888: the descriptor limit is 1024"
fds=$(ls "/proc/$FLOW_PID/fd" | wc -l)
echo "host descriptors in use: $fds of 1024"
check "the host keeps descriptors free" "$(( fds < 1000 ))" "1"

# No CPU spent waiting at the bound: at most a fifth of a second in two.
before=$(ticks "$FLOW_PID"); sleep 2; after=$(ticks "$FLOW_PID")
echo "host CPU at the bound: $(( after - before )) ticks of 1/100 s in 2 s"
check "the host does not spin at the bound" "$(( after - before < 20 ))" "1"
# The connections go: served again.
exec 3>&-
wait "$hostile"
out=$(echo '{"text": "again"}' | timeout 20 "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 10000)
check "served again once the connections are gone" "$(jq -r .docs[0].text <<<"$out")" "again"
stop_flow
check "the runtime directory is removed" "$(ls -A "$XDG_RUNTIME_DIR")" ""

# with.max_connections: 4.
cat >"$T/four.yml" <<YML
jtype: Flow
version: '1'
with:
  max_connections: 4
executors:
  - {name: echo, uses: Echo}
YML
start_flow "$T/four.yml"
rm -f "$T/hold" "$T/conns.out"
mkfifo "$T/hold"
"$HOSTILE" conns "$ADDR" 10 60 50 <"$T/hold" >"$T/conns.out" &
hostile=$!
HOLDERS+=("$hostile")
exec 3>"$T/hold"
for _ in $(seq 1 400); do
    [ -s "$T/conns.out" ] && break
    sleep 0.05
done
cat "$T/conns.out"
check "max_connections 4: 4 connections of 10, one after the other, get in" \
      "$(cat "$T/conns.out")" "connections: 4 accepted, 0 closed by the flow"
rc=0
echo '{"text": "x"}' | timeout 20 "$FLOWHOST" post /x - --to "$ADDR" -q --connect-timeout 1500 \
    >/dev/null 2>"$T/err" || rc=$?
check_contains "a new client waits while the flow is at its bound" "$rc:$(cat "$T/err")" \
    "2:flowhost: cannot reach a flow at $ADDR (no connection after 1500 ms)"
exec 3>&-
wait "$hostile"
out=$(echo '{"text": "four"}' | timeout 20 "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 10000)
check "served after they left" "$(jq -r .docs[0].text <<<"$out")" "four"
stop_flow
done_checks
