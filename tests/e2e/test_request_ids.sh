#!/usr/bin/env bash
# Request ids are text: 1 to 256 bytes without control characters. An id with a NUL
# (which a C string would cut short), a newline, more than 256 bytes, or none at all is
# answered with an error from the gateway, never passed on cut or forged into the log.
. "$(dirname "$0")/lib.sh"

HOSTILE=$TOOLS/fh_hostile
[ -x "$HOSTILE" ] || fail "$HOSTILE not built"
cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: echo, uses: Echo}
YML
start_flow "$T/flow.yml"
out=$(timeout 60 "$HOSTILE" ids "$ADDR" 2>/dev/null)
echo "$out"
long=$(printf 'i%.0s' $(seq 1 256))
check "an id with a NUL: refused, not cut and served" "$(sed -n 1p <<<"$out")" \
    "reply: nul ERROR cannot decode the request envelope: string field 'request_id' of Envelope holds a NUL byte"
check "an id with a newline: refused" "$(sed -n 2p <<<"$out")" \
    "reply: line?break ERROR invalid request id: it must be 1 to 256 bytes of text without control characters"
check "an id of 300 bytes: refused (the reply's id cut to 256)" "$(sed -n 3p <<<"$out")" \
    "reply: $long ERROR invalid request id: it must be 1 to 256 bytes of text without control characters"
check "an empty id: refused" "$(sed -n 4p <<<"$out")" \
    "reply:  ERROR invalid request id: it must be 1 to 256 bytes of text without control characters"
check "a good id: answered" "$(sed -n 5p <<<"$out")" "reply: fine-id SUCCESS "
check "no log line starts with a forged id" "$(grep -c '^break' "$T/run.log" || true)" "0"
stop_flow
done_checks
