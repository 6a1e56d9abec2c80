#!/usr/bin/env bash
# The host, its workers and a client under valgrind (memcheck): no invalid access, no
# use of uninitialised memory, no definitely or indirectly lost block, through a flow's
# whole life (start, requests that succeed and fail, drain, stop). Registered only for
# builds without sanitizers (valgrind and AddressSanitizer do not mix).
. "$(dirname "$0")/lib.sh"
command -v valgrind >/dev/null || fail "valgrind is not installed (scripts/setup installs it)"

mkdir -p "$T/vg"
vg=(valgrind -q --trace-children=yes --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --log-file="$T/vg/%p.log")
"${vg[@]}" "$FLOWHOST" run --address-file "$T/addr" "$FLOWS/errors.yml" 2>"$T/run.log" &
FLOW_PID=$!
for _ in $(seq 1 600); do [ -s "$T/addr" ] && break; sleep 0.1; done
[ -s "$T/addr" ] || fail "the flow did not start under valgrind"
ADDR=$(cat "$T/addr")

for i in $(seq 1 30); do echo "{\"text\":\"doc $i\",\"tags\":{\"n\":$i}}"; done >"$T/in.ndjson"
# Three documents with 40 KB blobs: they travel as blob frames (taken, shared, freed by
# ZeroMQ's I/O threads, copied back by each decoder).
python3 -c '
import base64, json
for i in range(3):
    print(json.dumps({"id": "blob-%d" % i, "blob": base64.b64encode(bytes([i]) * 40000).decode()}))
' >>"$T/in.ndjson"
out=$("${vg[@]}" "$FLOWHOST" post /index "$T/in.ndjson" --to "$ADDR" --request-size 7 -q)
check "under valgrind: 5 responses" "$(wc -l <<<"$out" | tr -d ' ')" "5"
check "under valgrind: the blobs came back whole" \
      "$(jq -r '.docs[] | select(.id | startswith("blob-")) | .blob | @base64d | length' <<<"$out" | tr '\n' ' ')" \
      "40000 40000 40000 "
rc=0
echo '{"text":"x","tags":{"fail":true}}' | "$FLOWHOST" post /x - --to "$ADDR" -q >/dev/null 2>&1 || rc=$?
check "under valgrind: a failing request is an error" "$rc" "1"
stop_flow

logs=$(ls "$T/vg" | wc -l)
check "valgrind followed the host, its 3 workers and the client" "$(( logs >= 5 ))" "1"
report=$(cat "$T"/vg/*.log)
check "valgrind: no error and no leak in any process" "$report" ""
done_checks
