#!/usr/bin/env bash
# Very large requests: 10^6 documents in one request, and one document of 100 MB of
# text. The flow answers them, and serves other clients at the same time.
. "$(dirname "$0")/lib.sh"

seq 1 1000000 | awk '{print "{\"text\":\"d" $1 "\"}"}' >"$T/million.ndjson"
head -c $((100 << 20)) /dev/zero | tr '\0' y | { printf '{"text": "'; cat; printf '"}\n'; } >"$T/huge.ndjson"

start_flow "$FLOWS/pass.yml"
"$FLOWHOST" post /x "$T/million.ndjson" --to "$ADDR" --request-size 1000000 -q -o "$T/million.out" \
    --timeout 110000 2>"$T/million.err" &
big=$!
"$FLOWHOST" post /x "$T/huge.ndjson" --to "$ADDR" -q -o "$T/huge.out" --timeout 110000 2>"$T/huge.err" &
huge=$!
out=$(echo '{"text": "small"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 110000)
check "a small request of another client is answered meanwhile" "$(jq -r '.docs[0].text' <<<"$out")" "small"
rc=0
wait "$big" || rc=$?
check "10^6 documents in one request: answered" "$rc:$(cat "$T/million.err")" "0:"
check "10^6 documents in one request: all of them back" \
      "$(jq '.docs | length' "$T/million.out")" "1000000"
rc=0
wait "$huge" || rc=$?
check "100 MB of text in one document: answered" "$rc:$(cat "$T/huge.err")" "0:"
check "100 MB of text in one document: all of it back" "$(jq -r '.docs[0].text | length' "$T/huge.out")" \
      "$((100 << 20))"
stop_flow
done_checks
