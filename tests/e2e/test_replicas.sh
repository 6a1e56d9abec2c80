#!/usr/bin/env bash
# Replicas: `replicas: N` starts N workers of an executor. Requests go to the replica with
# the fewest outstanding, so a slow replica gets fewer; each replica has its own
# workspace and knows its index (fh_metas, FLOWHOST_REPLICA); routes name the replica
# that served; a crash or a hang in one replica leaves the others serving, and none of
# its requests is lost or runs twice (the Ledger executor writes down each one begun).
source "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"

docs() { # docs N [TAGS-JSON-FOR-EVERY-Kth K]: N documents d1..dN
    local i
    for i in $(seq 1 "$1"); do
        if [ -n "${3:-}" ] && [ $((i % $3)) = 0 ]; then
            echo "{\"id\":\"d$i\",\"text\":\"$i\",\"tags\":$2}"
        else
            echo "{\"id\":\"d$i\",\"text\":\"$i\"}"
        fi
    done
}

# --- three replicas share the work --------------------------------------------------
cat >"$T/three.yml" <<YML
jtype: Flow
version: '1'
with: {workspace: $T/ws}
executors:
  - {name: led, uses: Ledger, uses_with: {ledger: $T/three.ledger}, replicas: 3, credit: 4}
  - {name: after, uses: Echo}
YML
start_flow "$T/three.yml"
docs 90 >"$T/90.ndjson"
rc=0
"$FLOWHOST" post /index "$T/90.ndjson" --to "$ADDR" --request-size 1 -q --timeout 60000 \
    --parameters '{"sleep_ms": 10}' >"$T/three.out" 2>/dev/null || rc=$?
check "three: every request succeeds" "$rc:$(jq -r .status.code "$T/three.out" | sort | uniq -c | tr -s ' ')" \
      "0: 90 SUCCESS"
check "three: each replica served some" \
      "$(jq -r '.docs[0].tags.replica' "$T/three.out" | sort -u | tr '\n' ' ')" "0 1 2 "
check "three: FLOWHOST_REPLICA and fh_metas agree" \
      "$(jq -r 'select(.docs[0].tags.replica != .docs[0].tags.metas_replica or .docs[0].tags.metas_replicas != 3) | .docs[0].text' "$T/three.out")" ""
check "three: the route names the replica that served" \
      "$(jq -r 'select(.routes[1].executor != "led" or .routes[1].replica != .docs[0].tags.replica) | .docs[0].text' "$T/three.out")" ""
check "three: an executor of one replica names none" \
      "$(jq -r '.routes[2] | has("replica")' "$T/three.out" | sort -u)" "false"
check "three: each replica has its own workspace" \
      "$(cd "$T/ws/led" && ls -d */ | tr '\n' ' ')" "0/ 1/ 2/ "
check "three: every request begun once" \
      "$(wc -l <"$T/three.ledger" | tr -d ' '):$(cut -d' ' -f1 "$T/three.ledger" | sort -u | wc -l | tr -d ' ')" "90:90"
stop_flow

# --- a slow replica gets fewer --------------------------------------------------------
cat >"$T/slow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - name: led
    uses: Ledger
    uses_with: {ledger: $T/slow.ledger, slow_replica: 1, slow_ms: 100}
    replicas: 2
YML
start_flow "$T/slow.yml"
docs 100 >"$T/100.ndjson"
rc=0
"$FLOWHOST" post /index "$T/100.ndjson" --to "$ADDR" --request-size 1 -q --timeout 60000 \
    --parameters '{"sleep_ms": 10}' >"$T/slow.out" 2>/dev/null || rc=$?
fast=$(jq -r 'select(.docs[0].tags.replica == 0) | .docs[0].text' "$T/slow.out" | wc -l)
slow=$(jq -r 'select(.docs[0].tags.replica == 1) | .docs[0].text' "$T/slow.out" | wc -l)
check "slow: every request succeeds" "$rc:$((fast + slow))" "0:100"
# 10 ms against 110 ms a call: the fast replica should take about ten times as many.
check "slow: the fast replica took more than twice as many ($fast against $slow)" \
      "$([ "$fast" -gt $((2 * slow)) ] && echo yes || echo no)" "yes"
stop_flow

# --- a crash in one replica -----------------------------------------------------------
cat >"$T/crash.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: led, uses: Ledger, uses_with: {ledger: $T/crash.ledger}, replicas: 2, credit: 8}
YML
start_flow "$T/crash.yml"
docs 60 '{"crash":true}' 20 >"$T/crash.ndjson"
rc=0
"$FLOWHOST" post /index "$T/crash.ndjson" --to "$ADDR" --request-size 1 -q --timeout 60000 \
    --parameters '{"sleep_ms": 10}' >"$T/crash.out" 2>/dev/null || rc=$?
check "crash: exit status 1" "$rc" "1"
check "crash: exactly the marked requests failed" \
      "$(jq -r 'select(.status.code == "ERROR") | .docs[0].text' "$T/crash.out" | sort -n | tr '\n' ' ')" "20 40 60 "
check "crash: every request answered once" "$(jq -r '.docs[0].text' "$T/crash.out" | sort -un | wc -l)" "60"
check "crash: every request begun once" \
      "$(wc -l <"$T/crash.ledger" | tr -d ' '):$(cut -d' ' -f1 "$T/crash.ledger" | sort -u | wc -l | tr -d ' ')" "60:60"
stop_flow

# --- a hung replica: the other serves on ----------------------------------------------
cat >"$T/hang.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: led, uses: Ledger, uses_with: {ledger: $T/hang.ledger}, replicas: 2, credit: 4}
YML
start_flow "$T/hang.yml"
replica1=""
for pid in $(pgrep -P "$FLOW_PID"); do
    case "$(ps -o args= -p "$pid")" in *"/exec-0-1.spec") replica1=$pid ;; esac
done
[ -n "$replica1" ] || fail "no worker for replica 1"
kill -STOP "$replica1"
docs 40 >"$T/40.ndjson"
rc=0
"$FLOWHOST" post /index "$T/40.ndjson" --to "$ADDR" --request-size 1 -q --timeout 60000 \
    >"$T/hang.out" 2>/dev/null || rc=$?
kill -CONT "$replica1" 2>/dev/null || true
check "hang: every request answered once" "$(jq -r '.docs[0].text' "$T/hang.out" | sort -un | wc -l)" "40"
# The stopped replica had begun at most one; the ones queued behind it went to replica 0
# or to the worker that replaced it.
failed=$(jq -r 'select(.status.code == "ERROR") | .status.description' "$T/hang.out")
check "hang: at most the one it had begun failed" "$(grep -c . <<<"$failed" || true)" \
      "$([ -z "$failed" ] && echo 0 || echo 1)"
[ -z "$failed" ] || check "hang: with the heartbeat error" "$failed" "executor 'led' stopped answering heartbeats"
check "hang: the stopped worker answered none" \
      "$(jq -r "select(.docs[0].tags.pid == $replica1) | .docs[0].text" "$T/hang.out")" ""
check "hang: every request begun once" \
      "$(wc -l <"$T/hang.ledger" | tr -d ' '):$(cut -d' ' -f1 "$T/hang.ledger" | sort -u | wc -l | tr -d ' ')" "40:40"
stop_flow

# --- every replica crashing: the breaker opens once all are down -----------------------
cat >"$T/down.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: crasher, uses: Crash, replicas: 2}
YML
start_flow "$T/down.yml"
for i in $(seq 1 100); do echo "{\"text\":\"$i\",\"tags\":{\"crash\":true}}"; done >"$T/boom.ndjson"
rc=0
timeout 60 "$FLOWHOST" post /x "$T/boom.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 \
    >"$T/down.out" 2>/dev/null || rc=$?
check "down: every request answered once" "$rc:$(jq -r '.docs[0].text' "$T/down.out" | sort -un | wc -l)" "1:100"
check "down: each failed, by a crash or the open breaker" \
      "$(jq -r '.status.description' "$T/down.out" | sed -E 's/: replica [01]: .*//' | sort -u | tr '\n' '|')" \
      "executor 'crasher' crashed: signal 11 (SIGSEGV)|executor 'crasher' is down (every replica)|"
check_contains "down: the log says when one replica went down" "$(cat "$T/run.log")" "is down: its workers died 5 times in a row within 30 s (last: signal 11 (SIGSEGV)) (the other replicas serve"
check_contains "down: and when every one had" "$(cat "$T/run.log")" "executor 'crasher' is down (every replica): replica "
stop_flow
done_checks
