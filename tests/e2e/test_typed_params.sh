#!/usr/bin/env bash
# Parameters of the wrong type never pass for absent ones: a handler reading them with
# fh_map_find_* (plugins/faults/typed.c) keeps its default only when a parameter is
# absent, takes 3.0 as the int 3, and fails the request with a message naming the key and
# the type sent for anything else.
. "$(dirname "$0")/lib.sh"

cat >"$T/flow.yml" <<YAML
jtype: Flow
version: '1'
executors:
  - name: typed
    uses: $FH_PLUGIN_DIR/typed.so
YAML
start_flow "$T/flow.yml"

# post PARAMETERS: one document, one response line on stdout (errors included).
post() {
    echo '{"text":"x"}' | "$FLOWHOST" post /index - --to "$ADDR" -q --parameters "$1" 2>>"$T/err" || true
}
tags() { jq -c '[.status.code, .docs[0].tags.times, .docs[0].tags.scale, .docs[0].tags.loud]' <<<"$1"; }
error() { jq -r '[.status.code, .status.description] | join(": ")' <<<"$1"; }

check "absent parameters take the defaults" "$(tags "$(post '{}')")" '["SUCCESS",1,1,false]'
check "typed parameters are read" "$(tags "$(post '{"times": 3, "scale": 0.5, "loud": true}')")" \
      '["SUCCESS",3,0.5,true]'
check "an integral double is an int, an int a number" \
      "$(tags "$(post '{"times": 3.0, "scale": 2}')")" '["SUCCESS",3,2,false]'
check "a string for an int fails the request, naming the key and the type" \
      "$(error "$(post '{"times": "3"}')")" "ERROR: 'times' is a string, not an int"
check "3.5 for an int fails the request" \
      "$(error "$(post '{"times": 3.5}')")" "ERROR: 'times' is a double (3.5), not an int"
check "null is not absent" "$(error "$(post '{"times": null}')")" "ERROR: 'times' is null, not an int"
check "a bool is not a number" "$(error "$(post '{"scale": true}')")" "ERROR: 'scale' is a bool, not a number"
check "a number is not a bool" "$(error "$(post '{"loud": 1}')")" "ERROR: 'loud' is an int, not a bool"
check "the executor's own parameters are read the same way" \
      "$(error "$(post '{"typed": {"times": [3]}}')")" "ERROR: 'times' is a list, not an int"
check "the flow keeps serving" "$(tags "$(post '{"times": 2}')")" '["SUCCESS",2,1,false]'

stop_flow
done_checks
