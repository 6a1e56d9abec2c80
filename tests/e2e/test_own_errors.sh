#!/usr/bin/env bash
# fh_flow_error / fh_client_error: a flow's and a client's last failure is kept with
# them, whatever fails after it elsewhere (fh_last_error() is overwritten).
. "$(dirname "$0")/lib.sh"
export FLOWHOST_BIN=$FLOWHOST
# A port nothing listens on: bound, then freed.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rc=0
timeout 30 "$TOOLS/fh_own_errors" "$port" >"$T/out" 2>&1 || rc=$?
cat "$T/out"
check "every check of the tool holds" "$rc" "0"
check "nothing failed" "$(grep -c '^FAIL' "$T/out" || true)" "0"
done_checks
