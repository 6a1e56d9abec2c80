# Helpers of the HTTP gateway's end-to-end tests (test_http*.sh): sourced after lib.sh.

# start_http_flow FLOW.yml: `flowhost run` in the background; once ready, ADDR is its
# ZeroMQ address and URL its HTTP one (the second line of the address file).
start_http_flow() {
    rm -f "$T/addr"
    "$FLOWHOST" run --address-file "$T/addr" "$1" 2>"$T/run.log" &
    FLOW_PID=$!
    for _ in $(seq 1 300); do
        [ -f "$T/addr" ] && [ "$(wc -l <"$T/addr")" -ge 2 ] && break
        kill -0 "$FLOW_PID" 2>/dev/null || fail "flow $1 did not start"
        sleep 0.05
    done
    [ -f "$T/addr" ] && [ "$(wc -l <"$T/addr")" -ge 2 ] || fail "flow $1 not ready after 15 s"
    ADDR=$(sed -n 1p "$T/addr")
    URL=$(sed -n 2p "$T/addr")
}

# http_code METHOD PATH [CURL ARGS...]: the status code; the body in $T/body, the headers
# in $T/headers. Bounded to 20 s.
http_code() {
    local method=$1 path=$2
    shift 2
    curl -s -m 20 -X "$method" -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@" "$URL$path" || true
}

# rss_kb PID: the resident set of a process, in KiB.
rss_kb() {
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}
