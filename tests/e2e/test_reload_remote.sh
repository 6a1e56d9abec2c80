#!/usr/bin/env bash
# A reload of a flow with a remote executor (`host:`): the local executor's workers are
# replaced, the remote one is left alone (its worker runs elsewhere, not this host's to
# restart) and the log says so; the flow serves through both throughout.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/remote_lib.sh"

start_worker far -- --uses Echo
cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: near, uses: Echo}
  - {name: far, host: "$WADDR_far"}
YML
start_flow "$T/flow.yml"
near_before=$(pgrep -f -P "$FLOW_PID" "flowhost worker" | sort | tr '\n' ' ')
[ -n "$near_before" ] || fail "no local worker under the flow"

rc=0
"$FLOWHOST" reload "$FLOW_PID" --wait 2>"$T/reload.err" || rc=$?
check "reload --wait: exit 0" "$rc" "0"
check_contains "the remote executor is not reloaded, saying why" "$(cat "$T/run.log")" \
      "reload: executor 'far' is served elsewhere ('host'): not reloaded here"
check_contains "the local executor is" "$(cat "$T/run.log")" "reload: executor 'near' reloaded: 1 worker replaced"
near_after=$(pgrep -f -P "$FLOW_PID" "flowhost worker" | sort | tr '\n' ' ')
check "the local worker is a new process" "$([ "$near_after" != "$near_before" ] && echo new)" "new"
check "the remote worker is the same process" "$(kill -0 "$WPID_far" && echo alive)" "alive"
check "the remote worker kept its gateway" \
      "$(grep -c 'dropped the gateway' "$T/far.log" || true)" "0"

printf '{"id":"d1","text":"x"}\n' | "$FLOWHOST" post /index - --to "$ADDR" -q >"$T/out.ndjson"
check "a post afterwards goes through both" \
      "$(jq -r '[.status.code, ([.routes[].executor] | join(","))] | join(" ")' "$T/out.ndjson")" \
      "SUCCESS gateway,near,far"
stop_flow
stop_workers
done_checks
