#!/usr/bin/env bash
# What the gateway lets in:
#  - a request a client sends with an ERROR status already set goes through the flow as
#    a new request: the status is reset in what the executors get too, not only in the
#    gateway's copy (tests/e2e/tools/fh_status.c forges one);
#  - with max_inflight: 1, a no_wait request on an idle flow is served (a one-slot flow
#    keeps no slot back for waiting requests).
. "$(dirname "$0")/lib.sh"

cat >"$T/two.yml" <<YML
jtype: Flow
version: '1'
with:
  max_inflight: 1
executors:
  - {name: first, uses: Echo}
  - {name: second, uses: Echo}
YML
start_flow "$T/two.yml"
check "a forged ERROR status: reset, the request goes through every executor" \
      "$("$TOOLS/fh_status" "$ADDR" /x)" "SUCCESS -|gateway,first,second"
rc=0
out=$(echo '{"text":"n"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --no-wait 2>"$T/err") || rc=$?
check "max_inflight 1: a no_wait request on an idle flow is served [$(cat "$T/err")]" \
      "$rc:$(jq -r .status.code <<<"$out"):$(jq -c .docs[0].tags.seen_by <<<"$out")" '0:SUCCESS:["first","second"]'
out=$(echo '{"text":"w"}' | "$FLOWHOST" post /x - --to "$ADDR" -q)
check "max_inflight 1: and so is one that waits" "$(jq -r .status.code <<<"$out")" "SUCCESS"
stop_flow
done_checks
