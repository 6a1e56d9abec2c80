#!/usr/bin/env bash
# `flowhost run --log-format json`: every line the host and its workers write is one JSON
# object (time, level, executor or component, replica, shard, request id, message), also
# an executor's own line during a request, a crash, a restart and the drain; without the
# option, the same lines as text.
source "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"
cat >"$T/flow.yml" <<'YML'
executors:
  - {name: talk, uses: Branch, replicas: 2}
  - {name: boom, uses: Branch, shards: 2, polling: ALL}
YML
rm -f "$T/addr"
"$FLOWHOST" run --log-format json --address-file "$T/addr" "$T/flow.yml" 2>"$T/run.log" &
FLOW_PID=$!
for _ in $(seq 1 300); do [ -s "$T/addr" ] && break; sleep 0.05; done
ADDR=$(head -1 "$T/addr")
echo '{"id":"x"}' | "$FLOWHOST" post /index - --to "$ADDR" -q \
    -p '{"talk": {"log": "héllo \"quoted\"\nnext"}}' >"$T/talk.out" 2>/dev/null || true
rid=$(jq -r .request_id "$T/talk.out")
echo '{"id":"x"}' | "$FLOWHOST" post /index - --to "$ADDR" -q -p '{"boom": {"crash": true}}' \
    >/dev/null 2>&1 || true
sleep 0.3
kill -TERM "$FLOW_PID"
wait "$FLOW_PID" || true
FLOW_PID=""
check "every line is one JSON object" \
      "$(jq -c 'type' "$T/run.log" 2>&1 | sort | uniq -c | tr -s ' ')" " $(wc -l <"$T/run.log" | tr -d ' ') \"object\""
check "each has time, level and message" \
      "$(jq -r 'select(.time == null or .level == null or .message == null) | "missing"' "$T/run.log")" ""
check "the time is UTC with microseconds" \
      "$(jq -r '.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{6}Z$")' "$T/run.log" | sort -u)" "true"
line=$(jq -c 'select(.executor == "talk")' "$T/run.log")
check "an executor's line: its name, replica, the request id, the message whole" \
      "$(jq -r '[.level, (.replica | tostring), .request_id, .message] | join("|")' <<<"$line")" \
      "$(printf 'info|%s|%s|héllo "quoted"\nnext' "$(jq -r .replica <<<"$line")" "$rid")"
check "the replica is one of talk's two" "$(jq -r '.replica | IN(0, 1)' <<<"$line")" "true"
check_contains "the host's ready line" "$(jq -r 'select(.component == "host") | .message' "$T/run.log")" \
      "is ready to use: ZeroMQ"
check "the crash: a host line, level warning, naming the executor" \
      "$(jq -r 'select(.component == "host" and (.message | test("executor .boom. crashed"))) | .level' "$T/run.log" | sort -u)" \
      "warning"
rm -f "$T/addr"
"$FLOWHOST" run --address-file "$T/addr" "$T/flow.yml" 2>"$T/text.log" &
FLOW_PID=$!
for _ in $(seq 1 300); do [ -s "$T/addr" ] && break; sleep 0.05; done
ADDR=$(head -1 "$T/addr")
echo '{"id":"x"}' | "$FLOWHOST" post /index - --to "$ADDR" -q -p '{"talk": {"log": "plain"}}' >/dev/null 2>&1 || true
stop_flow
check "without it: text lines" "$(grep -c '^talk \[info\] plain$' "$T/text.log")" "1"
check "a bad format is refused" "$("$FLOWHOST" run --log-format xml "$T/flow.yml" 2>&1; echo "rc=$?")" \
      "flowhost: --log-format must be text or json, not 'xml'
rc=2"
done_checks
