#!/usr/bin/env bash
# The exported manifests, run: every command the Kubernetes manifests hold (each worker
# replica's `flowhost worker --listen ...` with its env, the gateway's `flowhost run` on the
# ConfigMap's flow) runs in a network namespace of its own, joined to the others by veth
# pairs on a bridge, with the Services' DNS names (NAME-R.NAME) written in each namespace's
# /etc/hosts (which `ip netns exec` mounts over /etc/hosts). The readiness probes the
# manifests name pass, and the flow they form answers posts: every document through every
# executor, both replicas of the replicated one used, the executor's env seen, none twice.
# Two rounds: a flow with HTTP (the gateway's probes on /health/...), and the same with
# --keys (CURVE between gateway and workers, each pod's /keys holding its Secret's files).
# Needs root and iproute2: skipped (exit 77) with the reason otherwise.
. "$(dirname "$0")/lib.sh"

skip() {
    echo "SKIP: $*"
    exit 77
}
[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
command -v ip >/dev/null || skip "no ip (iproute2)"
command -v curl >/dev/null || fail "no curl (scripts/setup installs it)"
PY=$(command -v python3 || true)
"$PY" -c 'import yaml' 2>/dev/null || PY=/usr/bin/python3
"$PY" -c 'import yaml' 2>/dev/null || fail "no python3 with the yaml module (scripts/setup installs python3-yaml)"

# Names unique to this run: several tests may make namespaces at once.
P=fx$$
NSS=()
PIDS=()
round_down() {
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
    PIDS=()
    NSS=()
}
trap 'round_down; cleanup' EXIT

cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
  env: {MY_ENV: from-the-flow}
executors:
  - name: tok
    uses: Tokenize
  - name: ledger
    uses: Ledger
    uses_with: {ledger: LEDGER}
    replicas: 2
  - name: reader
    uses: EnvReader
    env: {MY_ENV: 'from-the-executor \$(HOME) \$\$\$\$'}
  - name: shouter
    uses: Shout
    uses_with: {suffix: ' !\$(FH_REPLICA)\$\$\$\$!'}
    shards: 2
    uses_dynamic_batching: {/index: {preferred_batch_size: 4, timeout: 5}}
  - name: passer
YML
"$FLOWHOST" validate "$T/flow.yml" >/dev/null || fail "the test's flow"

# run_round NAME [EXPORT OPTIONS...]: export, run every pod, probe, post, check.
run_round() {
    local round=$1
    shift
    local R=$T/$round
    mkdir -p "$R"
    sed "s|LEDGER|$R/ledger|" "$T/flow.yml" >"$R/flow.yml"
    "$FLOWHOST" export kubernetes "$R/flow.yml" "$R/k8s" --plugin-dir "$FH_PLUGIN_DIR" "$@" ||
        fail "$round: export"

    # One line per pod: NAME, DNS name, env, argv, probe (JSON), its Secret or -.
    # Each pod's /keys is a folder of its own here, filled from its Secret as the init
    # container fills it (mode 0600): the paths in argv and flow say R/keys/POD instead.
    "$PY" - "$R/k8s" "$R" >"$R/pods" <<'PY' || fail "$round: reading the manifests"
import json, os, re, sys, yaml
d, r = sys.argv[1], sys.argv[2]
def kubelet(s, env):
    """What Kubernetes makes of an args or env string: $$ is $, $(VAR) a variable."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)
objs = [yaml.safe_load(open(os.path.join(d, f))) for f in sorted(os.listdir(d))]
secrets = {o["metadata"]["name"]: o["stringData"] for o in objs if o["kind"] == "Secret"}
for o in objs:
    if o["kind"] not in ("StatefulSet", "Deployment"):
        continue
    spec = o["spec"]["template"]["spec"]
    c = spec["containers"][0]
    name = o["metadata"]["name"]
    secret = next((v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v), None)
    for i in range(o["spec"]["replicas"]):
        pod = f"{name}-{i}"
        keys = f"{r}/keys/{pod}/"
        fix = lambda a: a.replace("/keys/", keys)
        pod_env = {"FH_REPLICA": str(i)}
        if secret:
            os.makedirs(keys)
            for f, text in secrets[secret].items():
                open(keys + f, "w").write(text)
                os.chmod(keys + f, 0o600)
        env = {e["name"]: kubelet(e["value"], pod_env) for e in c.get("env", []) if "value" in e}
        argv = [fix(kubelet(a, pod_env | env)) for a in c["command"] + c["args"]]
        if o["kind"] == "Deployment":
            flow = next(x for x in objs if x["kind"] == "ConfigMap")["data"]["flow.yml"]
            open(f"{r}/gateway-flow.yml", "w").write(fix(flow))
            argv = [a.replace("/flow/flow.yml", f"{r}/gateway-flow.yml") for a in argv]
        p = c["readinessProbe"]
        probe = ([fix(a) for a in p["exec"]["command"]] if "exec" in p else
                 ["GET", f"{p['httpGet']['scheme'].lower()}://127.0.0.1:{p['httpGet']['port']}{p['httpGet']['path']}"])
        dns = f"{name}-{i}.{name}" if o["kind"] == "StatefulSet" else name
        print("\t".join([pod, dns, json.dumps(env), json.dumps(argv), json.dumps(probe)]))
PY
    check "$round: pods: tok 1, ledger 2, reader 1, shouter 2 shards x 1, passer 1, gateway" \
          "$(wc -l <"$R/pods")" "8"

    # The network: a bridge in a hub namespace, a veth pair from it to each pod's.
    ip netns add "$P-hub"
    ip -n "$P-hub" link add br0 type bridge
    ip -n "$P-hub" link set br0 up
    local i=0 pod dns env argv probe ns
    : >"$R/hosts"
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
        printf '10.77.0.%d\t%s\n' "$i" "$dns" >>"$R/hosts"
    done <"$R/pods"
    for ns in "${NSS[@]}"; do
        mkdir -p "/etc/netns/$ns"
        { echo "127.0.0.1 localhost"; cat "$R/hosts"; } >"/etc/netns/$ns/hosts"
    done
    check "$round: each namespace resolves the others' Service names" \
          "$(ip netns exec "${NSS[0]}" getent hosts ledger-1.ledger | awk '{print $1}')" \
          "$(awk '$2 == "ledger-1.ledger" {print $1}' "$R/hosts")"

    # The pods' commands, as the manifests hold them ("flowhost": the binary under test).
    local gw_ns="" args envs
    i=0
    : >"$R/probes"
    while IFS=$'\t' read -r pod dns env argv probe; do
        i=$((i + 1))
        ns=$P-$i
        mapfile -t args < <("$PY" -c 'import json,sys; [print(a) for a in json.loads(sys.argv[1])[1:]]' "$argv")
        mapfile -t envs < <("$PY" -c 'import json,sys; [print(f"{k}={v}") for k, v in json.loads(sys.argv[1]).items()]' "$env")
        [ "$pod" = gateway-0 ] && gw_ns=$ns
        ip netns exec "$ns" env "${envs[@]}" "$FLOWHOST" "${args[@]}" >"$R/$pod.log" 2>&1 &
        PIDS+=($!)
        printf '%s\t%s\t%s\n' "$pod" "$ns" "$probe" >>"$R/probes"
    done <"$R/pods"

    # Every readiness probe as its manifest writes it (the gateway's last: it is ready
    # once its workers are), all within 30 s; a pod whose command exits fails at once.
    local deadline=$((SECONDS + 30)) ready k cmd
    { grep -v '^gateway-0' "$R/probes"; grep '^gateway-0' "$R/probes"; } >"$R/probes.ordered"
    while IFS=$'\t' read -r pod ns probe; do
        mapfile -t cmd < <("$PY" -c 'import json,sys; [print(a) for a in json.loads(sys.argv[1])]' "$probe")
        ready=no
        while [ $SECONDS -lt $deadline ]; do
            k=0
            while IFS=$'\t' read -r p _; do
                kill -0 "${PIDS[$k]}" 2>/dev/null ||
                    { tail -5 "$R/$p.log" >&2; fail "$round: $p: its command exited"; }
                k=$((k + 1))
            done <"$R/pods"
            if [ "${cmd[0]}" = GET ]; then
                ip netns exec "$ns" curl -sf -m 1 -o /dev/null "${cmd[1]}" && ready=yes
            else
                ip netns exec "$ns" "${cmd[@]/#flowhost/$FLOWHOST}" --timeout 500 \
                    >/dev/null 2>&1 && ready=yes
            fi
            [ $ready = yes ] && break
            sleep 0.2
        done
        [ $ready = yes ] || { tail -5 "$R/$pod.log" >&2; fail "$round: $pod: its readiness probe never passed"; }
        check "$round: $pod: its readiness probe (${cmd[*]##*/}) passes" "$ready" "yes"
    done <"$R/probes.ordered"

    # Posts from the gateway's namespace, to the port its Service names.
    for k in $(seq 1 20); do echo "{\"text\": \"hello number $k\"}"; done >"$R/docs.ndjson"
    ip netns exec "$gw_ns" timeout 30 "$FLOWHOST" post /index "$R/docs.ndjson" \
        --to 127.0.0.1:8080 --request-size 1 --prefetch 4 >"$R/out.ndjson" 2>"$R/post.err" ||
        { cat "$R/post.err" >&2; fail "$round: the post failed"; }
    check "$round: 20 responses" "$(wc -l <"$R/out.ndjson")" "20"
    check "$round: every response succeeded" \
          "$(jq -r '.status.code // "SUCCESS"' "$R/out.ndjson" | sort -u | tr '\n' ' ')" "SUCCESS "
    check "$round: every document went through every executor (tokenized, shouted, the env read)" \
          "$(jq -r '[(.docs[0].text | test("^HELLO NUMBER [0-9]+ ![$][(]FH_REPLICA[)][$][$]!$")), .docs[0].tags.words,
                     .docs[1].tags.MY_ENV] | @tsv' "$R/out.ndjson" | sort -u)" \
          "true	3	from-the-executor \$(HOME) \$\$"
    check "$round: the routes name every executor" \
          "$(jq -r '[.routes[].executor] | join(",")' "$R/out.ndjson" | sort -u)" \
          "gateway,tok,ledger,reader,shouter,passer"
    check "$round: both ledger replicas served (each with its own --replica)" \
          "$(jq -r '.docs[0].tags.metas_replica' "$R/out.ndjson" | sort -u | tr '\n' ' ')" "0 1 "
    check "$round: the ledger holds all 20, none twice" \
          "$(awk '{print $1}' "$R/ledger" | sort -u | wc -l) $(wc -l <"$R/ledger")" "20 20"
    round_down
    check "$round: no sanitizer report from any pod" \
          "$(cat "$R"/*.log | grep -c -E 'Sanitizer|runtime error:' || true)" "0"
}

run_round plain
run_round keyed --keys "$T/curve-keys"
check "keyed: the workers listen with CURVE" "$(grep -l "(CURVE)" "$T"/keyed/*-0.log | wc -l)" "6"
done_checks
