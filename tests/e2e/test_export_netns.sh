#!/usr/bin/env bash
# The exported manifests, run: every command the Kubernetes manifests hold (each worker
# replica's `flowhost worker --listen ...` with its env, the gateway's `flowhost run` on the
# ConfigMap's flow) runs in a network namespace of its own, joined to the others by veth
# pairs on a bridge, with the Services' DNS names (NAME-R.NAME) written in each namespace's
# /etc/hosts (which `ip netns exec` mounts over /etc/hosts). The readiness probes the
# manifests name answer, and the flow they form answers posts: every document through
# every executor, both replicas of the replicated one used, the executor's env seen. Needs root and iproute2: skipped (exit 77) with the reason otherwise.
. "$(dirname "$0")/lib.sh"

skip() {
    echo "SKIP: $*"
    exit 77
}
[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
command -v ip >/dev/null || skip "no ip (iproute2)"
"$FLOWHOST" worker --help 2>&1 | grep -q -- '--listen' ||
    skip "this flowhost has no remote workers (flowhost worker --listen)"
PY=$(command -v python3 || true)
"$PY" -c 'import yaml' 2>/dev/null || PY=/usr/bin/python3
"$PY" -c 'import yaml' 2>/dev/null || fail "no python3 with the yaml module (scripts/setup installs python3-yaml)"

# Names unique to this run: several tests may make namespaces at once.
P=fx$$
NSS=()
PIDS=()
netns_cleanup() {
    local pid ns
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    for ns in "${NSS[@]}" "$P-hub"; do
        ip netns delete "$ns" 2>/dev/null || true
        rm -rf "/etc/netns/$ns"
    done
    cleanup
}
trap netns_cleanup EXIT

cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
with: {env: {MY_ENV: from-the-flow}}
executors:
  - name: tok
    uses: Tokenize
  - name: ledger
    uses: Ledger
    uses_with: {ledger: $T/ledger}
    replicas: 2
  - name: reader
    uses: EnvReader
    env: {MY_ENV: from-the-executor}
  - name: shouter
    uses: Shout
    uses_with: {suffix: ' !!'}
    shards: 2
  - name: passer
YML
"$FLOWHOST" validate "$T/flow.yml" >/dev/null || fail "the test's flow"
"$FLOWHOST" export kubernetes "$T/flow.yml" "$T/k8s" --plugin-dir "$FH_PLUGIN_DIR" ||
    fail "export"

# One line per pod: NAME <tab> DNS-NAME <tab> env JSON <tab> argv JSON <tab> probe JSON.
"$PY" - "$T/k8s" "$T/gateway-flow.yml" >"$T/pods" <<'PY' || fail "reading the manifests"
import json, os, sys, yaml
d = sys.argv[1]
for f in sorted(os.listdir(d)):
    o = yaml.safe_load(open(os.path.join(d, f)))
    if o["kind"] == "ConfigMap":
        open(sys.argv[2], "w").write(o["data"]["flow.yml"])
    if o["kind"] not in ("StatefulSet", "Deployment"):
        continue
    c = o["spec"]["template"]["spec"]["containers"][0]
    name = o["metadata"]["name"]
    for r in range(o["spec"]["replicas"]):
        env = {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}
        argv = c["command"] + [a.replace("$(FH_REPLICA)", str(r)) for a in c["args"]]
        probe = c["readinessProbe"]["exec"]["command"] if "exec" in c["readinessProbe"] else []
        dns = f"{name}-{r}.{name}" if o["kind"] == "StatefulSet" else name
        print("\t".join([f"{name}-{r}", dns, json.dumps(env), json.dumps(argv), json.dumps(probe)]))
PY
n_pods=$(wc -l <"$T/pods")
check "pods: tok 1, ledger 2, reader 1, shouter 2 shards x 1, passer 1, the gateway" "$n_pods" "8"

# The network: a bridge in a hub namespace, a veth pair from it to each pod's namespace.
ip netns add "$P-hub"
ip -n "$P-hub" link add br0 type bridge
ip -n "$P-hub" link set br0 up
i=0
: >"$T/hosts"
while IFS=$'\t' read -r pod dns _; do
    i=$((i + 1))
    ns=$P-$i
    NSS+=("$ns")
    ip netns add "$ns"
    ip link add "v$P$i" type veth peer name eth0 netns "$ns"
    ip link set "v$P$i" netns "$P-hub"
    ip -n "$P-hub" link set "v$P$i" master br0 up
    ip -n "$ns" addr add "10.77.0.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    printf '10.77.0.%d\t%s\n' "$i" "$dns" >>"$T/hosts"
done <"$T/pods"
for ns in "${NSS[@]}"; do
    mkdir -p "/etc/netns/$ns"
    { echo "127.0.0.1 localhost"; cat "$T/hosts"; } >"/etc/netns/$ns/hosts"
done
check "each namespace resolves the others' Service names" \
      "$(ip netns exec "${NSS[0]}" getent hosts ledger-1.ledger | awk '{print $1}')" \
      "$(awk '$2 == "ledger-1.ledger" {print $1}' "$T/hosts")"

# The pods' commands, as the manifests hold them ("flowhost" is the binary under test).
i=0
while IFS=$'\t' read -r pod dns env argv probe; do
    i=$((i + 1))
    ns=$P-$i
    mapfile -t args < <("$PY" -c 'import json,sys; [print(a) for a in json.loads(sys.argv[1])[1:]]' "$argv")
    mapfile -t envs < <("$PY" -c 'import json,sys; [print(f"{k}={v}") for k, v in json.loads(sys.argv[1]).items()]' "$env")
    if [ "$pod" = gateway-0 ]; then
        args=("${args[@]/\/flow\/flow.yml/$T/gateway-flow.yml}")
        GW_NS=$ns
    fi
    ip netns exec "$ns" env "${envs[@]}" "$FLOWHOST" "${args[@]}" >"$T/$pod.log" 2>&1 &
    PIDS+=($!)
    echo "$pod $ns $probe" >>"$T/probes"
done <"$T/pods"

# A pod whose process has exited fails the test at once, with its log.
all_alive() {
    local k=0 pod
    while IFS=$'\t' read -r pod _; do
        if ! kill -0 "${PIDS[$k]}" 2>/dev/null; then
            tail -5 "$T/$pod.log" >&2
            fail "$pod: its command exited"
        fi
        k=$((k + 1))
    done <"$T/pods"
}

# Every readiness probe, as its manifest writes it (the gateway's last: it is ready once
# its workers are), all within 30 s.
deadline=$((SECONDS + 30))
sort -k1,1 "$T/probes" | awk '$1 != "gateway-0"' >"$T/probes.sorted"
grep '^gateway-0 ' "$T/probes" >>"$T/probes.sorted"
while read -r pod ns probe; do
    mapfile -t cmd < <("$PY" -c 'import json,sys; [print(a) for a in json.loads(sys.argv[1])[1:]]' "$probe")
    ready=no
    while [ $SECONDS -lt $deadline ]; do
        all_alive
        if ip netns exec "$ns" "$FLOWHOST" "${cmd[@]}" --timeout 500 >/dev/null 2>&1; then
            ready=yes
            break
        fi
        sleep 0.2
    done
    [ $ready = yes ] || { tail -5 "$T/$pod.log" >&2; fail "$pod: its readiness probe never passed"; }
    check "$pod: its readiness probe (${cmd[*]}) passes" "$ready" "yes"
done <"$T/probes.sorted"

for k in $(seq 1 20); do echo "{\"text\": \"hello number $k\"}"; done >"$T/docs.ndjson"
ip netns exec "$GW_NS" timeout 30 "$FLOWHOST" post /index "$T/docs.ndjson" --to 127.0.0.1:8080 \
    --request-size 1 --prefetch 4 >"$T/out.ndjson" 2>"$T/post.err" ||
    { cat "$T/post.err" >&2; fail "the post failed"; }
check "20 responses" "$(wc -l <"$T/out.ndjson")" "20"
check "every response succeeded" "$(jq -r '.status.code // "SUCCESS"' "$T/out.ndjson" | sort -u | tr '\n' ' ')" "SUCCESS "
check "every document went through every executor (tokenized, shouted, the env read)" \
      "$(jq -r '[(.docs[0].text | test("^HELLO NUMBER [0-9]+ !!$")), .docs[0].tags.words,
                 .docs[1].tags.MY_ENV] | @tsv' "$T/out.ndjson" | sort -u)" \
      "true	3	from-the-executor"
check "the routes name every executor" \
      "$(jq -r '[.routes[].executor] | join(",")' "$T/out.ndjson" | sort -u)" \
      "gateway,tok,ledger,reader,shouter,passer"
check "both ledger replicas served (each with its own --replica)" \
      "$(jq -r '.docs[0].tags.metas_replica' "$T/out.ndjson" | sort -u | tr '\n' ' ')" "0 1 "
check "no request twice in the ledger" "$(awk '{print $1}' "$T/ledger" | sort | uniq -d | wc -l)" "0"
check "the ledger holds all 20" "$(wc -l <"$T/ledger")" "20"
done_checks
