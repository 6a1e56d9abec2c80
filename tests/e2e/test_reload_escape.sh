#!/usr/bin/env bash
# What the flow echoes of a reload request into its answer (and so into the user's
# terminal) has its non-printable bytes escaped: an executor name or an unknown request
# line holding an escape sequence or bytes beyond ASCII comes back as \xNN.
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "skipped: no python3"; exit 0; }

cat >"$T/flow.yml" <<'YML'
jtype: Flow
version: '1'
executors:
  - {name: e, uses: Echo}
YML
rm -f "$T/pid"
"$FLOWHOST" run --pid-file "$T/pid" "$T/flow.yml" 2>"$T/run.log" &
FLOW_PID=$!
for _ in $(seq 1 300); do
    [ -s "$T/pid" ] && break
    kill -0 "$FLOW_PID" 2>/dev/null || fail "the flow did not start"
    sleep 0.05
done
[ -s "$T/pid" ] || fail "the flow not ready after 15 s"
RUNDIR=$(find "$XDG_RUNTIME_DIR" -maxdepth 1 -name 'flowhost-*' -type d | head -n 1)

rc=0
"$FLOWHOST" reload "$FLOW_PID" --executor $'\e[2Jbad\tname\xff' --timeout 5000 2>"$T/reload.err" || rc=$?
check "executor: refused" "$rc" "1"
check_contains "executor: the name escaped" "$(cat "$T/reload.err")" \
    "the flow has no executor '\\x1b[2Jbad\\x09name\\xff'"
check "executor: no escape byte in the answer" "$(grep -c $'\e' "$T/reload.err" || true)" "0"

# A request line the command never writes: the request made by hand, then signalled
# as the command does (sigqueue of SIGRTMIN+1, the request's id as its value).
printf 'wait\nfrob \033]0;title\007 now\n' >"$RUNDIR/reload-4242.req"
: >"$RUNDIR/reload-4242.ack"
exec 9<"$RUNDIR/reload-4242.ack"
python3 - "$FLOW_PID" <<'PY'
import ctypes, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.sigqueue(int(sys.argv[1]), signal.SIGRTMIN + 1, ctypes.c_void_p(4242)) != 0:
    sys.exit("sigqueue: errno %d" % ctypes.get_errno())
PY
answer=""
for _ in $(seq 1 200); do
    answer=$(cat <&9)
    [ -n "$answer" ] && break
    sleep 0.025
done
exec 9<&-
check "line: the answer, escaped" "$answer" \
    "refused: a request line it does not know: 'frob \\x1b]0;title\\x07 now'"
check "line: the answer file removed" "$([ -e "$RUNDIR/reload-4242.ack" ] && echo there || echo gone)" "gone"
stop_flow
done_checks
