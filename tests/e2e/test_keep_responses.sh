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

# The bad line in the middle of a request (two documents a request: a b | c bad): the
# full request and the part of the next one before the bad line are sent and answered;
# the line after it never goes.
printf '{"text":"a"}\n{"text":"b"}\n{"text":"c"}\n{"text": oops}\n{"text":"d"}\n' \
    >"$T/middle.ndjson"
rc=0
timeout 30 "$FLOWHOST" post /x "$T/middle.ndjson" --to "$ADDR" --request-size 2 -q \
    --parameters '{"sleep_ms": 300}' >"$T/out" 2>"$T/err" || rc=$?
check "middle: exit status 2" "$rc" "2"
check "middle: one line on stderr [$(cat "$T/err")]" "$(wc -l <"$T/err" | tr -d ' ')" "1"
check_contains "middle: the error names the line" "$(cat "$T/err")" \
               "flowhost: $T/middle.ndjson:4:"
check_contains "middle: the error counts what was sent" "$(cat "$T/err")" \
               "(3 documents sent and answered)"
check "middle: the responses are [a,b] and [c], and d was never sent" \
      "$(jq -c '[.docs[].text]' "$T/out" | sort | tr '\n' ' ')" '["a","b"] ["c"] '

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

# An input message that fits in a message (1,023 bytes), but not with the count after it
# (a path of 980 characters): the input's part is shortened in its middle, and the count
# still ends the message.
long=$T
for _ in 1 2 3 4; do
    long=$long/$(printf 'd%.0s' $(seq 1 220))
done
long=$long/$(printf 'x%.0s' $(seq 1 $((980 - ${#long} - 1 - 13))))  # 13: /input.ndjson
mkdir -p "$long"
cp "$T/input.ndjson" "$long/input.ndjson"
check "long: a path of 980 characters" "${#long}" "$((980 - 13))"
rc=0
timeout 30 "$FLOWHOST" post /x "$long/input.ndjson" --to "$ADDR" --request-size 1 -q \
    --parameters '{"sleep_ms": 300}' >"$T/out" 2>"$T/err" || rc=$?
err=$(cat "$T/err")
check "long: exit status 2" "$rc" "2"
check "long: one line on stderr" "$(wc -l <"$T/err" | tr -d ' ')" "1"
check_contains "long: the message begins with the path" "$err" "flowhost: $T/dddd"
check_contains "long: the line and the reason are kept" "$err" \
               "/input.ndjson:3:13: invalid token near 'oops'"
want="(2 documents sent and answered)"
check "long: the count ends the message [${err: -60}]" "${err: -${#want}}" "$want"
check "long: both responses written" "$(jq -r '.docs[].text' "$T/out" | sort | tr '\n' ' ')" "a b "
# The same with a failing wait after it: the count and the wait's reason are kept.
rc=0
timeout 30 "$FLOWHOST" post /x "$long/input.ndjson" --to "$ADDR" --request-size 2 --prefetch 2 \
    -q --timeout 300 --parameters '{"sleep_ms": 3000}' >"$T/out" 2>"$T/err" || rc=$?
err=$(cat "$T/err")
check "long deadline: exit status 2" "$rc" "2"
check_contains "long deadline: the reason is kept" "$err" "/input.ndjson:3:13: invalid token"
check_contains "long deadline: then the wait's" "$err" \
               "(2 documents sent; then: no response within 300 ms (1 request unanswered))"
stop_flow
done_checks
