#!/usr/bin/env bash
# What travels through a remote worker as it does through a local one: blobs as frames of
# their own (byte for byte, past the 16-frame mark too), dynamic batching (the flow's
# uses_dynamic_batching reaches the worker), max_message_size (the worker learns the
# flow's limit and answers a reply grown past it with an error, not a frame the gateway
# would refuse), --env, and shards served on other machines (shard-major host list).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/remote_lib.sh"

# --- blobs ---------------------------------------------------------------------------
python3 - >"$T/mixed.ndjson" <<'PY'
import base64, json, random
r = random.Random(20261203)
KiB = 1024
sizes = [0, 1, 32 * KiB, 100 * KiB, 32 * KiB - 1, 2 * KiB * KiB, 32 * KiB, 200]
sizes += [r.randint(100 * KiB, 600 * KiB) for _ in range(12)]
sizes += [32 * KiB - 1, 2 * KiB * KiB - 3, 10, 150 * KiB, 32 * KiB, 3000]
for i, n in enumerate(sizes):
    d = {"id": "doc-%02d" % i}
    if n:
        d["blob"] = base64.b64encode(r.randbytes(n)).decode()
    print(json.dumps(d))
PY
same() { # same EXPECTED RESPONSES: the blobs of the responses, in order, are the posted ones
    python3 - "$1" "$2" <<'PY'
import json, sys
want = [json.loads(l) for l in open(sys.argv[1])]
got = [d for l in open(sys.argv[2]) for d in json.loads(l).get("docs", [])]
ok = [w["id"] for w in want] == [g["id"] for g in got] and \
     all(w.get("blob", "") == g.get("blob", "") for w, g in zip(want, got))
print("%d documents, %s" % (len(got), "blobs equal" if ok else "blobs differ"))
PY
}
start_worker e1 -- --uses Echo --name e1
start_worker e2 -- --uses Echo --name e2
cat >"$T/blobs.yml" <<YML
with: {timeout_ready: 5000}
executors:
  - {name: e1, host: "$WADDR_e1"}
  - {name: pass}
  - {name: e2, host: "$WADDR_e2"}
YML
start_flow "$T/blobs.yml"
rc=0
"$FLOWHOST" post /blobs "$T/mixed.ndjson" --to "$ADDR" -q --timeout 60000 --request-size 100 >"$T/one.out" || rc=$?
check "blobs, one request: SUCCESS through both remote workers" \
      "$rc:$(jq -r .status.code "$T/one.out"):$(jq -c '[.docs[].tags.seen_by] | unique' "$T/one.out")" \
      '0:SUCCESS:[["e1","e2"]]'
check "blobs, one request: every blob back byte for byte" "$(same "$T/mixed.ndjson" "$T/one.out")" \
      "26 documents, blobs equal"
rc=0
"$FLOWHOST" post /blobs "$T/mixed.ndjson" --to "$ADDR" -q --timeout 60000 --request-size 3 --prefetch 9 >"$T/many.out" || rc=$?
check "blobs, 9 requests in flight: all SUCCESS" "$rc:$(jq -r .status.code "$T/many.out" | sort | uniq -c | tr -s ' ')" "0: 9 SUCCESS"
check "blobs, 9 requests: every blob back" "$(same "$T/mixed.ndjson" "$T/many.out")" "26 documents, blobs equal"
stop_flow
kill -TERM "$WPID_e1" "$WPID_e2"

# --- batching ------------------------------------------------------------------------
start_worker b -- --uses Batcher --uses-with "{\"call_ms\": 5, \"ledger\": \"$T/calls\"}"
cat >"$T/batch.yml" <<YML
with: {timeout_ready: 5000}
executors:
  - name: b
    host: "$WADDR_b"
    uses_dynamic_batching: {/search: {preferred_batch_size: 8, timeout: 300}}
YML
start_flow "$T/batch.yml"
for i in $(seq 1 32); do echo "{\"id\":\"d$i\",\"text\":\"t$i\"}"; done >"$T/32.ndjson"
rc=0
"$FLOWHOST" post /search "$T/32.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 >"$T/search.out" 2>/dev/null || rc=$?
check "batched: every request succeeds" "$rc:$(jq -r .status.code "$T/search.out" | sort | uniq -c | tr -s ' ')" "0: 32 SUCCESS"
check "batched: each request got its own document back" \
      "$(jq -r 'select(.docs | length == 1) | select(.docs[0].id == ("d" + (.docs[0].text | ltrimstr("t")))) | .docs[0].id' "$T/search.out" | wc -l)" "32"
check "batched: no call took more than 8 documents" "$(jq -r '.docs[0].tags.batch_size' "$T/search.out" | sort -n | tail -1)" "8"
calls=$(jq -r '.docs[0].tags.call' "$T/search.out" | sort -u | wc -l)
check "batched: 32 requests in at most 8 calls (got $calls)" "$([ "$calls" -le 8 ] && echo yes)" "yes"
"$FLOWHOST" post /index "$T/32.ndjson" --to "$ADDR" --request-size 1 -q --timeout 30000 >"$T/index.out" 2>/dev/null
check "not batched: one document a call" "$(jq -r '.docs[0].tags.batch_size' "$T/index.out" | sort -u)" "1"
stop_flow
kill -TERM "$WPID_b"

# --- max_message_size ------------------------------------------------------------------
start_worker g -- --uses Grow
start_worker t -- --uses Echo --name tag
cat >"$T/grow.yml" <<YML
with: {max_message_size: 2097152, timeout_ready: 5000}
executors:
  - {name: grow, host: "$WADDR_g"}
  - {name: tag, host: "$WADDR_t"}
YML
start_flow "$T/grow.yml"
printf '{"text": "%s"}\n' "$(head -c 1860000 /dev/zero | tr '\0' a)" >"$T/big.ndjson"
rc=0
"$FLOWHOST" post /x "$T/big.ndjson" --to "$ADDR" -q --parameters '{"grow": 300000}' --timeout 20000 >"$T/big.out" 2>/dev/null || rc=$?
check "a reply grown past the limit: an error from the executor that grew it" \
      "$rc:$(jq -r '.status.code + " " + .status.executor' "$T/big.out")" "1:ERROR grow"
check_contains "a reply grown past the limit: names the flow's limit" "$(jq -r .status.description "$T/big.out")" \
      "over the flow's max_message_size (2097152)"
out=$(echo '{"text": "small"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --timeout 20000)
check "the next request succeeds" "$(jq -r .status.code <<<"$out"):$(jq -c .docs[0].tags.seen_by <<<"$out")" 'SUCCESS:["tag"]'
stop_flow
kill -TERM "$WPID_g" "$WPID_t"

# --- --env, and shards on other machines --------------------------------------------------
start_worker env -- --uses EnvReader --env MY_ENV=remote
start_worker s0 -- --uses Echo --name idx
start_worker s1 -- --uses Echo --name idx
cat >"$T/shards.yml" <<YML
with: {timeout_ready: 5000}
executors:
  - {name: env, host: "$WADDR_env"}
  - {name: idx, host: ["$WADDR_s0", "$WADDR_s1"], shards: 2, polling: ALL}
YML
start_flow "$T/shards.yml"
out=$(echo '{"id": "x", "text": "a"}' | "$FLOWHOST" post /search - --to "$ADDR" -q --timeout 20000)
check "--env reaches the executor, which the flow names" "$(jq -r '.docs[-1].tags | .MY_ENV + " " + .executor' <<<"$out")" "remote env"
check "polling ALL: both remote shards saw the request" \
      "$(jq -c '[.routes[] | select(.executor == "idx") | .shard] | sort' <<<"$out")" "[0,1]"
stop_flow
stop_workers
done_checks
