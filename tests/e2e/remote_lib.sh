# Helpers of the remote-worker tests (test_remote_*.sh, test_netns_*.sh): sourced after
# lib.sh. Workers run as `flowhost worker --listen` in the background, each with its
# log in $T/NAME.log; every one started is stopped when the test ends.
REMOTE_PIDS=()

remote_cleanup() {
    local p
    for p in "${REMOTE_PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    cleanup
}
trap remote_cleanup EXIT

# start_worker NAME [PREFIX-COMMAND...] -- WORKER-OPTIONS...: starts a remote worker
# (listening on 127.0.0.1 at an ephemeral port unless the options say --listen), waits
# until it listens; sets WPID_NAME and WADDR_NAME (HOST:PORT).
start_worker() {
    local name=$1
    shift
    local prefix=()
    while [ "$1" != "--" ]; do
        prefix+=("$1")
        shift
    done
    shift
    local args=("$@")
    case " ${args[*]} " in
        *" --listen "*) ;;
        *) args=(--listen "tcp://127.0.0.1:*" "${args[@]}") ;;
    esac
    : >"$T/$name.log"
    "${prefix[@]}" "$FLOWHOST" worker "${args[@]}" 2>>"$T/$name.log" &
    local pid=$!
    REMOTE_PIDS+=("$pid")
    local i
    for i in $(seq 1 200); do
        grep -q "listening on" "$T/$name.log" && break
        kill -0 "$pid" 2>/dev/null || fail "worker $name did not start: $(cat "$T/$name.log")"
        sleep 0.05
    done
    grep -q "listening on" "$T/$name.log" || fail "worker $name not listening after 10 s"
    eval "WPID_$name=$pid"
    eval "WADDR_$name=$(grep -o 'listening on [^ ]*' "$T/$name.log" | tail -n 1 | cut -d' ' -f3)"
}

# wait_log FILE TEXT SECONDS: waits until FILE holds TEXT; fails after SECONDS.
wait_log() {
    local i
    for i in $(seq 1 $(($3 * 20))); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "[$2] not in $1 after $3 s: $(tail -n 5 "$1")"
}

# count_answers FILE: "N-answers N-distinct-request-ids" of a post's output.
count_answers() {
    echo "$(wc -l <"$1" | tr -d ' ') $(jq -r .request_id "$1" | sort -u | wc -l | tr -d ' ')"
}

# stop_workers: SIGTERM to every worker still running; each must stop with status 0, and
# no worker log may hold a sanitizer report.
stop_workers() {
    local p rc bad=0
    for p in "${REMOTE_PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null || continue
        kill -TERM "$p" 2>/dev/null || true
        rc=0
        wait "$p" 2>/dev/null || rc=$?
        [ "$rc" = 0 ] || bad=$((bad + 1))
    done
    REMOTE_PIDS=()
    check "every worker still running stops with status 0 on SIGTERM" "$bad" "0"
    check "no sanitizer report from the remote workers" \
          "$(cat "$T"/*.log 2>/dev/null | grep -c -E 'Sanitizer|runtime error:' || true)" "0"
}
