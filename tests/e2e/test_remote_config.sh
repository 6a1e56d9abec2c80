#!/usr/bin/env bash
# Executors served elsewhere in the flow YAML: host/port/external/worker_key and
# with.gateway_key. Every mistake is one line naming the file, line and column and why;
# validate and plot show where an executor is served; `uses` of one is ignored with a
# warning; Jina's external executor loads as it is.
source "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
"$FLOWHOST" keygen "$T/w" >/dev/null
"$FLOWHOST" keygen "$T/g" >/dev/null

bad() { # bad DESC NEEDLE BODY: validate fails with NEEDLE
    printf 'jtype: Flow\nversion: "1"\n%s\n' "$3" >"$T/bad.yml"
    expect_fail "$1" 2 "bad.yml:" "$2" -- "$FLOWHOST" validate "$T/bad.yml"
}
bad "port without host" "5:5: 'port' needs 'host'" 'executors:
  - name: e
    port: 8001'
bad "external without host" "5:5: 'external: true' needs 'host'" 'executors:
  - name: e
    external: true'
bad "external false with host" "'external: false' contradicts 'host'" 'executors:
  - {name: e, host: 10.0.0.2, port: 1, external: false}'
bad "host without a port" "4:21: 'host' '10.0.0.2' is not HOST:PORT" 'executors:
  - {name: e, host: 10.0.0.2}'
bad "a port out of range" "'port' must be" 'executors:
  - {name: e, host: 10.0.0.2, port: 70000}'
bad "port with a list" "'port' goes with a single 'host'" 'executors:
  - {name: e, host: [a:1, b:2], port: 3}'
bad "a list entry without a port" "'host' 'b' is not HOST:PORT" 'executors:
  - {name: e, host: [a:1, b]}'
bad "replicas that disagree" "'replicas: 3' but 'host' lists 2 workers" 'executors:
  - {name: e, host: [a:1, b:2], replicas: 3}'
bad "hosts not a multiple of shards" "'host' lists 3 workers for 2 shards" 'executors:
  - {name: e, host: [a:1, b:2, c:3], shards: 2}'
bad "an address listed twice" "5:26: 'host' '127.0.0.1:0080' is listed twice (as '127.0.0.1:80' of executor 'e' too)" 'executors:
  - name: e
    host: [127.0.0.1:80, 127.0.0.1:0080]'
bad "an address of two executors (host names in any case)" "6:11: 'host' 'W1.example:9' is listed twice (as 'w1.example:9' of executor 'a' too)" 'executors:
  - {name: a, host: "w1.example:9"}
  - name: b
    host: W1.example
    port: 9'
bad "worker_key without gateway_key" "'worker_key' needs the flow's 'gateway_key'" "executors:
  - {name: e, host: 'a:1', worker_key: $T/w}"
bad "worker_key without host" "'worker_key' needs 'host'" "executors:
  - {name: e, worker_key: $T/w}"
bad "a worker_key that is not a key" "worker_key:" "with: {gateway_key: $T/g_secret}
executors:
  - {name: e, host: 'a:1', worker_key: $T/nothing}"
bad "a gateway_key that is not a secret" "gateway_key:" "with: {gateway_key: $T/g}
executors:
  - {name: e, host: 'a:1'}"
bad "tls" "'tls' in executors[0] is not supported: the links to remote workers are encrypted with CURVE" 'executors:
  - {name: e, host: "a:1", tls: true}'

bad "port and Jina 2's port_in both" "'port_in' is Jina's older name for 'port': keep one of them" \
"executors:
  - {name: a, host: 10.0.0.2, port: 8001, port_in: 8001}"
bad "port_in without host" "'port_in' in executors[0] is not supported: flowhost picks the sockets" \
"executors:
  - {name: a, port_in: 8001}"
# Jina 2's external executor: host, port_in, external
cat >"$T/jina2.yml" <<'YML'
jtype: Flow
version: '1'
executors:
  - name: ext
    host: 10.0.0.2
    port_in: 45678
    external: true
YML
"$FLOWHOST" validate "$T/jina2.yml" >"$T/j2.out" 2>&1 || true
check "Jina 2's port_in is the port of an external executor" "$(sed -n 2p "$T/j2.out")" "  1. ext  (remote: 10.0.0.2:45678)"

# --- a good one: validate and plot say where -----------------------------------------------
cat >"$T/good.yml" <<YML
jtype: Flow
version: '1'
with: {gateway_key: $T/g_secret}
executors:
  - name: enc
    uses: jinahub://Whatever
    host: 10.0.0.2
    port: 8001
    external: true
    worker_key: $T/w
  - {name: idx, host: ["10.0.0.3:8001", "10.0.0.4:8001", "10.0.0.5:8001", "10.0.0.6:8001"], shards: 2, polling: ALL}
YML
rc=0
"$FLOWHOST" validate "$T/good.yml" >"$T/v.out" 2>"$T/v.err" || rc=$?
check "valid: exit 0" "$rc" "0"
check "valid: one executor" "$(sed -n 2p "$T/v.out")" "  1. enc  (remote, CURVE: 10.0.0.2:8001)"
check "valid: shards x replicas" "$(sed -n 3p "$T/v.out")" \
      "  2. idx  (remote: 10.0.0.3:8001 10.0.0.4:8001 10.0.0.5:8001 10.0.0.6:8001)"
check_contains "valid: uses of a remote executor ignored, saying so" "$(cat "$T/v.err")" \
      "good.yml:6:5: 'uses' of an executor served elsewhere ('host') is ignored"
"$FLOWHOST" plot "$T/good.yml" >"$T/plot.out"
check_contains "plot: replicas of each shard" "$(cat "$T/plot.out")" "x2 replicas"
check_contains "plot: where" "$(cat "$T/plot.out")" "at 10.0.0.3:8001, 10.0.0.4:8001, 10.0.0.5:8001, 10.0.0.6:8001"
done_checks
