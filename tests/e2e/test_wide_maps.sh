#!/usr/bin/env bash
# Wide maps through the real binary: no request buys a worker seconds with many keys.
# Nothing here is timed: the work is linear and takes a few seconds in all, while the
# quadratic merge it replaces needed ~9 s for 30,000 keys on this machine, so ~400 s per
# request below: far past this test's timeout.
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

done_checks
