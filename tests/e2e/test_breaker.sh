#!/usr/bin/env bash
# A plugin that crashes on every request trips its executor's circuit breaker: after 5
# deaths in a row within 30 s, the requests waiting for it and every new one get
# "executor 'X' is down: ..." at once, instead of one restart per 5 s each. Every 5 s a
# new worker is tried; the first request it answers closes the breaker. SIGTERM is
# quick with a crashing executor and many requests queued.
. "$(dirname "$0")/lib.sh"
# Under AddressSanitizer a SIGSEGV would be turned into an abort: let it be a SIGSEGV.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"

cat >"$T/crash.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: crasher, uses: Crash}
  - {name: tag, uses: Echo}
YML
for i in $(seq 1 200); do echo "{\"text\":\"$i\",\"tags\":{\"crash\":true}}"; done >"$T/crash.ndjson"
start_flow "$T/crash.yml"
rc=0
"$FLOWHOST" post /x "$T/crash.ndjson" --to "$ADDR" --request-size 1 --prefetch 200 -q \
    --timeout 30000 >"$T/crash.out" 2>/dev/null || rc=$?
check "200 requests that crash their worker: exit status 1" "$rc" "1"
check "200 requests that crash their worker: every one answered, once" \
      "$(jq -r '.docs[0].text' "$T/crash.out" | sort -n | uniq | wc -l | tr -d ' ')" "200"
crashed=$(jq -r 'select(.status.description | startswith("executor '"'"'crasher'"'"' crashed")) | 1' "$T/crash.out" | wc -l)
down=$(jq -r 'select(.status.description | startswith("executor '"'"'crasher'"'"' is down: its workers died 5 times in a row within 30 s")) | 1' "$T/crash.out" | wc -l)
check "the breaker opened after 5 crashes (crashed: $crashed)" "$crashed" "5"
check "the other 195 were answered 'is down' at once" "$down" "195"
check_contains "the log says the executor is down, and when it is tried again" "$(cat "$T/run.log")" \
      "executor 'crasher' is down: its workers died 5 times in a row within 30 s (last: signal 11 (SIGSEGV)) (a new worker is tried in 5000 ms)"

# The probe: a new worker is tried after 5 s; the first request it answers closes the
# breaker. Until then requests fail at once.
rc=0
out=$(echo '{"text":"early"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 30000 2>/dev/null) || rc=$?
check_contains "while down: a good request fails at once too" "$rc:$(jq -r .status.description <<<"$out")" \
      "1:executor 'crasher' is down"
served=no
for _ in $(seq 1 40); do
    out=$(echo '{"text":"probe"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 30000 2>/dev/null) || true
    if [ "$(jq -r .status.code <<<"$out")" = SUCCESS ]; then served=yes; break; fi
    sleep 0.25
done
check "a probe worker serves a good request: the executor is back" "$served" "yes"
check_contains "the log says it is up again" "$(cat "$T/run.log")" \
      "executor 'crasher' is up again: its new worker answered a request"
out=$(echo '{"text":"after"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 30000)
check "after the probe: requests are served" "$(jq -c .docs[0].tags.seen_by <<<"$out")" '["tag"]'

# While down, a probe whose one request crashes opens the breaker again at once.
"$FLOWHOST" post /x "$T/crash.ndjson" --to "$ADDR" --request-size 1 --prefetch 200 -q \
    --timeout 30000 >/dev/null 2>&1 || true
check_contains "down again after 5 more crashes" "$(tail -n 3 "$T/run.log")" "executor 'crasher' is down"
for _ in $(seq 1 40); do   # "is down" at once until the probe worker is ready
    out=$(echo '{"text":"x","tags":{"crash":true}}' | "$FLOWHOST" post /x - --to "$ADDR" -q \
        --timeout 30000 2>/dev/null) || true
    case "$(jq -r .status.description <<<"$out")" in *crashed*) break ;; esac
    sleep 0.25
done
check "the probe's request crashes it" "$(jq -r .status.description <<<"$out")" \
      "executor 'crasher' crashed: signal 11 (SIGSEGV)"
rc=0
out=$(echo '{"text":"y"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 30000 2>/dev/null) || rc=$?
check_contains "a failed probe: still down, no restart" "$rc:$(jq -r .status.description <<<"$out")" \
      "1:executor 'crasher' is down"
served=no
for _ in $(seq 1 40); do
    out=$(echo '{"text":"probe"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 30000 2>/dev/null) || true
    if [ "$(jq -r .status.code <<<"$out")" = SUCCESS ]; then served=yes; break; fi
    sleep 0.25
done
check "the next probe serves: back again" "$served" "yes"

# SIGTERM with 200 crashing requests queued (the breaker closed): 5 crashes open it, it
# answers the rest, the drain is quick.
"$FLOWHOST" post /x "$T/crash.ndjson" --to "$ADDR" --request-size 1 --prefetch 200 -q \
    --timeout 30000 >"$T/crash2.out" 2>/dev/null &
post_pid=$!
sleep 0.3
kill -TERM "$FLOW_PID"
rc=0
timeout 20 tail --pid="$FLOW_PID" -f /dev/null || rc=$?
check "SIGTERM with a crashing executor and requests queued: the flow stops" "$rc" "0"
rc=0
wait "$FLOW_PID" || rc=$?
FLOW_PID=""
check "SIGTERM with a crashing executor: exit status 0" "$rc" "0"
wait "$post_pid" || true
check "SIGTERM with a crashing executor: every request the flow took was answered" \
      "$(jq -r .status.code "$T/crash2.out" | sort -u | tr '\n' ' ')" "ERROR "
check "no sanitizer report" "$(grep -c -E 'Sanitizer|runtime error:' "$T/run.log" || true)" "0"
done_checks
