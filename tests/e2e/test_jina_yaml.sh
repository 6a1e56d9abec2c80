#!/usr/bin/env bash
# Jina 2's own YAML through the real binary: a flow that starts with !Flow, version '1.0',
# an executor YAML written !MyExecutor with with/metas/requests, Jina's older key names
# and ${{ ENV.VAR }} runs and answers a post; the Jina keys flowhost does not honour get
# a one-line error naming the key, with file:line:column; Python-only keys a warning; a
# type tag anywhere but on the flow, an executor YAML or an inline uses is an error.
. "$(dirname "$0")/lib.sh"
JINA=$FH_SOURCE_DIR/tests/data/flows/jina
export FLOWHOST_PLUGIN_PATH=$FH_PLUGIN_DIR FH_JINA_PORT=0 FH_JINA_PARAM=4

rc=0
"$FLOWHOST" validate "$JINA/flow.yml" >"$T/out" 2>"$T/err" || rc=$?
check "a flow in Jina 2's form validates" "$rc" "0"
check "its executors, typed by their tags" "$(sed -n '2,4p' "$T/out" | awk '{print $2, $3}' | tr '\n' ' ')" \
      "tagged (MyExecutor) renamed (MyExecutor) inline (MyExecutor) "
check_contains "py_modules is ignored with a warning at its place" "$(cat "$T/err")" \
      "flowhost: warning: $JINA/my-executor.yml:9:3: 'py_modules' in metas is ignored"
check "an executor YAML used twice warns once" "$(grep -c "my-executor.yml:9:3" "$T/err")" "1"

# Run it and post to it, as the docs do: each executor reports its metas.name and the
# default_param it was given (file's with, then uses_with / override_with over it).
start_flow "$JINA/flow.yml"
out=$("$FLOWHOST" post /index --to "$ADDR" -q)
check "run + post: every executor ran with its merged with" \
      "$(jq -c '[.docs[].tags | "\(.executor)=\(.param)"]' <<<"$out")" \
      '["tagged=9","renamed=4","inline=1"]'
check "run + post: routes" "$(jq -c '[.routes[].executor]' <<<"$out")" \
      '["gateway","tagged","renamed","inline"]'
stop_flow

# Jina keys flowhost does not honour: one line, the key, where, and what to do.
jina_fail() { # jina_fail NAME WANT YAML: validate refuses with exactly WANT
    printf '%s\n' "$3" >"$T/$1.yml"
    local rc=0
    (cd "$T" && "$FLOWHOST" validate "$1.yml") >/dev/null 2>"$T/$1.err" || rc=$?
    check "$1: exit status" "$rc" "2"
    check "$1: one line" "$(wc -l <"$T/$1.err")" "1"
    check_contains "$1: message" "$(cat "$T/$1.err")" "$2"
}
jina_fail parallel "flowhost: parallel.yml:6:5: 'parallel' is Jina's older name for 'shards': keep one of them" \
"!Flow
version: '1'
executors:
  - uses: MyExecutor
    shards: 2
    parallel: 2"
jina_fail needs "needs.yml:6:13: 'needs' of 'b': no executor is named 'c' (did you mean 'a'?)" \
"!Flow
version: '1'
executors:
  - name: a
  - name: b
    needs: [c]"
printf '!Flow\nversion: "1"\nexecutors:\n  - name: a\n    when:\n      tags__type: {$eq: 1}\n' >"$T/when.yml"
rc=0
"$FLOWHOST" validate "$T/when.yml" >/dev/null 2>&1 || rc=$?
check "when: Jina 3's condition loads" "$rc" "0"
printf '!Flow\nwith:\n  return_results: true\nexecutors: [{name: a}]\n' >"$T/rr.yml"
rc=0
"$FLOWHOST" validate "$T/rr.yml" >/dev/null 2>"$T/rr.err" || rc=$?
check "return_results: loads" "$rc" "0"
check_contains "return_results: with a warning at its place" "$(cat "$T/rr.err")" \
      "flowhost: warning: $T/rr.yml:3:3: 'return_results' in with is ignored: flowhost always returns"
jina_fail shards "shards.yml:4:23: 'shards' must be between 1 and 64, not 0" \
"!Flow
version: '1'
executors:
  - {name: a, shards: 0}"
jina_fail polling "polling.yml:4:5: 'polling' in with is not supported: polling is set per executor" \
"!Flow
version: '1'
with:
    polling: all
executors: []"
jina_fail port_in "port_in.yml:5:5: 'port_in' in executors[0] is not supported: flowhost picks the sockets" \
"jtype: Flow
version: '1'
executors:
  - name: a
    port_in: 45678"
jina_fail websocket "websocket.yml:4:13: 'protocol: websocket' is not supported" \
"!Flow
version: '1'
with:
  protocol: websocket
executors: []"
jina_fail legacy "legacy.yml:2:1: 'pods' is Jina's legacy flow form" \
"!Flow
pods:
  a: {uses: MyExecutor}"
jina_fail wrongtag "wrongtag.yml:1:1: a flow's type must be 'Flow', not 'Flo'" \
"!Flo
version: '1'
executors: []"
jina_fail scalartag "scalartag.yml:4:11: a type tag names the type of a mapping (a flow, an executor YAML), not of a scalar: tag '!MyExecutor'" \
"!Flow
version: '1'
executors:
  - uses: !MyExecutor"
# A type tag anywhere but on the flow, an executor YAML or an inline uses would be dropped
# without a word (a tagged entry read as a pass-through): an error naming the tag.
jina_fail tagged_entry "tagged_entry.yml:4:5: a type tag names the type of a flow, an executor YAML or an inline 'uses', not of this mapping: tag '!Rebind'" \
"!Flow
version: '1'
executors:
  - !Rebind {name: a}"
jina_fail tagged_with "tagged_with.yml:2:7: a type tag names the type of a flow, an executor YAML or an inline 'uses', not of this mapping: tag '!Foo'" \
"!Flow
with: !Foo {prefetch: 2}
executors: []"
jina_fail tagged_uses_with "tagged_uses_with.yml:5:16: a type tag names the type of a flow, an executor YAML or an inline 'uses', not of this mapping: tag '!Baz'" \
"jtype: Flow
version: '1'
executors:
  - name: a
    uses_with: !Baz {}"
jina_fail tagged_inline_with "tagged_inline_with.yml:4:31: a type tag names the type of a flow, an executor YAML or an inline 'uses', not of this mapping: tag '!Foo'" \
"!Flow
version: '1'
executors:
  - uses: !MyExecutor {metas: !Foo {name: x}}"
printf '!MyExecutor\nwith: !Foo\n  default_param: 1\n' >"$T/tagged-exec.yml"
jina_fail tagged_in_exec_yaml "tagged-exec.yml:2:7: a type tag names the type of a flow, an executor YAML or an inline 'uses', not of this mapping: tag '!Foo'" \
"!Flow
version: '1'
executors:
  - uses: tagged-exec.yml"

jina_fail both "both.yml:5:5: 'override_with' is Jina's older name for 'uses_with': keep one of them" \
"!Flow
version: '1'
executors:
  - uses_with: {a: 1}
    override_with: {a: 2}"
jina_fail ref "ref.yml:4:11: '\${{ root.name }}': references to other keys are not supported" \
"!Flow
version: '1'
executors:
  - name: \${{ root.name }}"

done_checks
