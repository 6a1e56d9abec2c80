#!/usr/bin/env bash
# Graphs at their limits: a join whose executor is down with on_error ignore (the walk
# completes while a carrier is still in hand: answered once, the gateway lives); floating
# executors that are slow never take the branches of the requests clients wait for (a
# floating join, a floating executor with 10 shards polled ALL), and one with more
# shards than the flow takes requests still gets its copies.
source "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"
post() { # post PARAMS: one document; the response, compact
    echo '{"id":"x1","text":"hi"}' |
        { timeout 20 "$FLOWHOST" post /index - --to "$ADDR" -q --timeout 8000 -p "$1" 2>/dev/null || true; } |
        jq -c .
}

# --- a join that is down, with on_error ignore ------------------------------------------
cat >"$T/down.yml" <<YML
executors:
  - {name: a, uses: Branch}
  - {name: b, uses: Branch, needs: a}
  - {name: c, uses: Branch, needs: a}
  - {name: d, uses: Branch, needs: [b, c], on_error: ignore}
YML
start_flow "$T/down.yml"
for k in 1 2 3 4 5; do post '{"d": {"crash": true}}' >/dev/null; done # 5 deaths: d is down
for _ in $(seq 1 50); do grep -q "is down" "$T/run.log" && break; sleep 0.1; done
check_contains "down: d's breaker is open" "$(cat "$T/run.log")" "executor 'd' is down"
out=$(post '{}')
check "down: a request while d is down is answered, its error d's" \
      "$(jq -r '.status.code + " " + .status.executor' <<<"$out")" "ERROR d"
out=$(post '{}')
check "down: and the next one too: the gateway lives" \
      "$(jq -r '.status.code + " " + .status.executor' <<<"$out")" "ERROR d"
stop_flow

# --- a slow floating join never takes the clients' branches --------------------------------
cat >"$T/fjoin.yml" <<YML
with: {max_inflight: 2}
executors:
  - {name: a, uses: Branch}
  - {name: b, uses: Branch, needs: a}
  - {name: c, uses: Branch, needs: a}
  - {name: f, uses: Ledger, uses_with: {ledger: $T/fjoin.ledger}, needs: [b, c], floating: true}
YML
start_flow "$T/fjoin.yml"
res=""
for k in $(seq 1 12); do res="$res $(post '{"f": {"sleep_ms": 2000}}' | jq -r .status.code)"; done
check "floating join: 12 requests while it is slow, all succeed" \
      "$(tr ' ' '\n' <<<"$res" | grep -c SUCCESS)" "12"
check_contains "floating join: the copies it could not take are said" "$(cat "$T/run.log")" \
      "floating executor 'f' is behind: request"
check "floating join: it got the first request" "$(head -c 1 "$T/fjoin.ledger" | wc -c | tr -d ' ')" "1"
stop_flow

# --- a floating executor over 10 shards, polled ALL ---------------------------------------
cat >"$T/fshards.yml" <<YML
with: {max_inflight: 2}
executors:
  - {name: f, uses: Branch, needs: gateway, floating: true, shards: 10, polling: ALL}
  - {name: a, uses: Branch, needs: gateway}
  - {name: b, uses: Branch, needs: a}
  - {name: c, uses: Branch, needs: a}
  - {name: d, uses: Branch, needs: a}
  - {name: e, uses: Branch, needs: a}
YML
start_flow "$T/fshards.yml"
res=""
for k in 1 2 3 4; do res="$res $(post '{"f": {"sleep_ms": 2000}}' | jq -r .status.code)"; done
check "floating shards: 4 requests while they are slow, all succeed" \
      "$(tr ' ' '\n' <<<"$res" | grep -c SUCCESS)" "4"
stop_flow

# --- more floating shards than requests the flow takes --------------------------------------
cat >"$T/fwide.yml" <<YML
with: {max_inflight: 1}
executors:
  - {name: f, uses: Ledger, uses_with: {ledger: $T/fwide.ledger}, needs: gateway, floating: true, shards: 8, polling: ALL}
  - {name: a, uses: Branch, needs: gateway}
YML
start_flow "$T/fwide.yml"
for k in 1 2 3; do post '{}' >/dev/null; done
for _ in $(seq 1 50); do [ "$(wc -l <"$T/fwide.ledger" 2>/dev/null || echo 0)" -ge 24 ] && break; sleep 0.1; done
check "floating over 8 shards, max_inflight 1: each of 3 requests reached every shard" \
      "$(wc -l <"$T/fwide.ledger" | tr -d ' ')" "24"
stop_flow
done_checks
