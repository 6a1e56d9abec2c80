#!/usr/bin/env bash
# A bad input line after some requests were sent: the responses of those requests are
# awaited and written before the error exit, and the error says how many documents went.
. "$(dirname "$0")/lib.sh"

cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: slow, uses: Sleep}
YML
start_flow "$T/flow.yml"
printf '{"text":"a"}\n{"text":"b"}\n{"text": oops}\n{"text":"d"}\n' >"$T/input.ndjson"

# One document a request, each answered after 300 ms: when line 3 is read, request 2 is
# still in the flow.
rc=0
timeout 30 "$FLOWHOST" post /x "$T/input.ndjson" --to "$ADDR" --request-size 1 -q \
    --parameters '{"sleep_ms": 300}' >"$T/out" 2>"$T/err" || rc=$?
check "exit status 2 (bad input)" "$rc" "2"
check "one line on stderr [$(cat "$T/err")]" "$(wc -l <"$T/err" | tr -d ' ')" "1"
check_contains "the error names the line" "$(cat "$T/err")" "flowhost: $T/input.ndjson:3:"
check_contains "the error counts what was sent" "$(cat "$T/err")" "(2 documents sent and answered)"
check "both responses written" "$(jq -r '.docs[].text' "$T/out" | sort | tr '\n' ' ')" "a b "

# The wait keeps to the request deadline: a response slower than --timeout is given up,
# and the message says so.
rc=0
timeout 30 "$FLOWHOST" post /x "$T/input.ndjson" --to "$ADDR" --request-size 2 --prefetch 2 -q \
    --timeout 300 --parameters '{"sleep_ms": 3000}' >"$T/out" 2>"$T/err" || rc=$?
check "deadline: exit status 2" "$rc" "2"
check "deadline: one line on stderr" "$(wc -l <"$T/err" | tr -d ' ')" "1"
check_contains "deadline: the input's error first" "$(cat "$T/err")" "input.ndjson:3:"
check_contains "deadline: then the wait's" "$(cat "$T/err")" \
               "(2 documents sent; then: no response within 300 ms"
stop_flow
done_checks
