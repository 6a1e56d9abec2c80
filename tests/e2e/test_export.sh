#!/usr/bin/env bash
# Export: `flowhost export kubernetes|compose` turns the repository's flows (and a few of
# the test's own: replicas, env, HTTP, keys, a graph) into manifests that a YAML parser
# reads back holding what is promised: the kinds, a StatefulSet and headless Service per
# executor shard with its replicas, env, worker command, readiness probe and port; the
# gateway's Deployment, Service, probes and ConfigMap, whose flow names every replica by
# its DNS name (shard-major) and passes `flowhost validate`; Secrets with the keys; the
# same workers and flow in the Compose file. Two exports are byte-equal. Bad input is
# refused in one line. Also: the Namespace file sorts first; the gateway's startupProbe
# covers timeout_ready; every '$' of the flow reaches the executor and the gateway as the
# flow meant it through Kubernetes' $(VAR) and the flow loader's ${VAR}; the pods meet
# Pod Security "restricted", the keys' init container run as the image's user.
. "$(dirname "$0")/lib.sh"

PY=$(command -v python3 || true)
"$PY" -c 'import yaml' 2>/dev/null || PY=/usr/bin/python3
"$PY" -c 'import yaml' 2>/dev/null || fail "no python3 with the yaml module (scripts/setup installs python3-yaml)"

mkdir -p "$T/flows"
cat >"$T/flows/graph.yml" <<'YML'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
  port: 9000
  timeout_ready: 240000
  timeout_drain: 45000
  env: {FLOW_WIDE: 'yes'}
executors:
  - name: Split_Me
    uses: Tokenize
    replicas: 3
    env: {LEVEL: '7', EMPTY: '', DOLLARS: 'x $(HOME) y $$$$ z $(FH_REPLICA)'}
    timeout: 4000
  - name: shout
    uses: Shout
    uses_with: {suffix: ' $HOME !', tail: '$(HOME)-$$$$-$(FH_REPLICA)'}
    needs: gateway
    on_error: ignore
  - name: join
    uses: Echo
    needs: [Split_Me, shout]
    when: {tags__x: {$gt: 1}, tags__y: {$eq: 'a$${X}b$$$$c'}}
  - name: pass
    needs: join
    uses_dynamic_batching: {/index: {preferred_batch_size: 4, timeout: 20}}
YML

# ---- Kubernetes: every flow, checked object by object ---------------------------------
check_kube() { # FLOW DIR EXTRA-ARGS...
    local flow=$1 dir=$2
    shift 2
    "$FLOWHOST" export kubernetes "$flow" "$dir" --plugin-dir "$FH_PLUGIN_DIR" "$@" \
        2>"$T/export.err" || fail "export kubernetes $flow: $(cat "$T/export.err")"
    "$PY" - "$flow" "$dir" <<'PY' || fail "manifests of $flow"
import os, re, sys, yaml
flow_path, d = sys.argv[1], sys.argv[2]
def kubelet(s, env={}):
    """What Kubernetes makes of an args or env string: $$ is $, $(VAR) a variable."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)
def loaded(v):
    """What flowhost's loader makes of a flow's string (no ${VAR} in these flows)."""
    return v.replace("$$", "$") if isinstance(v, str) else v
src = yaml.safe_load(open(flow_path))
objs = {}
for f in sorted(os.listdir(d)):
    doc = yaml.safe_load(open(os.path.join(d, f)))
    name, kind = doc["metadata"]["name"], doc["kind"]
    assert f == f"{name}.{kind.lower()}.yml", f"file {f} holds {kind} {name}"
    objs[(kind, name)] = doc
def ok(what):
    print("ok -", what)
flow = yaml.safe_load(objs[("ConfigMap", "gateway-flow")]["data"]["flow.yml"])
execs = src.get("executors", [])
assert len(flow["executors"]) == len(execs)
port = 8081
for x, g in zip(execs, flow["executors"]):
    name = g["name"]
    assert x.get("name", name) == name
    label = name.lower().replace("_", "-").replace(".", "-")
    shards, replicas = x.get("shards", 1), x.get("replicas", 1)
    hosts = []
    for s in range(shards):
        w = f"{label}-shard-{s}" if shards > 1 else label
        ss, svc = objs[("StatefulSet", w)], objs[("Service", w)]
        assert ss["spec"]["replicas"] == replicas and ss["spec"]["serviceName"] == w
        assert svc["spec"]["clusterIP"] == "None", "a headless Service"
        assert svc["spec"]["ports"][0]["port"] == port
        labels = ss["spec"]["template"]["metadata"]["labels"]
        assert labels | svc["spec"]["selector"] == labels, "the Service selects the pods"
        c = ss["spec"]["template"]["spec"]["containers"][0]
        assert c["command"] == ["flowhost"]
        a = c["args"]
        assert a[:3] == ["worker", "--listen", f"tcp://0.0.0.0:{port}"], a
        assert a[a.index("--name") + 1] == name
        assert a[-2:] == ["--replica", "$(FH_REPLICA)"]
        assert not any(re.search(r"(?<!\$)(\$\$)*\$\(", x) for x in a[:-1]), \
            f"a $( of the flow's, not escaped from Kubernetes: {a}"
        a = [kubelet(x) for x in a]
        uses = x.get("uses")
        # a type stays a type; no uses (the pass-through) is an empty --uses, as in a flow
        assert a[a.index("--uses") + 1] == (uses or ""), (a, uses)
        if x.get("uses_with"):
            import json
            # `flowhost worker` reads the JSON with the flow loader: the flow's value back
            assert json.loads(loaded(a[a.index("--uses-with") + 1])) == {k: loaded(v) for k, v in x["uses_with"].items()}
        if shards > 1:
            assert a[a.index("--shard") + 1] == str(s) and a[a.index("--shards") + 1] == str(shards)
        env = {e["name"]: kubelet(e["value"], {"FH_REPLICA": "0"}) for e in c["env"] if "value" in e}
        want = dict((src.get("with") or {}).get("env") or {})
        want.update(x.get("env") or {})
        assert env == {k: loaded(str(v)) for k, v in want.items()}, env
        assert ss["spec"]["template"]["spec"]["enableServiceLinks"] is False
        probe = c["readinessProbe"]["exec"]["command"]
        assert probe[:2] == ["flowhost", "ping"] and probe[-1] == f"127.0.0.1:{port}", probe
        assert c["ports"][0]["containerPort"] == port
        assert "resources" not in c
        hosts += [f"{w}-{r}.{w}:{port}" for r in range(replicas)]
    assert g["host"] == hosts, (g["host"], hosts)
    for k in ("needs", "floating", "timeout", "uses_dynamic_batching", "polling"):
        if k in x and k != "needs":
            want = x[k]
            if k == "uses_dynamic_batching":
                want = {e: {"timeout": 10, **r} for e, r in want.items()}
            if k == "polling" and isinstance(want, dict):
                assert all(g[k][e] == v.upper() for e, v in want.items()), (g[k], want)
                continue
            assert g[k] == want, (k, g[k], want)
        if k == "needs" and "needs" in x:
            assert g[k] == ([x[k]] if isinstance(x[k], str) else x[k]), (g[k], x[k])
    if "when" in x:
        # the gateway's loader reads the generated flow: the flow's when back
        def back(v):
            return {k: back(u) for k, u in v.items()} if isinstance(v, dict) else loaded(v)
        assert back(g["when"]) == back(x["when"]), (g["when"], x["when"])
    ok(f"{flow_path}: {name}: {shards} shard(s) x {replicas} replica(s), env, command, probe, DNS names")
d_ = objs[("Deployment", "gateway")]
c = d_["spec"]["template"]["spec"]["containers"][0]
assert c["args"] == ["run", "/flow/flow.yml"] and d_["spec"]["replicas"] == 1
assert d_["spec"]["strategy"]["type"] == "Recreate"
drain = (src.get("with") or {}).get("timeout_drain", 20000)
assert d_["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= drain / 1000 + 5
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
sports = {p["name"]: p["port"] for p in objs[("Service", "gateway")]["spec"]["ports"]}
assert ports == sports, (ports, sports)
w = flow["with"]
assert ports["zmq"] == w["port"] and w["host"] == "0.0.0.0"
if "http" in w.get("protocol", []):
    assert ports["http"] == w["port_http"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
else:
    assert "http" not in ports
    assert c["readinessProbe"]["exec"]["command"][:2] == ["flowhost", "ping"]
# the gateway opens no port before its workers answer or timeout_ready runs out: its
# startupProbe must hold the liveness probe back at least that long (and 10 s)
ready = (src.get("with") or {}).get("timeout_ready", 60000)
if ready < 0:
    assert "startupProbe" not in c and "livenessProbe" not in c, "waits forever: nothing kills it"
else:
    sp = c["startupProbe"]
    covers = sp["periodSeconds"] * sp["failureThreshold"]
    assert covers >= ready / 1000 + 10, (covers, ready)
    if "http" in w.get("protocol", []):
        assert sp["httpGet"]["path"] == "/health/live", sp
    else:
        assert sp["exec"] == c["readinessProbe"]["exec"], sp
    print(f"ok - startupProbe covers {covers} s for a timeout_ready of {ready / 1000} s")
ok(f"{flow_path}: gateway Deployment, Service, ports {sorted(ports.items())}, probes")
open(os.path.join(os.path.dirname(d.rstrip("/")), "gen-flow.yml"), "w").write(
    objs[("ConfigMap", "gateway-flow")]["data"]["flow.yml"])
kinds = sorted({k for k, _ in objs})
print("ok - kinds:", " ".join(kinds))
PY
    CHECKS=$((CHECKS + 1))
}

n=0
for flow in "$FLOWS/hello.yml" "$FLOWS/env.yml" "$FLOWS/demo.yml" "$FLOWS/search-sharded.yml" \
            "$T/flows/graph.yml"; do
    n=$((n + 1))
    mkdir -p "$T/k$n"
    check_kube "$flow" "$T/k$n/out"
    # the generated flow is a flow: it validates, its executors remote
    "$FLOWHOST" validate "$T/k$n/gen-flow.yml" >"$T/validate.out" 2>&1 ||
        fail "$(basename "$flow"): the generated flow does not validate: $(cat "$T/validate.out")"
    check "$(basename "$flow"): the ConfigMap's flow validates, every executor remote" \
          "$(grep -c '^  [0-9]*\. .*(remote' "$T/validate.out")" \
          "$(grep -c '^  [0-9]*\. ' "$T/validate.out")"
    # determinism: the same input gives the same bytes
    "$FLOWHOST" export kubernetes "$flow" "$T/k$n/again" --plugin-dir "$FH_PLUGIN_DIR" 2>/dev/null
    check "$(basename "$flow"): exporting twice gives the same bytes" \
          "$(diff -r "$T/k$n/out" "$T/k$n/again" >/dev/null && echo same || echo different)" "same"
done

# a flow that waits for its workers forever: no startup or liveness probe could be right
printf "jtype: Flow\nversion: '1'\nwith: {timeout_ready: -1}\nexecutors: [{name: e, uses: Echo}]\n" \
    >"$T/flows/forever.yml"
check_kube "$T/flows/forever.yml" "$T/forever"

# ---- a flow's max_message_size over the worker's default is given to its workers ----
cat >"$T/flows/big.yml" <<YML
with: {max_message_size: 1073741824}
executors:
  - {name: e, uses: Echo}
YML
"$FLOWHOST" export kubernetes "$T/flows/big.yml" "$T/big"
check "max_message_size reaches the worker's command" \
      "$("$PY" -c 'import sys,yaml; a=yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]["args"]; print(a[a.index("--max-message-size")+1])' "$T/big/e.statefulset.yml")" \
      "1073741824"

# ---- a .so path becomes the image's plugin folder; the namespace is on every object ----
cat >"$T/flows/path.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: e, uses: $FH_PLUGIN_DIR/echo.so}
YML
"$FLOWHOST" export kubernetes "$T/flows/path.yml" "$T/path" --namespace demo --image reg.example/fh:1.2
check "a .so path is the image's plugin folder" \
      "$("$PY" -c 'import sys,yaml; a=yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]; print(a["args"][a["args"].index("--uses")+1], a["image"])' "$T/path/e.statefulset.yml")" \
      "/usr/local/lib/flowhost/plugins/echo.so reg.example/fh:1.2"
check "every object is in the namespace, the Namespace is written" \
      "$("$PY" -c 'import sys,os,yaml; d=sys.argv[1]; print(sorted({yaml.safe_load(open(os.path.join(d,f)))["metadata"].get("namespace","-") for f in os.listdir(d)}))' "$T/path")" \
      "['-', 'demo']"
check "the Namespace object's file comes first in kubectl's (lexical) order" \
      "$(LC_ALL=C ls "$T/path" | head -1)" "00-demo.namespace.yml"
# an export of an older flowhost (NS.namespace.yml) is replaced, not kept beside
mv "$T/path/00-demo.namespace.yml" "$T/path/demo.namespace.yml"
"$FLOWHOST" export kubernetes "$T/flows/path.yml" "$T/path" --namespace demo --image reg.example/fh:1.2
check "exporting again: one Namespace file, the one that sorts first" \
      "$(ls "$T/path" | grep namespace | tr '\n' ' ')" "00-demo.namespace.yml "

# ---- keys: a pair per executor and for the gateway, kept and reused ---------------------
"$FLOWHOST" export kubernetes "$FLOWS/env.yml" "$T/keyed" --keys "$T/keys" --plugin-dir "$FH_PLUGIN_DIR"
check "--keys makes a pair per executor and for the gateway" "$(ls "$T/keys" | sort | tr '\n' ' ')" \
      "gateway gateway_secret with-env with-env_secret without-env without-env_secret "
"$PY" - "$T/keyed" "$T/keys" <<'PY' || fail "keyed manifests"
import os, sys, yaml
d, keys = sys.argv[1], sys.argv[2]
load = lambda f: yaml.safe_load(open(os.path.join(d, f)))
read = lambda f: open(os.path.join(keys, f)).read()
gw = load("gateway-keys.secret.yml")["stringData"]
assert gw["gateway_secret"] == read("gateway_secret") and gw["gateway"] == read("gateway")
assert gw["worker-with-env"] == read("with-env")
w = load("with-env-keys.secret.yml")["stringData"]
assert w == {"worker_secret": read("with-env_secret"), "worker": read("with-env"), "gateway": read("gateway")}
ss = load("with-env.statefulset.yml")["spec"]["template"]["spec"]
a = ss["containers"][0]["args"]
assert a[a.index("--key") + 1] == "/keys/worker_secret"
assert [a[i + 1] for i, v in enumerate(a) if v == "--allow"] == ["/keys/gateway"]
assert ss["containers"][0]["readinessProbe"]["exec"]["command"] == [
    "flowhost", "ping", "--key", "/keys/worker_secret", "--server-key", "/keys/worker", "127.0.0.1:8081"]
def restricted(spec):
    """Pod Security's "restricted" level, as far as a manifest shows it."""
    pc = spec["securityContext"]
    assert pc["runAsNonRoot"] is True and pc["runAsUser"] != 0, pc
    assert pc["seccompProfile"] == {"type": "RuntimeDefault"}, pc
    for c in spec["containers"] + spec.get("initContainers", []):
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"], sc
        assert sc.get("runAsUser", pc["runAsUser"]) != 0 and sc.get("runAsNonRoot", True), (c["name"], sc)
restricted(ss)
restricted(load("gateway.deployment.yml")["spec"]["template"]["spec"])
assert {v["name"]: v for v in ss["volumes"]}["keys-in"]["secret"]["defaultMode"] == 0o440
open(os.path.join(os.path.dirname(d), "init.sh"), "w").write(ss["initContainers"][0]["command"][2])
assert {v["name"]: v for v in ss["volumes"]}["keys-in"]["secret"]["secretName"] == "with-env-keys"
flow = yaml.safe_load(load("gateway-flow.configmap.yml")["data"]["flow.yml"])
assert flow["with"]["gateway_key"] == "/keys/gateway_secret"
assert [x["worker_key"] for x in flow["executors"]] == ["/keys/worker-with-env", "/keys/worker-without-env"]
print("ok - Secrets hold the kept keys; workers --key/--allow them; the flow names them")
print("ok - every container of the keyed pods meets Pod Security 'restricted', the keys' init too")
PY
CHECKS=$((CHECKS + 1))
# The keys' init container, run as the kubelet would: as the image's user with the pod's
# fsGroup, the Secret's files root's, group fsGroup, mode 0440 (defaultMode). It leaves
# the keys its own, 0600, as the worker needs them.
if command -v setpriv >/dev/null; then
    chmod o+x "$T"
    K=$T/init && mkdir -p "$K/in" "$K/keys"
    "$PY" -c '
import sys, yaml
for k, v in yaml.safe_load(open(sys.argv[1]))["stringData"].items():
    open(sys.argv[2] + "/" + k, "w").write(v)' "$T/keyed/with-env-keys.secret.yml" "$K/in"
    chown -R 0:10001 "$K/in" && chmod 0440 "$K/in"/* && chmod 0750 "$K/in"
    chown 0:10001 "$K/keys" && chmod 2770 "$K/keys"
    sed "s| /keys-in/| $K/in/|g; s| /keys/| $K/keys/|g" "$T/init.sh" >"$K/init.sh"
    setpriv --reuid 10001 --regid 10001 --groups 10001 sh "$K/init.sh" 2>"$K/err" ||
        fail "the keys' init container as uid 10001: $(cat "$K/err") ($(cat "$K/init.sh"))"
    check "the keys' init container, as the image's user: the keys its own, 0600" \
          "$(stat -c '%u %a' "$K/keys"/* | sort -u)" "10001 600"
    check "its copies are the Secret's" "$(cat "$K/keys/worker_secret")" "$(cat "$K/in/worker_secret")"
    chmod o-x "$T"
fi
check "a Secret's file is private" "$(stat -c %a "$T/keyed/gateway-keys.secret.yml")" "600"
"$FLOWHOST" export kubernetes "$FLOWS/env.yml" "$T/keyed2" --keys "$T/keys" --plugin-dir "$FH_PLUGIN_DIR"
check "--keys again: the same keys, the same bytes" \
      "$(diff -r "$T/keyed" "$T/keyed2" >/dev/null && echo same || echo different)" "same"

# the flow's own client keys (with.server_key) go in the gateway's Secret
"$FLOWHOST" keygen "$T/flows/server" >/dev/null
alice=$("$FLOWHOST" keygen "$T/flows/alice")
cat >"$T/flows/curve.yml" <<YML
jtype: Flow
version: '1'
with: {server_key: server_secret, client_keys: [alice]}
executors: [{name: e, uses: Echo}]
YML
"$FLOWHOST" export kubernetes "$T/flows/curve.yml" "$T/curve" --plugin-dir "$FH_PLUGIN_DIR"
check "with.server_key: its pair in the gateway's Secret, the clients' keys in the flow" \
      "$("$PY" -c '
import sys, yaml
d = sys.argv[1]
s = yaml.safe_load(open(d + "/gateway-keys.secret.yml"))["stringData"]
f = yaml.safe_load(yaml.safe_load(open(d + "/gateway-flow.configmap.yml"))["data"]["flow.yml"])["with"]
keys = lambda t: sorted(l.strip() for l in t.splitlines() if "-key = " in l)
print(keys(s["server_secret"]) == keys(open(sys.argv[2]).read()), f["server_key"], f["client_keys"][0].replace("$$", "$") == sys.argv[3])' \
        "$T/curve" "$T/flows/server_secret" "$alice")" "True /keys/server_secret True"
sleep 1.1 # a certificate written again in another second must give the same bytes
"$FLOWHOST" export kubernetes "$T/flows/curve.yml" "$T/curve2" --plugin-dir "$FH_PLUGIN_DIR"
check "with.server_key: exporting twice, a second apart, gives the same bytes" \
      "$(diff -r "$T/curve" "$T/curve2" >/dev/null && echo same || echo different)" "same"

# ---- a flow that already has remote executors: they stay where they point -------------
"$FLOWHOST" keygen "$T/flows/gw" >/dev/null
wk=$("$FLOWHOST" keygen "$T/flows/wk")
cat >"$T/flows/remote.yml" <<YML
jtype: Flow
version: '1'
with: {gateway_key: gw_secret}
executors:
  - {name: far, host: ['10.0.0.2:8001', '10.0.0.3:8001'], worker_key: wk}
  - {name: near, uses: Echo}
YML
"$FLOWHOST" validate "$T/flows/remote.yml" >/dev/null || fail "remote.yml does not validate"
"$FLOWHOST" export kubernetes "$T/flows/remote.yml" "$T/remote" --keys "$T/rkeys" \
    --plugin-dir "$FH_PLUGIN_DIR"
check "a remote executor gets no workload, a local one does" \
      "$(ls "$T/remote" | grep -c '^far\.') $(ls "$T/remote" | grep -c '^near\.statefulset')" "0 1"
"$PY" - "$T/remote" "$T/flows/gw_secret" "$wk" <<'PY' || fail "remote executors in the export"
import sys, yaml
d, gw, wk = sys.argv[1:]
flow = yaml.safe_load(yaml.safe_load(open(d + "/gateway-flow.configmap.yml"))["data"]["flow.yml"])
far, near = flow["executors"]
assert far["host"] == ["10.0.0.2:8001", "10.0.0.3:8001"] and far["worker_key"].replace("$$", "$") == wk, far
assert near["host"] == ["near-0.near:8081"] and near["worker_key"] == "/keys/worker-near"
assert flow["with"]["gateway_key"] == "/keys/gateway_secret"
s = yaml.safe_load(open(d + "/gateway-keys.secret.yml"))["stringData"]
keys = lambda t: sorted(l.strip() for l in t.splitlines() if "-key = " in l)
assert keys(s["gateway_secret"]) == keys(open(gw).read()), "the flow's own gateway key"
w = yaml.safe_load(open(d + "/near-keys.secret.yml"))["stringData"]
assert keys(w["gateway"]) == keys(open(gw.replace("_secret", "")).read()), "near allows it"
print("ok - remote executors keep their hosts and key; the flow's gateway_key ships and is allowed")
PY
CHECKS=$((CHECKS + 1))
# a worker_key (Z85) holding "$$" is written so that the gateway's loader reads it whole:
# a real public key with "$$" put at the end of its first 5-character group (led by '0'
# so that the group stays below 2^32: still a valid Z85 key)
dk=$("$FLOWHOST" keygen "$T/flows/dk")
dk="0${dk:1:2}\$\$${dk:5}"
printf "jtype: Flow\nversion: '1'\nwith: {gateway_key: gw_secret}\nexecutors: [{name: far, host: ['10.0.0.2:8001'], worker_key: '%s'}]\n" \
    "${dk//\$/\$\$}" >"$T/flows/dollar-key.yml"
"$FLOWHOST" export kubernetes "$T/flows/dollar-key.yml" "$T/dollar-key" --plugin-dir "$FH_PLUGIN_DIR"
mkdir -p "$T/dkk"
cp "$T/flows/gw_secret" "$T/dkk/gateway_secret"
"$PY" -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["flow.yml"])' \
    "$T/dollar-key/gateway-flow.configmap.yml" | sed "s|/keys/|$T/dkk/|" >"$T/dollar-key.yml"
"$FLOWHOST" validate "$T/dollar-key.yml" >"$T/validate.out" 2>&1 ||
    fail "a worker_key with '\$': the generated flow: $(cat "$T/validate.out")"
check "a worker_key with '\$': the generated flow gives the gateway the whole key" \
      "$("$PY" -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["executors"][0]["worker_key"].replace("$$", "$") == sys.argv[2])' \
        "$T/dollar-key.yml" "$dk")" "True"

# the generated flow validates once the keys are where the Secret puts them
mkdir -p "$T/rk"
"$PY" -c '
import os, sys, yaml
for k, v in yaml.safe_load(open(sys.argv[1]))["stringData"].items():
    open(os.path.join(sys.argv[2], k), "w").write(v)
    os.chmod(os.path.join(sys.argv[2], k), 0o600)' "$T/remote/gateway-keys.secret.yml" "$T/rk"
"$PY" -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["flow.yml"])' \
    "$T/remote/gateway-flow.configmap.yml" | sed "s|/keys/|$T/rk/|" >"$T/rk/flow.yml"
"$FLOWHOST" validate "$T/rk/flow.yml" >/dev/null 2>"$T/validate.out" ||
    fail "the generated flow with keys: $(cat "$T/validate.out")"
check "the generated flow with remote executors and keys validates" ok ok

# ---- Compose: the same workers and flow -------------------------------------------------
for flow in "$FLOWS/search-sharded.yml" "$T/flows/graph.yml"; do
    "$FLOWHOST" export compose "$flow" "$T/compose.yml" --plugin-dir "$FH_PLUGIN_DIR"
    "$FLOWHOST" export kubernetes "$flow" "$T/kc" --plugin-dir "$FH_PLUGIN_DIR"
    "$PY" - "$T/compose.yml" "$T/kc" <<'PY' || fail "compose file of $flow"
import os, re, sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
kube = sys.argv[2]
kubelet = lambda s: re.sub(r"\$\$", "$", s)  # no $(VAR) but FH_REPLICA, cut below
svcs = c["services"]
flow_text = c["configs"]["gateway-flow"]["content"].replace("$$", "$")
kflow = yaml.safe_load(open(kube + "/gateway-flow.configmap.yml"))["data"]["flow.yml"]
assert flow_text == kflow, "the same generated flow as Kubernetes"
flow = yaml.safe_load(flow_text)
for x in flow["executors"]:
    for hp in x["host"]:
        host = hp.rsplit(":", 1)[0]
        svc = host.split(".")[0]
        s = svcs[svc]
        assert host in s["networks"]["default"]["aliases"]
        ss = yaml.safe_load(open(f"{kube}/{host.split('.')[1]}.statefulset.yml"))
        kargs = ss["spec"]["template"]["spec"]["containers"][0]["args"]
        r = svc.rsplit("-", 1)[1]
        assert [a.replace("$$", "$") for a in s["command"]] == [kubelet(a) for a in kargs[:-1]] + [r], (s["command"], kargs)
        kenv = {e["name"]: kubelet(e["value"]) for e in ss["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
        assert {k: v.replace("$$", "$") for k, v in (s.get("environment") or {}).items()} == kenv
        assert s["healthcheck"]["test"][:3] == ["CMD", "flowhost", "ping"]
g = svcs["gateway"]
assert g["command"] == ["run", "/flow/flow.yml"] and g["entrypoint"] == ["flowhost"]
assert g["configs"][0] == {"source": "gateway-flow", "target": "/flow/flow.yml"}
assert len(svcs) == 1 + sum(len(x["host"]) for x in flow["executors"])
print(f"ok - compose: {len(svcs)} services, the flow's DNS names are their aliases, commands and env as in Kubernetes")
PY
    CHECKS=$((CHECKS + 1))
done
"$FLOWHOST" export compose "$FLOWS/env.yml" "$T/keyed.yml" --keys "$T/keys" --plugin-dir "$FH_PLUGIN_DIR"
check "compose with keys: the file is private" "$(stat -c %a "$T/keyed.yml")" "600"
"$PY" - "$T/keyed.yml" "$T/keys" <<'PY' || fail "compose with keys"
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
keys = sys.argv[2]
content = lambda name: c["configs"][name]["content"].replace("$$", "$")
for svc, want in (("with-env-0", {"/keys/worker_secret": "with-env_secret", "/keys/worker": "with-env",
                                  "/keys/gateway": "gateway"}),
                  ("gateway", {"/keys/gateway_secret": "gateway_secret", "/keys/worker-with-env": "with-env"})):
    mounts = {m["target"]: m for m in c["services"][svc]["configs"]}
    for target, f in want.items():
        m = mounts[target]
        assert (m["uid"], m["gid"], m["mode"]) == ("10001", "10001", 0o600), m
        assert content(m["source"]) == open(f"{keys}/{f}").read(), (svc, target)
print("ok - compose with keys: each service's keys as configs, its user's, mode 0600")
PY
CHECKS=$((CHECKS + 1))
check "compose: a '\$' of the flow is escaped from Compose's expansion and the worker's loader" \
      "$(grep -cF '"suffix":" $$$$HOME !"' "$T/compose.yml")" "1"
"$FLOWHOST" export compose "$T/flows/graph.yml" "$T/compose2.yml" --plugin-dir "$FH_PLUGIN_DIR"
check "compose: exporting twice gives the same bytes" \
      "$(cmp -s "$T/compose.yml" "$T/compose2.yml" && echo same || echo different)" "same"

# ---- a port the flow leaves open gets a fixed one, never the other protocol's -----------
for w in "port_http: 8080" "port: 8090"; do
    printf "jtype: Flow\nversion: '1'\nwith: {protocol: [zmq, http], %s}\nexecutors: [{name: e, uses: Echo}]\n" \
        "$w" >"$T/flows/ports.yml"
    rm -rf "$T/ports"
    "$FLOWHOST" export kubernetes "$T/flows/ports.yml" "$T/ports" --plugin-dir "$FH_PLUGIN_DIR"
    check "with $w: the gateway's ports differ" \
          "$("$PY" -c 'import sys,yaml; w=yaml.safe_load(yaml.safe_load(open(sys.argv[1]))["data"]["flow.yml"])["with"]; print(sorted([w["port"], w["port_http"]]))' "$T/ports/gateway-flow.configmap.yml")" \
          "[8080, 8090]"
done

# ---- exporting again into the same folder: replaced, and what is gone removed ----------
mkdir -p "$T/again"
touch "$T/again/.gitkeep"
"$FLOWHOST" export kubernetes "$FLOWS/search-sharded.yml" "$T/again" --plugin-dir "$FH_PLUGIN_DIR"
sed 's/shards: 3/shards: 2/' "$FLOWS/search-sharded.yml" >"$T/flows/two-shards.yml"
"$FLOWHOST" export kubernetes "$T/flows/two-shards.yml" "$T/again" --plugin-dir "$FH_PLUGIN_DIR"
check "exporting again: the shard that is gone is removed, the rest replaced, hidden files kept" \
      "$(LC_ALL=C ls -A "$T/again" | tr '\n' ' ')" \
      ".gitkeep encoder.service.yml encoder.statefulset.yml gateway-flow.configmap.yml gateway.deployment.yml gateway.service.yml indexer-shard-0.service.yml indexer-shard-0.statefulset.yml indexer-shard-1.service.yml indexer-shard-1.statefulset.yml "
echo "kind: Secret # the user's" >"$T/again/mine.yml"
expect_fail "a folder holding a file export did not write" 2 "mine.yml" "new or empty folder" -- \
    "$FLOWHOST" export kubernetes "$FLOWS/env.yml" "$T/again" --plugin-dir "$FH_PLUGIN_DIR"
check "nothing written there" "$(ls "$T/again" | grep -c with-env || true)" "0"
check "the user's file kept" "$(cat "$T/again/mine.yml")" "kind: Secret # the user's"

# ---- errors: one line each ------------------------------------------------------------
expect_fail "unknown target" 2 "unknown target 'helm'" -- \
    "$FLOWHOST" export helm "$FLOWS/env.yml" "$T/x"
expect_fail "missing arguments" 2 "missing arguments" -- "$FLOWHOST" export kubernetes "$FLOWS/env.yml"
expect_fail "a flow that does not load" 2 "nope.yml" -- \
    "$FLOWHOST" export kubernetes "$T/nope.yml" "$T/x"
expect_fail "bad port" 2 "--port '0'" -- "$FLOWHOST" export compose "$FLOWS/env.yml" "$T/x" --port 0
expect_fail "bad namespace" 2 "--namespace 'Bad_NS'" -- \
    "$FLOWHOST" export compose "$FLOWS/env.yml" "$T/x" --namespace Bad_NS
cat >"$T/flows/clash.yml" <<'YML'
jtype: Flow
version: '1'
executors: [{name: a_b, uses: Echo}, {name: a.b, uses: Echo}]
YML
expect_fail "two executors with one DNS name" 2 "same DNS name 'a-b'" -- \
    "$FLOWHOST" export kubernetes "$T/flows/clash.yml" "$T/x"
cat >"$T/flows/digit.yml" <<'YML'
jtype: Flow
version: '1'
executors: [{name: 9lives, uses: Echo}]
YML
expect_fail "a name that is no DNS label" 2 "9lives" "must start with a letter" -- \
    "$FLOWHOST" export kubernetes "$T/flows/digit.yml" "$T/x"
# DNS labels allow consecutive hyphens: a__b and x--y are fine
printf "jtype: Flow\nversion: '1'\nexecutors: [{name: a__b, uses: Echo}, {name: x--y, uses: Echo}]\n" \
    >"$T/flows/hyphens.yml"
"$FLOWHOST" export kubernetes "$T/flows/hyphens.yml" "$T/hyphens" 2>"$T/hyphens.err" ||
    fail "a__b and x--y refused: $(cat "$T/hyphens.err")"
check "a__b and x--y: their workloads a--b and x--y" \
      "$(ls "$T/hyphens" | grep -c '^\(a--b\|x--y\)\.statefulset\.yml$')" "2"
mkdir -p "$T/p1" "$T/p2"
cp "$FH_PLUGIN_DIR/echo.so" "$T/p1/enc.so"
cp "$FH_PLUGIN_DIR/echo.so" "$T/p2/enc.so"
printf "jtype: Flow\nversion: '1'\nexecutors: [{name: a, uses: %s}, {name: b, uses: %s}]\n" \
    "$T/p1/enc.so" "$T/p2/enc.so" >"$T/flows/same-so.yml"
expect_fail "two plugin files of one name" 2 "two plugins named 'enc.so'" -- \
    "$FLOWHOST" export compose "$T/flows/same-so.yml" "$T/x.yml"
touch "$T/file"
expect_fail "an output folder that is a file" 1 "$T/file" -- \
    "$FLOWHOST" export kubernetes "$FLOWS/env.yml" "$T/file"
check "a failed export leaves no half-written file" "$(ls "$T" | grep -c '\.tmp$' || true)" "0"
"$FLOWHOST" export --help | grep -q -- '--namespace NS' && check "--help" ok ok

done_checks
