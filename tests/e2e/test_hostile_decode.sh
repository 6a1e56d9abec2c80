#!/usr/bin/env bash
# What a request costs decoded is bounded before it is decoded: an envelope whose
# parameters hold millions of empty map entries (2 bytes each on the wire, about 90
# decoded), and documents frames of millions of empty documents, are refused with an
# error naming the limit, and neither the host nor the worker grows. Requests within the
# limits go through.
. "$(dirname "$0")/lib.sh"

HOSTILE=$TOOLS/fh_hostile
[ -x "$HOSTILE" ] || fail "$HOSTILE not built"
hwm_mb() { awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$1/status"; }
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1:thread_local_quarantine_size_kb=64"

# 16 MiB: an envelope may take 16 MiB decoded, documents 64 MiB.
cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
with:
  max_message_size: 16777216
executors:
  - {name: echo, uses: Echo}
YML
start_flow "$T/flow.yml"
worker=$(pgrep -P "$FLOW_PID" | head -n 1)
base_host=$(hwm_mb "$FLOW_PID"); base_worker=$(hwm_mb "$worker")

# 4,000,000 empty entries: 8 MB on the wire, about 380 MB decoded.
out=$(timeout 60 "$HOSTILE" params "$ADDR" 4000000 2>/dev/null)
check_contains "8 MB of empty parameter entries: refused, with the reason" "$out" \
    "reply: params ERROR cannot decode the request envelope: it would take more than 16777216 bytes decoded"
# 100,000 entries: 200 KB on the wire, about 10 MB decoded: within the limit.
out=$(timeout 60 "$HOSTILE" params "$ADDR" 100000 2>/dev/null)
check "100,000 empty parameter entries (10 MB decoded): answered" "$out" "reply: params SUCCESS "

# 4,000,000 empty documents: 8 MB on the wire, about 930 MB decoded.
out=$(timeout 60 "$HOSTILE" docs "$ADDR" 4000000 2>/dev/null)
check_contains "8 MB of empty documents: refused by the worker, with the reason" "$out" \
    "reply: docs ERROR cannot decode documents: it would take more than 67108864 bytes decoded"
out=$(timeout 60 "$HOSTILE" docs "$ADDR" 100000 2>/dev/null)
check "100,000 empty documents: answered" "$out" "reply: docs SUCCESS "

host=$(hwm_mb "$FLOW_PID"); wk=$(hwm_mb "$worker")
echo "peak resident memory: host ${base_host} -> ${host} MB, worker ${base_worker} -> ${wk} MB"
# Unbounded, the host took 585 MB for the first request, the worker 360 MB, then 930 MB.
# Bounded, about 30 and 60 MB (twice that under AddressSanitizer).
check "the host's peak memory grew by less than 250 MB" "$(( host - base_host < 250 ))" "1"
check "the worker's peak memory grew by less than 250 MB" "$(( wk - base_worker < 250 ))" "1"
check "the worker is the same process (it never crashed)" "$(pgrep -P "$FLOW_PID" | head -n 1)" "$worker"
check_contains "log: the refusal" "$(cat "$T/run.log")" \
    "refused request params: cannot decode the request envelope: it would take more than 16777216 bytes decoded"
out=$(echo '{"text": "small"}' | "$FLOWHOST" post /x - --to "$ADDR" -q)
check "an ordinary request is answered" "$(jq -r .docs[0].text <<<"$out")" "small"
stop_flow
done_checks
