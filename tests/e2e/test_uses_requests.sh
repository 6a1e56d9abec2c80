#!/usr/bin/env bash
# uses_requests (and an executor YAML's requests) merge with the plugin's own bindings as
# Jina's do: Jina's test_override_requests with its executor in C (plugins/rebind: foo the
# default handler, bar bound to nothing, foobar bound to /1 and /2), one executor per case
# in one flow. Each handler appends "EXECUTOR:HANDLER" to tags.handlers.
. "$(dirname "$0")/lib.sh"

cat >"$T/requests.yml" <<YML
jtype: Rebind
requests:
  /index: bar
YML
cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: original, uses: Rebind}
  - {name: index-bar, uses: Rebind, uses_requests: {/index: bar}}
  - {name: index-foobar, uses: Rebind, uses_requests: {/index: foobar}}
  - {name: default-bar, uses: Rebind, uses_requests: {/default: bar}}
  - {name: default-word, uses: Rebind, uses_requests: {default: bar}}
  - {name: x-foo, uses: Rebind, uses_requests: {/x: foo}}
  - {name: swap, uses: Rebind, uses_requests: {/1: foo, /x: foobar}}
  - {name: keep, uses: Rebind, uses_requests: {/2: foo, /x: foobar}}
  - {name: yaml, uses: $T/requests.yml}
  - {name: yaml-merged, uses: $T/requests.yml, uses_requests: {/2: bar}}
  - {name: yaml-overridden, uses: $T/requests.yml, uses_requests: {/index: foobar}}
YML
start_flow "$T/flow.yml"
# ran ENDPOINT: "executor:handler" of every executor that ran a handler, in flow order.
declare -A OUT
for ep in /index /index-blah /1 /2 /x /default; do
    OUT[$ep]=$(echo '{"text":"x"}' | "$FLOWHOST" post "$ep" - --to "$ADDR" -q)
done
# who EXECUTOR ENDPOINT: the handler EXECUTOR ran for ENDPOINT, "-" when none (passed on).
who() {
    jq -r --arg e "$1:" '[.docs[0].tags.handlers // [] | .[] | select(startswith($e))
                          | ltrimstr($e)] | if length == 0 then "-" else join(",") end' \
        <<<"${OUT[$2]}"
}
# expect EXECUTOR "ENDPOINT=HANDLER ..."
expect() {
    local ex=$1 pair
    for pair in $2; do
        check "$ex: ${pair%%=*} runs ${pair#*=}" "$(who "$ex" "${pair%%=*}")" "${pair#*=}"
    done
}
# Jina's test, case by case.
expect original "/index=foo /1=foobar /2=foobar /default=foo"
expect index-bar "/index=bar /1=foobar /index-blah=foo"
expect index-foobar "/index=foobar /index-blah=foo"
expect default-bar "/index=bar /1=foobar"
# What Jina's rule also implies: the rebound handler releases the endpoint it was bound to
# last (foobar: /2; /1 keeps it), a default handler bound elsewhere stops being the
# default, and a handler bound to nothing (bar) releases nothing.
expect index-foobar "/1=foobar /2=foo"
expect default-bar "/index-blah=bar /2=foobar"
expect default-word "/index=bar /1=foobar /default=bar"
expect x-foo "/x=foo /index=- /default=- /1=foobar"
expect swap "/1=foo /x=foobar /2=- /index=-"
# Unlike Jina, an endpoint that the flow binds is not released by a later entry (foobar
# releases /2, which the flow bound to foo just before: Jina would drop that binding).
expect keep "/2=foo /x=foobar /1=foobar /index=-"
# An executor YAML's requests follow the same rule, merged with uses_requests by endpoint.
expect yaml "/index=bar /1=foobar /2=foobar /x=foo"
expect yaml-merged "/index=bar /2=bar /1=foobar /x=foo"
expect yaml-overridden "/index=foobar /1=foobar /2=foo /x=foo"
stop_flow

# A handler name the type does not have stays a clear error.
cat >"$T/bad.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: bad, uses: Rebind, uses_requests: {/index: no_such_handler}}
YML
rc=0
timeout 30 "$FLOWHOST" run "$T/bad.yml" >/dev/null 2>"$T/err" || rc=$?
check "uses_requests naming a missing handler: run fails" "$rc" "1"
check_contains "uses_requests naming a missing handler: message" "$(cat "$T/err")" \
    "executor type 'Rebind' has no handler 'no_such_handler' (for '/index')"
done_checks
