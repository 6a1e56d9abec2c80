#!/usr/bin/env bash
# Wide maps through the real binary: no request buys a worker seconds with many keys,
# and no wide CSV row costs the client seconds. Nothing here is timed: the work is linear
# and takes a few seconds in all, while the quadratic code it replaces needed ~9 s to
# merge 30,000 keys (so ~400 s per request below) and ~1.4 s per CSV row of 20,000
# columns (so ~12 s per row below) on this machine: far past this test's timeout.
. "$(dirname "$0")/lib.sh"

# Scoped parameters: my-executor-1 sees its 200,000 own keys merged over a root of
# 200,000 keys; both executors check the value of 'param' they see (10 and 5). Three
# requests, so that the worker merges again after the first.
start_flow "$FLOWS/params.yml"
out=$("$TOOLS/fh_wide_params" "$ADDR" 200000 3)
check "200,000 scoped keys over 200,000: every request answered, merged right" "$out" \
      "$(printf 'SUCCESS my-executor-1=10 my-executor-2=5\n%.0s' 1 2 3)"
# The flow still serves small requests.
out=$("$FLOWHOST" post /foo --to "$ADDR" -q --parameters '{"param": 5, "my-executor-1": {"param": 10}}' |
      jq -c '[.docs[].tags.param]')
check "a small request after them" "$out" "[10,5]"
stop_flow

# CSV on the client: rows of 60,000 columns, each cell a tag, read and sent as documents.
python3 - "$T/wide.csv" <<'PY'
import sys
cols = 60000
with open(sys.argv[1], "w") as f:
    f.write("id," + ",".join(f"c{c}" for c in range(1, cols)) + "\n")
    for r in range(20):
        f.write(f"doc-{r}," + ",".join(f"{r}.{c}" for c in range(1, cols)) + "\n")
PY
"$FLOWHOST" post /x "$T/wide.csv" --flow "$FLOWS/pass.yml" -q --request-size 5 >"$T/wide.out"
check "csv: 20 rows of 60,000 columns: 20 documents of 59,999 tags" \
      "$(jq -s -c '[.[].docs[]] | [(map(.tags | length) | unique), length]' <"$T/wide.out")" \
      "[[59999],20]"
check "csv: a cell of the last row and column, columns in order" \
      "$(jq -s -r '[.[].docs[]] | .[19] | [.id, .tags.c59999, (.tags | keys_unsorted | .[1])] | join(" ")' <"$T/wide.out")" \
      "doc-19 19.59999 c2"
done_checks
