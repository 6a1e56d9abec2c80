#!/usr/bin/env bash
# Endpoint dispatch: the exact endpoint, else the default handler, else pass-through;
# several endpoints on one handler; uses_requests rebinding handlers by name, the plugin's
# other bindings kept (test_uses_requests has Jina's cases).
. "$(dirname "$0")/lib.sh"

cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: bind, uses: Bind}
  - {name: bind-default, uses: BindDefault}
  - name: rebound
    uses: BindDefault
    uses_requests:
      /index: search
      /other: index_docs
YML
start_flow "$T/flow.yml"
post() { echo '{"text":"x"}' | "$FLOWHOST" post "$1" - --to "$ADDR" -q; }
handlers() { jq -c '.docs[0].tags.handlers' <<<"$1"; }
out=$(post /index)
check "/index: the exact binding in each, uses_requests rebinding it in the last" "$(handlers "$out")" \
      '["bind:index_docs","bind-default:index_docs","rebound:search"]'
out=$(post /query)
check "/query: one handler bound to /search and /query; rebound's search released it to the default" \
      "$(handlers "$out")" '["bind:search","bind-default:search","rebound:fallback"]'
out=$(post /other)
check "/other: only uses_requests binds it" "$(handlers "$out")" '["bind-default:fallback","rebound:index_docs"]'
out=$(post /unbound)
check "/unbound: the default handlers only (rebound keeps its own); bind passes it on" "$(handlers "$out")" \
      '["bind-default:fallback","rebound:fallback"]'
check "/unbound: every executor is on the route" "$(jq -c '[.routes[].executor]' <<<"$out")" '["gateway","bind","bind-default","rebound"]'
stop_flow

cat >"$T/bind.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: bind, uses: Bind}
YML
out=$(echo '{"text":"x"}' | "$FLOWHOST" post /nothing - --flow "$T/bind.yml" -q)
check "no binding and no default: passed on unchanged" "$(jq -c '.docs[0]' <<<"$out" | jq -c 'del(.id)')" '{"text":"x"}'
check "no binding and no default: not an error" "$(jq -r .status.code <<<"$out")" "SUCCESS"

cat >"$T/badreq.yml" <<YML
jtype: Flow
version: '1'
executors:
  - name: bad
    uses: Bind
    uses_requests: {/index: no_such_handler}
YML
rc=0
timeout 30 "$FLOWHOST" run "$T/badreq.yml" 2>"$T/err" || rc=$?
check "uses_requests naming a missing handler: run fails" "$rc" "1"
check_contains "uses_requests naming a missing handler: message" "$(cat "$T/err")" "has no handler 'no_such_handler'"

done_checks
