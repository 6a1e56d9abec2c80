#!/usr/bin/env bash
# Clients that send requests and never read the replies: their replies count against a
# bound (each client's share, a quarter of max_message_size, and 4 x max_message_size in
# all), their further requests wait or are refused, and the host's memory stays flat
# while the other clients are served. Unbounded, two such clients took the host to
# 1.5 GB in 8 s with max_message_size 2 MiB.
. "$(dirname "$0")/lib.sh"

HOSTILE=$TOOLS/fh_hostile
CLIENTS=()
# The clients that do not read wait to be killed: also when a check fails.
trap 'kill "${CLIENTS[@]}" 2>/dev/null || true; cleanup' EXIT
[ -x "$HOSTILE" ] || fail "$HOSTILE not built"
hwm_mb() { awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$1/status"; }
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1:thread_local_quarantine_size_kb=64"

cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
with:
  max_message_size: 2097152
executors:
  - {name: echo, uses: Echo}
YML
start_flow "$T/flow.yml"
base=$(hwm_mb "$FLOW_PID")
# Two clients, each 1,000 requests of 1 MB, reading nothing.
"$HOSTILE" noread "$ADDR" 1000 1000000 >"$T/c1.out" 2>&1 &
c1=$!
"$HOSTILE" noread "$ADDR" 1000 1000000 >"$T/c2.out" 2>&1 &
c2=$!
CLIENTS=("$c1" "$c2")
for _ in $(seq 1 300); do
    [ -s "$T/c1.out" ] && [ -s "$T/c2.out" ] && break
    sleep 0.05
done
check "the first client sent all its requests" "$(cat "$T/c1.out")" "sent 1000"
check "the second client sent all its requests" "$(cat "$T/c2.out")" "sent 1000"
sleep 2
# Another client is served meanwhile.
out=$(echo '{"text": "small"}' | timeout 20 "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 15000)
check "an ordinary client is served while the two do not read" "$(jq -r .docs[0].text <<<"$out")" "small"
peak=$(hwm_mb "$FLOW_PID")
echo "host peak resident memory: ${base} -> ${peak} MB (2 GB were sent to it)"
check "the host's peak memory grew by less than 150 MB" "$(( peak - base < 150 ))" "1"
kill "$c1" "$c2"
wait "$c1" "$c2" 2>/dev/null || true
out=$(echo '{"text": "after"}' | timeout 20 "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 15000)
check "served after they left" "$(jq -r .docs[0].text <<<"$out")" "after"

# Twelve such clients fill the replies' whole budget (4 x max_message_size) among them:
# a client that reads is still let in, and nothing stays stuck once they are gone.
CLIENTS=()
for k in $(seq 1 12); do
    "$HOSTILE" noread "$ADDR" 50 1000000 >"$T/m$k.out" 2>&1 &
    CLIENTS+=("$!")
done
sleep 3
out=$(echo '{"text": "among"}' | timeout 20 "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 15000)
check "an ordinary client is served among twelve that do not read" "$(jq -r .docs[0].text <<<"$out")" "among"
kill "${CLIENTS[@]}"
wait "${CLIENTS[@]}" 2>/dev/null || true
sleep 1
out=$(echo '{"text": "later"}' | timeout 20 "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 15000)
check "served after the twelve left" "$(jq -r .docs[0].text <<<"$out")" "later"
peak=$(hwm_mb "$FLOW_PID")
check "the host's peak memory grew by less than 150 MB with twelve" "$(( peak - base < 150 ))" "1"

# A client that reads, with many requests in flight: more than its share of replies is
# on the way at once, and none of them is refused.
for k in $(seq 1 20); do
    printf '{"id": "r%d", "text": "%s"}\n' "$k" "$(head -c 100000 /dev/zero | tr '\0' r)"
done >"$T/reader.ndjson"
"$FLOWHOST" post /x "$T/reader.ndjson" --to "$ADDR" -q --request-size 1 --prefetch 20 \
    --timeout 15000 >"$T/reader.out" 2>"$T/reader.err" || true
check "a reader with 20 requests of 100 KB in flight: all answered" \
    "$(jq -r .status.code "$T/reader.out" | sort | uniq -c | tr -s ' ')" " 20 SUCCESS"
stop_flow
done_checks
