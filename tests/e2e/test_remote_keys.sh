#!/usr/bin/env bash
# CURVE between the gateway and a remote worker: the right keys serve; a gateway whose key
# the worker does not allow, and a flow that names the wrong worker key, are refused and
# said on both sides (which worker, why), and the flow answers that executor's requests
# with that reason; a worker with a key lets no plain connection in; a probe speaks CURVE.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/remote_lib.sh"
for k in worker gateway stranger; do "$FLOWHOST" keygen "$T/$k" >/dev/null; done
echo '{"id": "d1", "text": "hi"}' >"$T/one.ndjson"

start_worker w -- --uses Echo --key "$T/worker_secret" --allow "$T/gateway"
check_contains "the worker says it speaks CURVE" "$(cat "$T/w.log")" "(CURVE)"

flow() { # flow FILE GATEWAY-KEY WORKER-KEY
    cat >"$1" <<YML
with: {gateway_key: $2, timeout_ready: 2000}
executors:
  - {name: enc, host: "$WADDR_w", worker_key: $3}
YML
}
flow "$T/good.yml" "$T/gateway_secret" "$T/worker"
rc=0
"$FLOWHOST" post /index "$T/one.ndjson" --flow "$T/good.yml" -q --timeout 10000 >"$T/good.out" 2>"$T/good.err" || rc=$?
check "right keys: served" "$rc:$(jq -r .status.code "$T/good.out")" "0:SUCCESS"

# --- one flow, a worker with keys and one without: each connection takes its own ----------
start_worker plain -- --uses Echo --name plain
start_worker w2 -- --uses Echo --key "$T/worker_secret" --allow "$T/gateway"
cat >"$T/mixed.yml" <<YML
with: {gateway_key: $T/gateway_secret, timeout_ready: 5000}
executors:
  - {name: enc, host: "$WADDR_w", worker_key: $T/worker}
  - {name: plain, host: "$WADDR_plain"}
  - {name: enc2, host: "$WADDR_w2", worker_key: $T/worker}
YML
rc=0
"$FLOWHOST" post /index "$T/one.ndjson" --flow "$T/mixed.yml" -q --timeout 10000 >"$T/mixed.out" 2>/dev/null || rc=$?
check "mixed: served by the three, CURVE and plain" \
      "$rc:$(jq -r .status.code "$T/mixed.out"):$(jq -c '[.routes[].executor]' "$T/mixed.out")" \
      '0:SUCCESS:["gateway","enc","plain","enc2"]'

# --- the gateway's key is not one the worker allows --------------------------------------
flow "$T/stranger.yml" "$T/stranger_secret" "$T/worker"
rc=0
"$FLOWHOST" post /index "$T/one.ndjson" --flow "$T/stranger.yml" -q --timeout 10000 >"$T/s.out" 2>"$T/s.err" || rc=$?
check "stranger gateway: the request fails" "$(jq -r .status.code "$T/s.out")" "ERROR"
check_contains "stranger gateway: the answer says why" "$(jq -r .status.description "$T/s.out")" \
    "its worker at $WADDR_w is unreachable: the worker refused the gateway's key"
check_contains "stranger gateway: the gateway's log names the worker" "$(cat "$T/s.err")" \
    "executor 'enc': its worker at $WADDR_w: the worker refused the gateway's key"
check_contains "stranger gateway: the worker's log says whose key" "$(cat "$T/w.log")" \
    "its key is not one of --allow: $(grep public-key "$T/stranger" | cut -d'"' -f2)"

# --- the flow names the wrong worker key ---------------------------------------------------
flow "$T/wrong.yml" "$T/gateway_secret" "$T/stranger"
rc=0
"$FLOWHOST" post /index "$T/one.ndjson" --flow "$T/wrong.yml" -q --timeout 10000 >"$T/x.out" 2>"$T/x.err" || rc=$?
check "wrong worker key: the request fails" "$(jq -r .status.code "$T/x.out")" "ERROR"
check_contains "wrong worker key: the gateway says why" "$(cat "$T/x.err")" \
    "its worker at $WADDR_w: the CURVE handshake failed"
check_contains "wrong worker key: the worker says so" "$(cat "$T/w.log")" "a connection failed its CURVE handshake"

# --- no keys at all against a worker with keys ---------------------------------------------
cat >"$T/plain.yml" <<YML
with: {timeout_ready: 2000}
executors:
  - {name: enc, host: "$WADDR_w"}
YML
rc=0
"$FLOWHOST" post /index "$T/one.ndjson" --flow "$T/plain.yml" -q --timeout 10000 >"$T/p.out" 2>"$T/p.err" || rc=$?
check "no keys: the request fails" "$(jq -r .status.code "$T/p.out")" "ERROR"
# Which one libzmq reports depends on timing: the worker's refusal of the mechanism, or
# the connection it then closes.
check "no keys: the gateway says the worker requires keys" \
      "$(grep -c -e "the worker requires CURVE (it has --key)" \
                 -e "the handshake failed: .* (what listens there is not a flowhost worker, or one that requires keys: its --key)" \
                 "$T/p.err" | awk '{print ($1 > 0)}')" "1"

# --- probes ----------------------------------------------------------------------------
rc=0
"$FLOWHOST" ping -q --key "$T/worker_secret" --server-key "$T/worker" "$WADDR_w" || rc=$?
check "a probe with the worker's own keys: ready" "$rc" "0"
rc=0
"$FLOWHOST" ping -q --timeout 300 "$WADDR_w" || rc=$?
check "a probe without keys: no answer" "$rc" "1"
rc=0
"$FLOWHOST" ping -q --timeout 300 --key "$T/stranger_secret" --server-key "$T/worker" "$WADDR_w" || rc=$?
check "a probe with a key not allowed: no answer" "$rc" "1"

# --- and the right gateway still gets in after all that -----------------------------------
rc=0
"$FLOWHOST" post /index "$T/one.ndjson" --flow "$T/good.yml" -q --timeout 10000 >"$T/good2.out" 2>/dev/null || rc=$?
check "right keys again: served" "$rc:$(jq -r .status.code "$T/good2.out")" "0:SUCCESS"
kill -TERM "$WPID_w"
rc=0
wait "$WPID_w" || rc=$?
check "the worker stops with status 0 on SIGTERM" "$rc" "0"
check "no sanitizer report from the worker" "$(grep -c -E 'Sanitizer|runtime error:' "$T/w.log" || true)" "0"
stop_workers
done_checks
