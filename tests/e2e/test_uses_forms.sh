#!/usr/bin/env bash
# Every form of `uses`, with `with`/uses_with and metas/uses_metas merged as documented.
. "$(dirname "$0")/lib.sh"

out=$("$FLOWHOST" post /x --flow "$FLOWS/uses-forms.yml" -q)
reports=$(jq -c '[.docs[].tags | "\(.executor)=\(.param)"]' <<<"$out")
check "executor YAML file, uses_with over it, inline map, type name" "$reports" \
      '["from-file=3","overridden=7","inline=11","by-type=1"]'
check "metas.name decides the route names; no uses is a pass-through" \
      "$(jq -c '[.routes[].executor]' <<<"$out")" '["gateway","from-file","overridden","inline","by-type","pass"]'
# A .so path relative to the flow file.
cp "$FH_PLUGIN_DIR/examples.so" "$T/examples.so"
cat >"$T/by-path.yml" <<YML
jtype: Flow
version: '1'
executors:
  - uses: {jtype: Animals, metas: {plugin: ./examples.so}}
  - name: my
    uses: ./examples.so
YML
rc=0
"$FLOWHOST" post /x --flow "$T/by-path.yml" -q 2>"$T/err" >/dev/null || rc=$?
check "a plugin of several types needs jtype: run fails" "$rc" "2"
check_contains "a plugin of several types needs jtype: message" "$(cat "$T/err")" "holds several executor types (MyExecutor, Animals, EnvReader, ParamsReporter)"
head -n 5 "$T/by-path.yml" >"$T/by-path-ok.yml"
out=$(FLOWHOST_PLUGIN_PATH= "$FLOWHOST" post /x --flow "$T/by-path-ok.yml" -q --parameters '{"index": 2}')
check "a .so relative to the flow file, found without a plugin path" "$(jq -r '.docs[0].text' <<<"$out")" "turtle"

done_checks
