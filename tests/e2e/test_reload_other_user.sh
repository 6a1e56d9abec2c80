#!/usr/bin/env bash
# Only the flow's own user can ask for a reload, root included (docs/reload.md): root's
# `flowhost reload` of a flow run by another user is refused with a reason and changes
# nothing; the flow's user reloads it. Runs only as root (it needs a second user).
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1 || ! command -v setpriv >/dev/null; then
    echo "skipped: needs root, the user nobody and setpriv"
    exit 0
fi
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
chmod 755 "$T"
cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
chmod 644 "$T/plug.so"
mkdir -p "$T/nobody" && chown nobody:nogroup "$T/nobody"
cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: ver, uses: $T/plug.so}
YML
chmod 644 "$T/flow.yml"
XDG_RUNTIME_DIR=$T/nobody XDG_CACHE_HOME=$T/nobody as_nobody "$FLOWHOST" run \
    --pid-file "$T/nobody/pid" "$T/flow.yml" 2>"$T/run.log" &
FLOW_PID=$!
for _ in $(seq 1 300); do
    [ -s "$T/nobody/pid" ] && break
    kill -0 "$FLOW_PID" 2>/dev/null || fail "the flow did not start"
    sleep 0.05
done
[ -s "$T/nobody/pid" ] || fail "the flow not ready after 15 s"
pid=$(cat "$T/nobody/pid")

rc=0
"$FLOWHOST" reload "$pid" --wait --timeout 3000 2>"$T/reload.err" || rc=$?
check "root: refused, exit 1" "$rc" "1"
check "root: it says why" "$(cat "$T/reload.err")" \
    "flowhost: process $pid is not a running flow of this user (no runtime directory of its own)"
check "root: nothing reloaded" "$(grep -c 'reload' "$T/run.log" || true)" "0"

rc=0
as_nobody "$FLOWHOST" reload "$pid" --wait --timeout 10000 2>"$T/reload.err" || rc=$?
check "the flow's user: reload --wait exits 0" "$rc" "0"
check_contains "the flow's user: one replica replaced" "$(cat "$T/reload.err")" "1 replica replaced"
kill -TERM "$pid"
rc=0
wait "$FLOW_PID" || rc=$?
FLOW_PID=""
check "the flow stops with status 0" "$rc" "0"
done_checks
