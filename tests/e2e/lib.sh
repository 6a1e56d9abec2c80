# Shared helpers of the end-to-end tests: sourced, never run. The tests drive the real
# flowhost binary ($FLOWHOST) with the real plugins ($FH_PLUGIN_DIR); ctest sets both.
set -euo pipefail

: "${FLOWHOST:?set by ctest: the flowhost binary}"
: "${FH_PLUGIN_DIR:?set by ctest: the folder of the built plugins}"
: "${FH_SOURCE_DIR:?set by ctest: the source tree}"
export FLOWHOST_PLUGIN_PATH=$FH_PLUGIN_DIR
FLOWS=$FH_SOURCE_DIR/flows
TOOLS=${FH_BUILD_DIR:-}/tests
T=$(mktemp -d /tmp/fh-e2e.XXXXXX)
# Flows make their private runtime directories here: one that a test kills with SIGKILL
# (and so cannot clean up after itself) goes with the test's own folder.
export XDG_RUNTIME_DIR=$T/rt
mkdir -p "$XDG_RUNTIME_DIR"
# The workers' cache of plugin scans goes with the test too, not in the user's home.
export XDG_CACHE_HOME=$T/cache
FLOW_PID=""
CHECKS=0

cleanup() {
    if [ -n "$FLOW_PID" ] && kill -0 "$FLOW_PID" 2>/dev/null; then
        kill -KILL "$FLOW_PID" 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -f "$T/run.log" ]; then
        echo "--- flow log:" >&2
        tail -n 30 "$T/run.log" >&2
    fi
    exit 1
}

# check DESCRIPTION ACTUAL EXPECTED
check() {
    CHECKS=$((CHECKS + 1))
    if [ "$2" != "$3" ]; then
        fail "$1: expected [$3], got [$2]"
    fi
    echo "ok - $1"
}

# check_contains DESCRIPTION HAYSTACK NEEDLE
check_contains() {
    CHECKS=$((CHECKS + 1))
    case "$2" in
        *"$3"*) echo "ok - $1" ;;
        *) fail "$1: [$3] not found in [$2]" ;;
    esac
}

# expect_fail DESC RC NEEDLE... -- COMMAND...: exit status RC within 30 s, exactly one
# line on stderr, starting 'flowhost: ' and holding every NEEDLE, nothing on stdout.
expect_fail() {
    local desc=$1 want=$2
    shift 2
    local needles=()
    while [ "$1" != "--" ]; do
        needles+=("$1")
        shift
    done
    shift
    local rc=0
    timeout 30 "$@" </dev/null >"$T/stdout" 2>"$T/stderr" || rc=$?
    local err
    err=$(cat "$T/stderr")
    check "$desc: exit status" "$rc" "$want"
    check "$desc: one line on stderr [$err]" "$(wc -l <"$T/stderr" | tr -d ' ')" "1"
    check_contains "$desc: message starts with 'flowhost: '" "$err" "flowhost: "
    local n
    for n in "${needles[@]}"; do
        check_contains "$desc: message" "$err" "$n"
    done
    check "$desc: nothing on stdout" "$(cat "$T/stdout")" ""
}

# start_flow FLOW.yml: runs `flowhost run` in the background, sets ADDR once it is ready.
start_flow() {
    rm -f "$T/addr"
    "$FLOWHOST" run --address-file "$T/addr" "$1" 2>"$T/run.log" &
    FLOW_PID=$!
    for _ in $(seq 1 300); do
        [ -s "$T/addr" ] && break
        kill -0 "$FLOW_PID" 2>/dev/null || fail "flow $1 did not start"
        sleep 0.05
    done
    [ -s "$T/addr" ] || fail "flow $1 not ready after 15 s"
    ADDR=$(cat "$T/addr")
}

# stop_flow: SIGTERM, and the flow must exit 0.
stop_flow() {
    kill -TERM "$FLOW_PID"
    local rc=0
    wait "$FLOW_PID" || rc=$?
    FLOW_PID=""
    check "flow stops with status 0 on SIGTERM" "$rc" "0"
    check "no sanitizer report from the flow or its workers" \
          "$(grep -c -E 'Sanitizer|runtime error:' "$T/run.log" || true)" "0"
}

# done_checks: the closing line ctest shows.
done_checks() {
    echo "$CHECKS passed, 0 failed"
}
