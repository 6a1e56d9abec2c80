#!/usr/bin/env bash
# Credit: the gateway keeps several requests queued at each worker. What must hold with
# requests queued there: a crash or a timeout costs only the request its worker was
# running; the ones queued behind it are answered normally by the next worker; none is
# lost, none runs twice (the Ledger executor writes down every request it begins); and
# `timeout` counts from when a request's handler begins, not from when it was queued.
source "$(dirname "$0")/lib.sh"
# Under AddressSanitizer a SIGSEGV would be turned into an abort: let it be a SIGSEGV.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0:quarantine_size_mb=1:thread_local_quarantine_size_kb=64"

# --- crashes with requests queued behind them ----------------------------------------
cat >"$T/crash.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: led, uses: Ledger, uses_with: {ledger: $T/crash.ledger}, credit: 16}
YML
start_flow "$T/crash.yml"
for i in $(seq 1 60); do
    case $i in
        10|30|50) echo "{\"id\":\"d$i\",\"text\":\"$i\",\"tags\":{\"crash\":true}}" ;;
        *) echo "{\"id\":\"d$i\",\"text\":\"$i\"}" ;;
    esac
done >"$T/crash.ndjson"
rc=0
# Every handler call takes 20 ms while all 60 requests are sent at once: the worker
# holds as many as its credit when it crashes.
"$FLOWHOST" post /index "$T/crash.ndjson" --to "$ADDR" --request-size 1 -q --timeout 60000 \
    --parameters '{"sleep_ms": 20}' >"$T/crash.out" 2>/dev/null || rc=$?
check "crash: exit status 1 (some responses are errors)" "$rc" "1"
check "crash: every request answered exactly once" \
      "$(jq -r '.docs[0].text' "$T/crash.out" | sort -n | tr '\n' ' ')" "$(seq 1 60 | tr '\n' ' ')"
check "crash: exactly the three marked requests failed" \
      "$(jq -r 'select(.status.code == "ERROR") | .docs[0].text' "$T/crash.out" | sort -n | tr '\n' ' ')" \
      "10 30 50 "
check "crash: the errors name the executor and the signal" \
      "$(jq -r 'select(.status.code == "ERROR") | .status.description' "$T/crash.out" | sort -u)" \
      "executor 'led' crashed: signal 11 (SIGSEGV)"
check "crash: every request was begun once, none twice" \
      "$(wc -l <"$T/crash.ledger" | tr -d ' '):$(cut -d' ' -f1 "$T/crash.ledger" | sort -u | wc -l | tr -d ' ')" \
      "60:60"
check "crash: four worker processes served (one per crash, and the last)" \
      "$(cut -d' ' -f3 "$T/crash.ledger" | sort -u | wc -l | tr -d ' ')" "4"
stop_flow

# --- timeout counts from the handler's start ----------------------------------------
cat >"$T/timeout.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: led, uses: Ledger, uses_with: {ledger: $T/timeout.ledger}, timeout: 1500, credit: 8}
YML
start_flow "$T/timeout.yml"
# Four requests of 1 s each, sent at once: queued together at the worker, each is within
# its 1.5 s once begun, though the last waits 3 s before it begins.
for i in 1 2 3 4; do echo "{\"text\":\"$i\",\"tags\":{\"sleep_ms\":1000}}"; done >"$T/four.ndjson"
rc=0
"$FLOWHOST" post /index "$T/four.ndjson" --to "$ADDR" --request-size 1 -q --timeout 60000 \
    >"$T/four.out" 2>/dev/null || rc=$?
check "timeout: queued requests of 1 s each, timeout 1.5 s: all succeed" \
      "$rc:$(jq -r .status.code "$T/four.out" | sort | uniq -c | tr -s ' ')" "0: 4 SUCCESS"
check "timeout: no worker was lost" "$(grep -c 'timed out' "$T/run.log" || true)" "0"
# A request past its timeout, four queued behind it: it alone fails.
{
    echo '{"text":"slow","tags":{"sleep_ms":4000}}'
    for i in 1 2 3 4; do echo "{\"text\":\"$i\",\"tags\":{\"sleep_ms\":100}}"; done
} >"$T/slow.ndjson"
: >"$T/timeout.ledger"
rc=0
"$FLOWHOST" post /index "$T/slow.ndjson" --to "$ADDR" --request-size 1 -q --timeout 60000 \
    >"$T/slow.out" 2>/dev/null || rc=$?
check "timeout: exit status 1" "$rc" "1"
check "timeout: only the slow request failed, with the timeout" \
      "$(jq -r 'select(.status.code == "ERROR") | .docs[0].text + ": " + .status.description' "$T/slow.out")" \
      "slow: executor 'led' timed out after 1500 ms"
check "timeout: the four behind it succeeded" \
      "$(jq -r 'select(.status.code == "SUCCESS") | .docs[0].text' "$T/slow.out" | sort | tr '\n' ' ')" "1 2 3 4 "
check "timeout: each begun once" \
      "$(wc -l <"$T/timeout.ledger" | tr -d ' '):$(cut -d' ' -f1 "$T/timeout.ledger" | sort -u | wc -l | tr -d ' ')" \
      "5:5"
stop_flow

# --- what waits at a worker is bounded in bytes, not only in requests ------------------
cat >"$T/big.yml" <<YML
jtype: Flow
version: '1'
with: {max_message_size: 4194304}
executors:
  - {name: led, uses: Ledger, uses_with: {ledger: $T/big.ledger}, credit: 16}
YML
start_flow "$T/big.yml"
python3 -c '
import json
for i in range(40):
    print(json.dumps({"text": str(i) + "x" * 1000000}))
' >"$T/big.ndjson"
worker=$(pgrep -P "$FLOW_PID" | head -1)
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# The worker's peak after one such request alone: what running one costs.
head -1 "$T/big.ndjson" | "$FLOWHOST" post /index - --to "$ADDR" -q --timeout 60000 >/dev/null
base=$(hwm_kb "$worker")
rc=0
"$FLOWHOST" post /index "$T/big.ndjson" --to "$ADDR" --request-size 1 -q --timeout 60000 \
    --parameters '{"sleep_ms": 100}' >/dev/null 2>&1 || rc=$?
grown=$(( $(hwm_kb "$worker") - base ))
check "big: 41 requests of 1 MB answered" "$rc:$(wc -l <"$T/big.ledger" | tr -d ' ')" "0:41"
# Without a bound in bytes, a credit's worth (16 MB) waits at the worker: its peak grows
# by 16 MB; with at most max_message_size (4 MiB) waiting besides the one it runs, by
# 4-5 MB (measured).
check "big: the worker's peak grows by little (${grown} kB over one request alone, under 10,000)" \
      "$([ "$grown" -lt 10000 ] && echo yes || echo no)" "yes"
stop_flow
done_checks
