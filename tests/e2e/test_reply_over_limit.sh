#!/usr/bin/env bash
# A reply that would be over with.max_message_size, and a worker whose connection is
# gone: the request gets an error instead of waiting for ever, the worker is replaced
# when it must be, and the next request succeeds.
#  - Grow: a 1.86 MB request whose reply grows past a 2 MiB limit. The worker knows the
#    limit and never sends a frame the gateway would refuse (ZeroMQ would drop its
#    connection, and the request with it): it answers an error with the documents as
#    they came.
#  - Cut: a worker whose connection to the gateway is cut in the middle of a request
#    (ZeroMQ reconnects it under a new routing id, so its answer goes to nobody): the
#    gateway's next heartbeat finds the old connection gone, answers the request with an
#    error and replaces the worker.
. "$(dirname "$0")/lib.sh"

cat >"$T/grow.yml" <<YML
jtype: Flow
version: '1'
with:
  max_message_size: 2097152
executors:
  - {name: grow, uses: Grow}
  - {name: tag, uses: Echo}
YML
start_flow "$T/grow.yml"
printf '{"text": "%s"}\n' "$(head -c 1860000 /dev/zero | tr '\0' a)" >"$T/big.ndjson"
rc=0
"$FLOWHOST" post /x "$T/big.ndjson" --to "$ADDR" -q --parameters '{"grow": 300000}' \
    --timeout 20000 >"$T/big.out" 2>"$T/big.err" || rc=$?
check "a reply grown past the limit: answered, with an error (exit 1)" "$rc" "1"
check "a reply grown past the limit: ERROR from the executor that grew it" \
      "$(jq -r '.status.code + " " + .status.executor' "$T/big.out")" "ERROR grow"
check_contains "a reply grown past the limit: says why" "$(jq -r .status.description "$T/big.out")" \
      "the reply's documents are"
check_contains "a reply grown past the limit: names the limit" "$(jq -r .status.description "$T/big.out")" \
      "over the flow's max_message_size (2097152)"
check "a reply grown past the limit: the document as it came (1,860,000 characters)" \
      "$(jq -r '.docs[0].text | length' "$T/big.out")" "1860000"
out=$(echo '{"text": "small"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 20000)
check "the next request succeeds" "$(jq -r .status.code <<<"$out"):$(jq -c .docs[0].tags.seen_by <<<"$out")" \
      'SUCCESS:["tag"]'
rc=0
"$FLOWHOST" post /x "$T/big.ndjson" --to "$ADDR" -q --parameters '{"grow": 1000}' \
    --timeout 20000 >"$T/under.out" 2>/dev/null || rc=$?
check "a 1.86 MB request whose reply stays under the limit: SUCCESS" \
      "$rc:$(jq -r .status.code "$T/under.out"):$(jq -r '.docs[0].text | length' "$T/under.out")" \
      "0:SUCCESS:1861000"
check "no worker connection was dropped" "$(grep -c 'unknown worker' "$T/run.log" || true)" "0"
stop_flow

cat >"$T/cut.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: cut, uses: Cut}
  - {name: tag, uses: Echo}
YML
start_flow "$T/cut.yml"
worker=$(pgrep -P "$FLOW_PID" | head -n 1)
rc=0
out=$(echo '{"text": "c"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --parameters '{"cut": true}' \
    --timeout 30000 2>/dev/null) || rc=$?
check "a lost connection: the request is answered with an error" "$rc:$(jq -r .status.code <<<"$out")" "1:ERROR"
check "a lost connection: the error says so" "$(jq -r .status.description <<<"$out")" \
      "lost the connection to executor 'cut'"
check_contains "a lost connection: the worker is replaced" "$(cat "$T/run.log")" \
      "lost the connection to executor 'cut': restarting it"
out=$(echo '{"text": "d"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 20000)
check "a lost connection: the next request succeeds" "$(jq -r .status.code <<<"$out")" "SUCCESS"
for _ in $(seq 1 100); do kill -0 "$worker" 2>/dev/null || break; sleep 0.05; done
check "a lost connection: the old worker is gone" "$(kill -0 "$worker" 2>/dev/null && echo alive || echo gone)" "gone"
stop_flow
done_checks
