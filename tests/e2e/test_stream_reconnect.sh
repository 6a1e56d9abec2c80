#!/usr/bin/env bash
# A long streaming post (`tail -f | flowhost post`) outlives a restart of its flow: a line
# sent while the flow is down waits for the connection to come back, and the connect
# timeout counts from when that wait began, not from the start of the post.
. "$(dirname "$0")/lib.sh"

cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: echo, uses: Echo}
YML
start_flow "$T/flow.yml"
PORT=${ADDR##*:}
# The same flow on the same port, for the restart.
cat >"$T/again.yml" <<YML
jtype: Flow
version: '1'
with:
  port: $PORT
executors:
  - {name: echo, uses: Echo}
YML

# wait_lines N: until the post has written N responses (5 s at most).
wait_lines() {
    for _ in $(seq 1 100); do
        [ "$(wc -l <"$T/out" | tr -d ' ')" -ge "$1" ] && return 0
        kill -0 "$POST_PID" 2>/dev/null || break
        sleep 0.05
    done
    fail "no response $1 [$(cat "$T/err")]"
}

CONNECT_MS=1500
mkfifo "$T/in"
timeout 30 "$FLOWHOST" post /x - --to "$ADDR" --request-size 1 --connect-timeout $CONNECT_MS \
    --timeout 10000 -q <"$T/in" >"$T/out" 2>"$T/err" &
POST_PID=$!
exec 3>"$T/in"
echo '{"text": "1"}' >&3
wait_lines 1
# The post is now older than its connect timeout.
sleep $((CONNECT_MS / 1000 + 1))
stop_flow
# Sent while no flow listens: it waits for the connection.
echo '{"text": "2"}' >&3
sleep 0.3
kill -0 "$POST_PID" 2>/dev/null ||
    fail "the post ended while the flow was down [$(cat "$T/err")]"
start_flow "$T/again.yml" 3>&- # the flow must not hold the pipe open
check "the flow is back on its port" "$ADDR" "127.0.0.1:$PORT"
wait_lines 2
echo '{"text": "3"}' >&3
wait_lines 3
exec 3>&-
rc=0
wait "$POST_PID" || rc=$?
check "the post ends with status 0 [$(cat "$T/err")]" "$rc" "0"
check "every line answered, in order" "$(jq -r '.docs[].text' "$T/out" | tr '\n' ' ')" "1 2 3 "

# The connect timeout still holds for a wait that began late: a line sent to a flow that
# does not come back fails after --connect-timeout, counted from its send.
mkfifo "$T/in2"
timeout 30 "$FLOWHOST" post /x - --to "$ADDR" --request-size 1 --connect-timeout $CONNECT_MS \
    -q <"$T/in2" >"$T/out" 2>"$T/err" &
POST_PID=$!
exec 3>"$T/in2"
echo '{"text": "1"}' >&3
wait_lines 1
stop_flow
sleep $((CONNECT_MS / 1000 + 1))
sent=$EPOCHREALTIME
echo '{"text": "2"}' >&3
rc=0
wait "$POST_PID" || rc=$?
waited=$(awk -v a="$sent" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", (b - a) * 1000}')
exec 3>&-
check "no flow: exit status 2" "$rc" "2"
check_contains "no flow: the message" "$(cat "$T/err")" "no connection after $CONNECT_MS ms"
check "no flow: the post waited the connect timeout from the send ($waited ms)" \
      "$(( waited >= CONNECT_MS - 100 && waited < CONNECT_MS + 3000 ))" "1"
done_checks
