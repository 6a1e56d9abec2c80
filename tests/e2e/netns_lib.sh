# Machines on this machine, for the tests across machines (test_netns_*.sh): sourced after
# lib.sh and remote_lib.sh. Each "host" is a network namespace with one interface, eth0,
# whose other end is on a bridge in a hub namespace of its own: nothing of the machine's
# own network is touched. Every namespace the test makes is removed when it ends, also
# when it fails (the trap). A test that cannot make them says why and exits 77, ctest's
# skip code (tests/CMakeLists.txt): never a pass.
NETNS_PREFIX=fhrt$$
NETNS_MADE=()
NETNS_HOSTS=()

skip() {
    echo "SKIP: $*"
    exit 77
}

netns_cleanup() {
    local n
    remote_cleanup_procs
    for n in "${NETNS_MADE[@]}"; do
        ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$n" 2>/dev/null || true
    done
    cleanup
}
remote_cleanup_procs() {
    local p
    for p in "${REMOTE_PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
}
trap netns_cleanup EXIT

# netns_require: skips unless namespaces can be made here.
netns_require() {
    [ "$(id -u)" = 0 ] || skip "network namespaces need root (uid $(id -u))"
    command -v ip >/dev/null || skip "no 'ip' command (Debian's iproute2: scripts/setup installs it)"
    ip netns add "${NETNS_PREFIX}probe" 2>"$T/netns.err" ||
        skip "cannot make a network namespace: $(cat "$T/netns.err")"
    ip netns del "${NETNS_PREFIX}probe"
}

# netns_hosts NAME...: makes a host per NAME, addressed 10.77.0.(10+i) (NAME's index),
# on one bridge. HOST_IP_NAME holds each address, NS_NAME its namespace.
netns_hosts() {
    local hub=${NETNS_PREFIX}hub i=0 name
    NETNS_HOSTS=("$@")
    ip netns add "$hub" && NETNS_MADE+=("$hub")
    ip -n "$hub" link add br0 type bridge
    ip -n "$hub" link set br0 up
    for name in "$@"; do
        local ns=${NETNS_PREFIX}$name
        ip netns add "$ns" && NETNS_MADE+=("$ns")
        ip link add "${NETNS_PREFIX}$i" type veth peer name eth0 netns "$ns"
        ip link set "${NETNS_PREFIX}$i" netns "$hub"
        ip -n "$hub" link set "${NETNS_PREFIX}$i" master br0 up
        ip -n "$ns" addr add "10.77.0.$((10 + i))/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
        eval "HOST_IP_$name=10.77.0.$((10 + i))"
        eval "NS_$name=$ns"
        i=$((i + 1))
    done
}

# on HOST COMMAND...: runs COMMAND on HOST. (In the background, use `ip netns exec
# "$NS_HOST" COMMAND... &` instead, so that $! is COMMAND's own pid, not a subshell's.)
on() {
    local ns=${NETNS_PREFIX}$1
    shift
    ip netns exec "$ns" "$@"
}

# link HOST up|down: plugs HOST's cable in, or pulls it out (its end on the bridge: HOST
# itself sees its interface up, and nothing is told to anyone).
link() {
    local ns=${NETNS_PREFIX}$1 i=0 name
    for name in "${NETNS_HOSTS[@]}"; do
        [ "$name" = "$1" ] && break
        i=$((i + 1))
    done
    ip -n "${NETNS_PREFIX}hub" link set "${NETNS_PREFIX}$i" "$2"
}

# start_flow_on HOST FLOW.yml: `flowhost run` on HOST; sets ADDR (on HOST's loopback).
start_flow_on() {
    rm -f "$T/addr"
    ip netns exec "${NETNS_PREFIX}$1" "$FLOWHOST" run --address-file "$T/addr" "$2" 2>"$T/run.log" &
    FLOW_PID=$!
    local i
    for i in $(seq 1 300); do
        [ -s "$T/addr" ] && break
        kill -0 "$FLOW_PID" 2>/dev/null || fail "flow $2 did not start on $1"
        sleep 0.05
    done
    [ -s "$T/addr" ] || fail "flow $2 not ready on $1 after 15 s"
    ADDR=$(cat "$T/addr")
}
