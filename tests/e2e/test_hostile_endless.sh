#!/usr/bin/env bash
# A message that never ends: a peer that speaks ZMTP itself and sends frames that all say
# "more follows". libzmq holds such a message whole before the gateway sees it, and
# bounds each frame, not their number; unbounded, the host grew by what was sent (1 GB
# for 1 GB). The gateway drops a connection that holds more than a client may (10
# requests of 2 x max_message_size: 20 MiB here), so the host stays small, and serves
# others. With keys (with.server_key), such a peer is refused before it sends a frame.
. "$(dirname "$0")/lib.sh"

HOSTILE=$TOOLS/fh_hostile
[ -x "$HOSTILE" ] || fail "$HOSTILE not built"
hwm_mb() { awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$1/status"; }
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1:thread_local_quarantine_size_kb=64"

cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
with:
  max_message_size: 1048576
executors:
  - {name: echo, uses: Echo}
YML
start_flow "$T/flow.yml"
base=$(hwm_mb "$FLOW_PID")
out=$(timeout 60 "$HOSTILE" endless "$ADDR" 1024)
echo "$out"
check_contains "the flow closed the connection of the endless message" "$out" "closed by the flow: yes"
sent=$(awk '/^sent/ {print $2}' <<<"$out")
check "it did so long before 1 GB was sent" "$(( sent < 500 ))" "1"
peak=$(hwm_mb "$FLOW_PID")
echo "host peak resident memory: $base -> $peak MB"
check "the host's peak memory grew by less than 150 MB" "$(( peak - base < 150 ))" "1"
check_contains "log: the connection dropped" "$(cat "$T/run.log")" \
    "dropped a client connection from 127.0.0.1: it holds"
out=$(echo '{"text": "x"}' | timeout 20 "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 10000)
check "others are served" "$(jq -r .docs[0].text <<<"$out")" "x"
stop_flow

# With keys: the peer does not get in at all.
"$FLOWHOST" keygen "$T/server" >/dev/null
"$FLOWHOST" keygen "$T/client" >/dev/null
cat >"$T/keys.yml" <<YML
jtype: Flow
version: '1'
with:
  max_message_size: 1048576
  server_key: $T/server_secret
  client_keys: $T/client
executors:
  - {name: echo, uses: Echo}
YML
start_flow "$T/keys.yml"
base=$(hwm_mb "$FLOW_PID")
out=$(timeout 60 "$HOSTILE" endless "$ADDR" 1024)
echo "$out"
check_contains "with keys: the peer is closed at once" "$out" "closed by the flow: yes"
check "with keys: less than 1 MB went out" "$(awk '/^sent/ {print $2}' <<<"$out")" "0"
peak=$(hwm_mb "$FLOW_PID")
check "with keys: the host's peak memory grew by less than 20 MB" "$(( peak - base < 20 ))" "1"
stop_flow
done_checks
