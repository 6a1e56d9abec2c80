#!/usr/bin/env bash
# Overload: 16 clients x 200 requests at once into a slow executor. Every client gets
# every response, each only its own documents, and the host's memory stays bounded.
. "$(dirname "$0")/lib.sh"
# Under AddressSanitizer freed memory waits in a quarantine: keep it small so that the
# resident memory measured means the same as without it.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1:thread_local_quarantine_size_kb=64"

cat >"$T/slow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: slow, uses: Sleep}
  - {name: tag, uses: Echo}
YML
start_flow "$T/slow.yml"
clients=16 per=200
pids=()
for c in $(seq 1 $clients); do
    for r in $(seq 1 $per); do echo "{\"text\":\"c$c-$r\"}"; done >"$T/in$c.ndjson"
    "$FLOWHOST" post /x "$T/in$c.ndjson" --to "$ADDR" --request-size 1 -q --timeout 60000 \
        --parameters '{"sleep_ms": 1}' -o "$T/out$c" 2>"$T/err$c" &
    pids+=($!)
done
max_rss=0
while kill -0 "${pids[@]}" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$FLOW_PID/status")
    [ "$rss" -gt "$max_rss" ] && max_rss=$rss
    sleep 0.2
done
failed=0
for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed=$((failed + 1)); done
check "every client's post succeeded" "$failed" "0"
for c in $(seq 1 $clients); do
    got=$(jq -r '.docs[0].text' "$T/out$c" | sort | tr '\n' ' ')
    want=$(for r in $(seq 1 $per); do echo "c$c-$r"; done | sort | tr '\n' ' ')
    [ "$got" == "$want" ] || fail "client $c did not get exactly its own $per documents"
done
check "each client got its own $per documents back, once each" "ok" "ok"
echo "host resident memory at most ${max_rss} kB during the run"
# The host holds at most 1024 requests and 4 x max_message_size bytes: with these small
# requests it stays far below 64 MiB (it idles at about 8 MiB).
check "host memory bounded (< 64 MiB)" "$(( max_rss < 65536 ))" "1"
stop_flow

# A full flow: a client waits for room, or with --no-wait is told "busy" at once.
cat >"$T/small.yml" <<YML
jtype: Flow
version: '1'
with:
  max_inflight: 4
executors:
  - {name: slow, uses: Sleep}
YML
start_flow "$T/small.yml"
for r in $(seq 1 8); do echo "{\"text\":\"w$r\"}"; done >"$T/wait.ndjson"
"$FLOWHOST" post /x "$T/wait.ndjson" --to "$ADDR" --request-size 1 --prefetch 8 -q \
    --parameters '{"sleep_ms": 300}' -o "$T/wait.out" 2>/dev/null &
waiter=$!
sleep 0.5
rc=0
out=$(echo '{"text":"hurry"}' | "$FLOWHOST" post /x - --to "$ADDR" --no-wait -q 2>/dev/null) || rc=$?
check "--no-wait into a full flow: an error at once" "$rc" "1"
check_contains "--no-wait into a full flow: says busy" "$(jq -r .status.description <<<"$out")" "busy: the flow is full"
rc=0
wait "$waiter" || rc=$?
check "the client that waits gets all its answers" "$rc:$(wc -l <"$T/wait.out" | tr -d ' ')" "0:8"
stop_flow
done_checks
