#!/usr/bin/env bash
# prefetch: at most N requests of one client inside the flow at once, enforced by the
# gateway for any client. Measured from the responses' routes: the time from the first
# executor's start to the last one's end, per request, never overlaps more than N times.
. "$(dirname "$0")/lib.sh"

# max_overlap FILE: the most [first executor start, last executor end] intervals of the
# responses in FILE that overlap at one instant (ISO-8601 times sort as strings).
max_overlap() {
    jq -s '[.[] | [[.routes[1].start_time, 1], [.routes[-1].end_time, -1]]] | add
           | sort_by(.[0], .[1]) | reduce .[] as $e ({n: 0, max: 0};
               .n += $e[1] | .max = ([.max, .n] | max)) | .max' "$1"
}

flow() {
    cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
with:
  prefetch: $1
executors:
  - {name: one, uses: Sleep}
  - {name: two, uses: Sleep}
YML
}
for i in $(seq 1 6); do echo "{\"text\":\"$i\"}"; done >"$T/in.ndjson"

# Without a bound several requests are inside at once (one in each executor, one waiting
# between them): the measure can see it.
flow 0
start_flow "$T/flow.yml"
"$FLOWHOST" post /x "$T/in.ndjson" --to "$ADDR" --request-size 1 -q \
    --parameters '{"sleep_ms": 100}' >"$T/free.out"
check "prefetch 0: all answered" "$(wc -l <"$T/free.out" | tr -d ' ')" "6"
check "prefetch 0: more than one request inside at once" "$(( $(max_overlap "$T/free.out") > 1 ))" "1"
stop_flow

# with: prefetch 1 — the client sends all six at once (it does not know the bound).
flow 1
start_flow "$T/flow.yml"
"$FLOWHOST" post /x "$T/in.ndjson" --to "$ADDR" --request-size 1 --prefetch 0 -q \
    --parameters '{"sleep_ms": 100}' >"$T/one.out"
check "prefetch 1: all answered" "$(jq -r '.docs[0].text' "$T/one.out" | sort | tr '\n' ' ')" "1 2 3 4 5 6 "
check "prefetch 1: one request inside at a time" "$(max_overlap "$T/one.out")" "1"
check "prefetch 1: answered in order" "$(jq -r '.docs[0].text' "$T/one.out" | tr '\n' ' ')" "1 2 3 4 5 6 "
stop_flow

# The client's own --prefetch bounds it too, whatever the flow says.
flow 0
start_flow "$T/flow.yml"
"$FLOWHOST" post /x "$T/in.ndjson" --to "$ADDR" --request-size 1 --prefetch 1 -q \
    --parameters '{"sleep_ms": 100}' >"$T/client.out"
check "client --prefetch 1: one request inside at a time" "$(max_overlap "$T/client.out")" "1"
stop_flow

done_checks
