#!/usr/bin/env bash
# Dynamic batching (uses_dynamic_batching): requests for a batched endpoint that wait at a
# worker are merged into one handler call of up to preferred_batch_size documents, or
# what is there when the first has waited `timeout` ms; each request gets its own
# documents back, in order; only requests with the same parameters are merged; a call
# that changes the number of documents fails its requests; a crash costs its batch only.
source "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"

cat >"$T/batch.yml" <<YML
jtype: Flow
version: '1'
executors:
  - name: b
    uses: Batcher
    uses_with: {call_ms: 5, ledger: $T/calls}
    uses_dynamic_batching: {/search: {preferred_batch_size: 8, timeout: 300}}
YML
start_flow "$T/batch.yml"
for i in $(seq 1 32); do echo "{\"id\":\"d$i\",\"text\":\"t$i\"}"; done >"$T/32.ndjson"

# --- merged, and split back --------------------------------------------------------
rc=0
"$FLOWHOST" post /search "$T/32.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 \
    >"$T/search.out" 2>/dev/null || rc=$?
check "batched: every request succeeds" "$rc:$(jq -r .status.code "$T/search.out" | sort | uniq -c | tr -s ' ')" \
      "0: 32 SUCCESS"
check "batched: each request got its own document back" \
      "$(jq -r 'select(.docs | length == 1) | select(.docs[0].id == ("d" + (.docs[0].text | ltrimstr("t")))) | .docs[0].id' "$T/search.out" | wc -l)" "32"
check "batched: no call took more than 8 documents" \
      "$(jq -r '.docs[0].tags.batch_size' "$T/search.out" | sort -n | tail -1)" "8"
calls=$(jq -r '.docs[0].tags.call' "$T/search.out" | sort -u | wc -l)
check "batched: 32 requests in at most 8 calls (got $calls)" "$([ "$calls" -le 8 ] && echo yes)" "yes"
check "batched: each call's size is the number of its requests" \
      "$(jq -r '[.docs[0].tags.call, .docs[0].tags.batch_size] | @tsv' "$T/search.out" | sort | uniq -c |
         awk '$1 != $3' | wc -l)" "0"

# --- an endpoint without batching runs one request a call ---------------------------
"$FLOWHOST" post /index "$T/32.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 \
    >"$T/index.out" 2>/dev/null
check "not batched: one document a call" "$(jq -r '.docs[0].tags.batch_size' "$T/index.out" | sort -u)" "1"

# --- alone, it waits `timeout` ms for company, then runs --------------------------------
out=$(echo '{"text":"alone"}' | "$FLOWHOST" post /search - --to "$ADDR" -q --timeout 30000)
check "alone: answered in a call of its own" "$(jq -r '.status.code + " " + (.docs[0].tags.batch_size | tostring)' <<<"$out")" \
      "SUCCESS 1"

# --- different parameters are never merged ----------------------------------------------
: >"$T/calls"
"$FLOWHOST" post /search "$T/32.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 \
    --parameters '{"k": 1}' >"$T/k1.out" 2>/dev/null &
k1=$!
"$FLOWHOST" post /search "$T/32.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 \
    --parameters '{"k": 2}' >"$T/k2.out" 2>/dev/null
wait "$k1"
check "parameters: every request succeeds" "$(cat "$T/k1.out" "$T/k2.out" | jq -r .status.code | sort | uniq -c | tr -s ' ')" \
      " 64 SUCCESS"
check "parameters: no call mixed k=1 and k=2" \
      "$(cat "$T/k1.out" "$T/k2.out" | jq -r '[.docs[0].tags.call, .docs[0].tags.k] | @tsv' | sort -u | cut -f1 | uniq -d | wc -l)" "0"
check "parameters: each request kept its own" \
      "$(jq -r '.docs[0].tags.k' "$T/k1.out" | sort -u):$(jq -r '.docs[0].tags.k' "$T/k2.out" | sort -u)" "1:2"

# --- a call that changes the number of documents fails its requests --------------------
{
    for i in 1 2 3; do echo "{\"text\":\"g$i\"}"; done
    echo '{"text":"grow","tags":{"grow":true}}'
} >"$T/grow.ndjson"
rc=0
"$FLOWHOST" post /search "$T/grow.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 \
    >"$T/grow.out" 2>/dev/null || rc=$?
check "grow: exit status 1" "$rc" "1"
why=$(jq -r 'select(.docs[0].text == "grow") | .status.description' "$T/grow.out")
check_contains "grow: the call that grew failed" "$why" "a batched call must give back as many documents as it was given ("
n=$(sed -E 's/.*given \(([0-9]+), of.*/\1/' <<<"$why")
check "grow: every request of that call ($n) got the error, the others none" \
      "$(jq -r 'select(.status.code == "ERROR") | .status.description' "$T/grow.out" | sort | uniq -c | tr -s ' ')" \
      " $n a batched call must give back as many documents as it was given ($n, of $n requests), not $((n + 1))"
check "grow: and its documents as they came" "$(jq -r '.docs | length' "$T/grow.out" | sort -u)" "1"
stop_flow

# --- a crash costs its batch only; none runs twice --------------------------------------
cat >"$T/crash.yml" <<YML
jtype: Flow
version: '1'
executors:
  - name: b
    uses: Batcher
    uses_with: {call_ms: 20, ledger: $T/crash.calls}
    uses_dynamic_batching: {/search: {preferred_batch_size: 4, timeout: 100}}
YML
start_flow "$T/crash.yml"
for i in $(seq 1 24); do
    if [ "$i" = 10 ]; then echo "{\"id\":\"d$i\",\"text\":\"$i\",\"tags\":{\"crash\":true}}"
    else echo "{\"id\":\"d$i\",\"text\":\"$i\"}"; fi
done >"$T/crash.ndjson"
rc=0
"$FLOWHOST" post /search "$T/crash.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 \
    >"$T/crash.out" 2>/dev/null || rc=$?
failed=$(jq -r 'select(.status.code == "ERROR") | .docs[0].text' "$T/crash.out" | sort -n | tr '\n' ' ')
check "crash: every request answered once" "$(jq -r '.docs[0].text' "$T/crash.out" | sort -un | wc -l)" "24"
check_contains "crash: the crashing request failed" " $failed" " 10 "
check "crash: at most its batch of 4 failed ($failed)" "$([ "$(wc -w <<<"$failed")" -le 4 ] && echo yes)" "yes"
check "crash: with the crash" "$(jq -r 'select(.status.code == "ERROR") | .status.description' "$T/crash.out" | sort -u)" \
      "executor 'b' crashed: signal 11 (SIGSEGV)"
# Every document was in exactly one call that ran to its end, or in the call that crashed.
check "crash: no document ran twice" "$(awk '{s += $2} END {print s}' "$T/crash.calls")" "24"
stop_flow

# --- a request that cannot be read while a batch gathers is answered in its turn ---------
# Led crashes on the second request (crash: true) and, with on_error: ignore, sends it on
# with the error added: a request whose parameters were just under max_message_size
# decoded is then just over it, and the batching worker cannot read it. Its answer must
# not overtake the batch's (replies answer requests in order).
cat >"$T/probe.yml" <<YML
jtype: Flow
version: '1'
with: {max_message_size: 4096}
executors:
  - {name: e, uses: Echo}
YML
start_flow "$T/probe.yml"
echo '{"id":"a","text":"a"}' >"$T/a.ndjson"
lo=2000 hi=4096 # the largest parameter an executor takes, found by bisection
while [ $((hi - lo)) -gt 1 ]; do
    mid=$(((lo + hi) / 2))
    pad=$(head -c $mid /dev/zero | tr '\0' 'x')
    if "$FLOWHOST" post /index "$T/a.ndjson" --to "$ADDR" -q --timeout 20000 \
        --parameters "{\"pad\":\"$pad\"}" >/dev/null 2>&1; then lo=$mid; else hi=$mid; fi
done
stop_flow
cat >"$T/order.yml" <<YML
jtype: Flow
version: '1'
with: {max_message_size: 4096}
executors:
  - {name: led, uses: Ledger, uses_with: {ledger: $T/order.ledger}, on_error: ignore}
  - name: bat
    uses: Batcher
    uses_dynamic_batching: {/index: {preferred_batch_size: 8, timeout: 3000}}
YML
start_flow "$T/order.yml"
pad=$(head -c $((lo - 8)) /dev/zero | tr '\0' 'x')
echo '{"id":"r1","text":"secret of client one"}' >"$T/r1.ndjson"
echo '{"id":"r2","text":"client two","tags":{"crash":true}}' >"$T/r2.ndjson"
"$FLOWHOST" post /index "$T/r1.ndjson" --to "$ADDR" -q --timeout 20000 >"$T/r1.out" 2>/dev/null &
p1=$!
sleep 0.5
"$FLOWHOST" post /index "$T/r2.ndjson" --to "$ADDR" -q --timeout 20000 \
    --parameters "{\"pad\":\"$pad\"}" >"$T/r2.out" 2>/dev/null || true
wait "$p1" || true
check "order: the second could not be read by the batching worker" \
      "$(jq -r '.status.description' "$T/r2.out" | grep -c 'malformed request' || true)" "1"
check "order: the first client gets its own document, served" \
      "$(jq -r '.docs[0].id + " " + .status.code' "$T/r1.out")" "r1 SUCCESS"
check "order: the second gets its own, with an error" \
      "$(jq -r '.docs[0].id + " " + .status.code' "$T/r2.out")" "r2 ERROR"
stop_flow
done_checks
