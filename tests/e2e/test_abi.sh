#!/usr/bin/env bash
# ABI 2: a plugin built against ABI 1 (its bindings laid out differently) is refused by
# its major with a clear error, before the worker reads a binding.
. "$(dirname "$0")/lib.sh"

cat >"$T/old.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: old, uses: $FH_PLUGIN_DIR/oldabi.so}
YML
rc=0
timeout 30 "$FLOWHOST" run "$T/old.yml" >"$T/out" 2>"$T/err" || rc=$?
check "a plugin of ABI 1: run fails" "$rc" "1"
check "a plugin of ABI 1: one line on stderr" "$(wc -l <"$T/err")" "1"
check_contains "a plugin of ABI 1: the reason" "$(cat "$T/err")" \
    "oldabi.so: plugin built for flowhost ABI 1.0, this flowhost runs ABI 2.2"
check "no sanitizer report" "$(grep -c -E 'Sanitizer|runtime error:' "$T/err" || true)" "0"
done_checks
