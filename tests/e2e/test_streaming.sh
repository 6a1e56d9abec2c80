#!/usr/bin/env bash
# Responses stream: each is delivered as soon as it arrives, whatever the pace of the
# input (Jina's test_disable_prefetch_slow_client_fast_executor, `tail -f | post`). The
# flow sets no prefetch, so the client's window (1,024) never fills: nothing but the
# arrival of a response may make it deliver one.
. "$(dirname "$0")/lib.sh"

cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: echo, uses: Echo}
YML
start_flow "$T/flow.yml"

# A live pipe: a line every 0.5 s into `flowhost post / -`; each response line is
# stamped as it appears on stdout.
N=6
{
    for i in $(seq 1 $N); do
        echo "$i $EPOCHREALTIME" >>"$T/in.times"
        echo "{\"text\": \"$i\"}"
        sleep 0.5
    done
} | timeout 30 "$FLOWHOST" post /x - --to "$ADDR" --request-size 1 -q |
    while IFS= read -r line; do
        t=$EPOCHREALTIME
        echo "$(jq -r '.docs[0].text' <<<"$line") $t"
    done >"$T/out.times"
check "pipe: every line answered" "$(wc -l <"$T/out.times" | tr -d ' ')" "$N"
# The delay of each response after its line, in ms.
delays=$(join <(sort "$T/in.times") <(sort "$T/out.times") |
         awk '{printf "%d ", ($3 - $2) * 1000}')
echo "delays (ms): $delays"
for d in $delays; do
    check "pipe: a response within 1.5 s of its line ($d ms)" "$(( d < 1500 ))" "1"
done
last_in=$(sort -n "$T/in.times" | tail -n 1 | cut -d' ' -f2)
first_out=$(sort -n "$T/out.times" | head -n 1 | cut -d' ' -f2)
check "pipe: the first response before the last line" \
      "$(awk -v a="$first_out" -v b="$last_in" 'BEGIN {print (a < b)}')" "1"

# The C API with a source callback that sleeps 0.4 s before each document: the source
# blocks, so a response that arrived meanwhile is delivered before its next call.
timeout 30 "$TOOLS/fh_slow_source" "$ADDR" $N 400 >"$T/api.out"
cat "$T/api.out"
check "api: every document answered" "$(grep -c '^response' "$T/api.out")" "$N"
for i in $(seq 1 $((N - 2))); do
    given=$(awk -v n=$((i + 1)) '$1 == "call" && $2 == n {print $3}' "$T/api.out")
    got=$(awk -v n=$i '$1 == "response" && $2 == n {print $3}' "$T/api.out")
    next_call=$(awk -v n=$((i + 2)) '$1 == "call" && $2 == n {print $3}' "$T/api.out")
    check "api: response $i delivered before the source is called for document $((i + 2))" \
          "$(( got <= next_call ))" "1"
    check "api: response $i within 1.5 s of its document ($((got - given)) ms)" \
          "$(( got - given < 1500 ))" "1"
done

# The same with three documents a request: the source is called three times for each
# request, and a response that arrived is delivered before each of those calls, not only
# between requests. The response of a request is there by the first call after the one
# that completed the next request's first document, so it is delivered before the
# second call after its request went out.
R=3
N=9
timeout 30 "$TOOLS/fh_slow_source" "$ADDR" $N 300 $R >"$T/batch.out"
cat "$T/batch.out"
check "batch: every request answered" "$(grep -c '^response' "$T/batch.out")" "$((N / R))"
for first in $(seq 1 $R $N); do
    last=$((first + R - 1))
    sent=$(awk -v n=$((last + 1)) '$1 == "call" && $2 == n {print $3}' "$T/batch.out")
    got=$(awk -v n=$first '$1 == "response" && $2 == n {print $3}' "$T/batch.out")
    if [ "$last" -lt "$N" ]; then
        check "batch: the response for documents $first-$last delivered before the call for \
document $((last + 2)), not after the batch" \
              "$(awk -v n=$((last + 2)) -v g="$got" '$1 == "call" && $2 == n {print (g <= $3)}' \
                   "$T/batch.out")" "1"
        check "batch: the response for documents $first-$last within 1 s of its send \
($((got - sent)) ms)" "$(( got - sent < 1000 ))" "1"
    fi
done
stop_flow
done_checks
