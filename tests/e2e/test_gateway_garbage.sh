#!/usr/bin/env bash
# Malformed messages to a running flow's gateway (tests/e2e/tools/fh_garbage.c): each is
# dropped with a log line, a request with an invalid endpoint gets an ERROR reply, and
# the flow keeps serving ordinary clients and stops cleanly.
. "$(dirname "$0")/lib.sh"

GARBAGE=$TOOLS/fh_garbage
[ -x "$GARBAGE" ] || fail "$GARBAGE not built (FH_BUILD_DIR=${FH_BUILD_DIR:-unset})"

# The flow's runtime directory goes under $T, so that what it leaves is ours to see.
export XDG_RUNTIME_DIR=$T/rt
mkdir -p "$XDG_RUNTIME_DIR"

cat >"$T/flow.yml" <<'EOF'
jtype: Flow
version: '1'
executors:
  - name: echo
    uses: Echo
EOF
start_flow "$T/flow.yml"

rc=0
timeout 60 "$GARBAGE" "$ADDR" >"$T/garbage.out" 2>&1 || rc=$?
cat "$T/garbage.out"
check "fh_garbage exits 0 (every check of it passed)" "$rc" "0"
out=$(cat "$T/garbage.out")
check_contains "the invalid-endpoint probe got the gateway's ERROR reply" "$out" \
    "request_id=probe-1 endpoint=no-slash status=ERROR executor=gateway description=invalid endpoint"
check_contains "the last probe was answered too" "$out" "ok - after undecodable documents, an invalid endpoint gets an ERROR reply"
check_contains "undecodable documents came back as the executor's ERROR" "$out" \
    "request_id=bad-docs status=ERROR executor=echo description=cannot decode documents"
check_contains "stray blob frames came back as the executor's ERROR" "$out" \
    "request_id=stray-blobs status=ERROR executor=echo description=cannot decode documents: 2 blob frames came for 0"
check_contains "a missing blob frame came back as the executor's ERROR" "$out" \
    "request_id=missing-blob status=ERROR executor=echo description=cannot decode documents: document 0 says its blob is attached"
check_contains "fh_garbage ran every check" "$out" "fh_garbage: 19 checks, 0 failed"
kill -0 "$FLOW_PID" 2>/dev/null && alive=yes || alive=no
check "the flow is alive after the garbage" "$alive" "yes"

# An ordinary client is still served.
printf '{"text":"one"}\n{"text":"two"}\n' >"$T/in.ndjson"
rc=0
timeout 30 "$FLOWHOST" post /x "$T/in.ndjson" --to "$ADDR" --timeout 10000 -q \
    >"$T/out.ndjson" 2>"$T/post.err" || rc=$?
check "flowhost post after the garbage exits 0 ($(cat "$T/post.err"))" "$rc" "0"
out=$(cat "$T/out.ndjson")
check_contains "the post's response is a success" "$out" '"status":{"code":"SUCCESS"}'
check_contains "the post's documents came back" "$out" '"text":"two"'

log=$(cat "$T/run.log")
check_contains "log: random bytes / wrong signature dropped" "$log" \
    "dropped a client message: not a flowhost message (bad protocol signature)"
check_contains "log: unknown command dropped" "$log" "dropped a client message: unknown flowhost command"
check_contains "log: a client's READY dropped" "$log" "dropped a client message: unexpected command 1"
check_contains "log: a REQUEST without envelope dropped" "$log" "dropped a client message: no envelope"
check_contains "log: a truncated envelope dropped" "$log" \
    "dropped a client message: cannot decode the request envelope: malformed message"
check_contains "log: 24 frames dropped" "$log" \
    "dropped a client message: too many frames in a flowhost message"
check "log: 10 dropped client messages" "$(grep -c 'dropped a client message' "$T/run.log")" "10"

# Nesting 300,000 levels deep, in the parameters (read by the gateway) and in the
# documents (read by the worker): refused before decoding, the stack is never at risk.
out=$("$TOOLS/fh_deep" "tcp://$ADDR")
check "deep parameters: dropped, no reply" "$(grep '^envelope:' <<<"$out")" "envelope: no reply"
check_contains "deep documents: an error reply" "$(grep '^documents:' <<<"$out")" "nested deeper than 64 levels"
check_contains "log: deep parameters dropped" "$(cat "$T/run.log")" "nested deeper than 64 levels"
kill -0 "$FLOW_PID" 2>/dev/null && alive=yes || alive=no
check "the flow is alive after the post" "$alive" "yes"

stop_flow
check "no worker of this flow is left" "$(pgrep -f "$XDG_RUNTIME_DIR" | wc -l)" "0"
check "the runtime directory is removed" "$(ls -A "$XDG_RUNTIME_DIR")" ""
done_checks
