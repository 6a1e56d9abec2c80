#!/usr/bin/env bash
# with.max_message_size: a larger message is refused (the connection that sent it is
# dropped, and the client says so); smaller ones go through.
. "$(dirname "$0")/lib.sh"

cat >"$T/limit.yml" <<YML
jtype: Flow
version: '1'
with:
  max_message_size: 4096
executors:
  - {name: tag, uses: Echo}
YML
start_flow "$T/limit.yml"
printf '{"text": "%s"}\n' "$(head -c 10000 /dev/zero | tr '\0' x)" >"$T/big.ndjson"
rc=0
"$FLOWHOST" post /x "$T/big.ndjson" --to "$ADDR" -q >/dev/null 2>"$T/err" || rc=$?
check "a 10 kB request to a 4 kB limit: exit 2" "$rc" "2"
check_contains "a 10 kB request to a 4 kB limit: says why" "$(cat "$T/err")" "max_message_size"
out=$(echo '{"text": "small"}' | "$FLOWHOST" post /x - --to "$ADDR" -q)
check "a small request still goes through" "$(jq -r .status.code <<<"$out")" "SUCCESS"
kill -0 "$FLOW_PID" && alive=yes || alive=no
check "the flow is alive" "$alive" "yes"
stop_flow
done_checks
