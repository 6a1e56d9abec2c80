#!/usr/bin/env bash
# Hand-made client envelopes (fh_rawenv) against the gateway's way in, which measures an
# envelope and reads its ids without decoding it: what protobuf-c could not decode (a
# field with the wrong wire type) is dropped, as a full decode would; a refused request's
# answer keeps what the client sent but its parameters (its routes, unknown fields); a
# no_wait flag spelt as a 10-byte varint is read as protobuf-c reads it; every other
# envelope gets the answer the full decode gave (the flow's prefetch over the client's,
# the gateway's route first, unknown fields kept).
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
cat >flow.yml <<'YML'
jtype: Flow
version: '1'
with:
  prefetch: 7
  max_inflight: 2
executors:
  - name: bind
    uses: Bind
YML
start_flow flow.yml
answer() { "$TOOLS/fh_rawenv" "$ADDR" "$1" "$2" 2000; }
for ep in /x /index; do # /x: passed through undecoded; /index: a handler's
    for c in wt_status_varint wt_prefetch_ld wt_routes_varint wt_params_fixed32 wt_id_varint; do
        check "$ep $c: a field of the wrong wire type: dropped" "$(answer $ep $c)" "no reply"
    done
    check_contains "$ep plain: answered, the flow's prefetch" "$(answer $ep plain)" "prefetch=7"
    check_contains "$ep client_prefetch: the flow's prefetch wins" "$(answer $ep client_prefetch)" "prefetch=7"
    check_contains "$ep client_routes: the gateway's route first, the client's kept" \
        "$(answer $ep client_routes)" "routes=[gateway,evil"
    check_contains "$ep unknown_field: kept" "$(answer $ep unknown_field)" "unknown=1"
done
out=$(answer bad refused_with_routes)
check_contains "refused: the error" "$out" "invalid endpoint"
check_contains "refused: the client's route and unknown field kept" "$out" "routes=[gateway,evil]"
check_contains "refused: its unknown field too" "$out" "unknown=1"
check "the flow is alive" "$(kill -0 "$FLOW_PID" && echo yes)" "yes"
stop_flow

cat >sleep.yml <<'YML'
jtype: Flow
version: '1'
with:
  max_inflight: 2
executors:
  - name: sleep
    uses: Sleep
YML
start_flow sleep.yml
"$FLOWHOST" post /x --to "$ADDR" -p '{"sleep_ms": 3000}' >/dev/null 2>&1 &
poster=$!
sleep 0.5 # the sleeping request is inside
check_contains "no_wait as a 10-byte varint, the flow full: busy at once" \
    "$(answer /x nowait_wide)" "busy: the flow is full"
wait "$poster" || true
stop_flow
done_checks
