#!/usr/bin/env bash
# A request that no handler of an executor takes goes on through its worker unchanged:
# the worker appends its route to the envelope as it came, without decoding the
# envelope (its parameters may be large) or encoding it again. Routes stay exactly as
# they were: every executor in order, its start and end times, its replica.
source "$(dirname "$0")/lib.sh"

cat >"$T/pass.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: p1}
  - {name: p2, replicas: 2}
  - {name: p3, uses: Echo}
YML
start_flow "$T/pass.yml"

# --- routes: each executor once, in order, with its times and its replica ------------
printf '{"id":"a","text":"hello"}\n{"id":"b","text":"world"}\n' >"$T/in.ndjson"
"$FLOWHOST" post /index "$T/in.ndjson" --to "$ADDR" --request-size 1 -q \
    --parameters '{"k": 1, "p2": {"k": 2}}' >"$T/out.ndjson"
check "routes: gateway, then every executor in order" \
      "$(jq -r '[.routes[].executor] | join(" ")' "$T/out.ndjson" | sort -u)" "gateway p1 p2 p3"
check "routes: the replica of p2 named, of 2 (p1 and p3 have one)" \
      "$(jq -r '[.routes[] | select(.executor == "p2") | .replica | type] | join(" ")' \
          "$T/out.ndjson" | sort -u)" "number"
check "routes: each executor starts after the one before ended, and ends after it starts" \
      "$(jq -r '[.routes[1:][] | [.start_time, .end_time]] | flatten |
                . == (. | sort)' "$T/out.ndjson" | sort -u)" "true"
check "documents and status unchanged" \
      "$(jq -r '.status.code + " " + .docs[0].id + " " + .docs[0].text' "$T/out.ndjson" | sort | tr '\n' ' ')" \
      "SUCCESS a hello SUCCESS b world "
check "parameters unchanged" \
      "$(jq -c '.parameters' "$T/out.ndjson" | sort -u)" '{"k":1,"p2":{"k":2}}'

# --- an error keeps its route: the executor that failed and the ones before ----------
cat >"$T/fail.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: p1}
  - {name: bad, uses: Fail}
  - {name: p3}
YML
stop_flow
start_flow "$T/fail.yml"
rc=0
echo '{"text":"x"}' | "$FLOWHOST" post /index - --to "$ADDR" -q --parameters '{"fail": true}' >"$T/fail.out" 2>/dev/null || rc=$?
check "error: exit status 1" "$rc" "1"
check "error: routes up to the executor that failed, status names it" \
      "$(jq -r '([.routes[].executor] | join(" ")) + " " + .status.executor' "$T/fail.out")" \
      "gateway p1 bad bad"
stop_flow

# --- memory: a pass-through worker does not decode wide parameters -------------------
# 2 x 100,000 parameters (about 2 MB on the wire) decoded and encoded again took the
# worker's peak up by 38.8 MB (measured); passed on as bytes they cost it the frame and
# its copy with the route: 6 MB (7 MB under AddressSanitizer).
cat >"$T/one.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: p1}
YML
start_flow "$T/one.yml"
worker=$(pgrep -P "$FLOW_PID" | head -1)
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
"$TOOLS/fh_wide_params" "$ADDR" 10 1 >/dev/null
base=$(hwm_kb "$worker")
out=$("$TOOLS/fh_wide_params" "$ADDR" 100000 1)
grown=$(( $(hwm_kb "$worker") - base ))
check "wide: a request of 200,000 parameters passes" "$out" "SUCCESS"
check "wide: the worker's peak grows by little (${grown} kB, under 12,000)" \
      "$([ "$grown" -lt 12000 ] && echo yes || echo no)" "yes"
stop_flow
done_checks
