#!/usr/bin/env bash
# The demo's search application: index, search, update, delete, and an index that
# survives a restart of the flow (it lives in a docstore in the executor's workspace).
. "$(dirname "$0")/lib.sh"
export FLOWHOST_WORKSPACE=$T/workspace

head -n 500 "$FH_SOURCE_DIR/flows/data/fortunes.ndjson" >"$T/docs.ndjson"
start_flow "$FLOWS/search.yml"
"$FLOWHOST" index "$T/docs.ndjson" --to "$ADDR" --request-size 50 -q -o "$T/index.out"
check "index: 10 responses" "$(wc -l <"$T/index.out" | tr -d ' ')" "10"
check "index: all succeeded" "$(jq -r .status.code "$T/index.out" | sort -u)" "SUCCESS"
check "index: embeddings are not sent back" "$(jq '[.docs[] | select(.embedding)] | length' "$T/index.out" | sort -u)" "0"

# A document's own text finds it first, with cosine 1.
query=$(sed -n 42p "$T/docs.ndjson" | jq -c '{text}')
id=$(sed -n 42p "$T/docs.ndjson" | jq -r .id)
out=$(echo "$query" | "$FLOWHOST" search - --to "$ADDR" -q)
check "search: the document itself comes first" "$(jq -r '.docs[0].matches[0].id' <<<"$out")" "$id"
check "search: with cosine 1" "$(jq '.docs[0].matches[0].scores.cosine * 1000 | round' <<<"$out")" "1000"
check "search: top_k from uses_with (3)" "$(jq '.docs[0].matches | length' <<<"$out")" "3"
check "search: best first" "$(jq '[.docs[0].matches[].scores.cosine] | . == (sort | reverse)' <<<"$out")" "true"
out=$(echo "$query" | "$FLOWHOST" search - --to "$ADDR" -q --parameters '{"top_k": 7}')
check "search: top_k from the parameters" "$(jq '.docs[0].matches | length' <<<"$out")" "7"

# update replaces, delete removes.
echo "{\"id\": \"$id\", \"text\": \"zebras wander the quiet savanna\"}" | "$FLOWHOST" update - --to "$ADDR" -q >/dev/null
out=$(echo '{"text": "zebras wander the quiet savanna"}' | "$FLOWHOST" search - --to "$ADDR" -q)
check "update: the new text is found" "$(jq -r '.docs[0].matches[0] | "\(.id) \(.text)"' <<<"$out")" "$id zebras wander the quiet savanna"
echo "{\"id\": \"$id\"}" | "$FLOWHOST" delete - --to "$ADDR" -q >/dev/null
out=$(echo '{"text": "zebras wander the quiet savanna"}' | "$FLOWHOST" search - --to "$ADDR" -q)
check "delete: it is gone" "$(jq -r "[.docs[0].matches[].id] | index(\"$id\")" <<<"$out")" "null"
stop_flow

# A new flow on the same workspace finds what the first one indexed.
start_flow "$FLOWS/search.yml"
query=$(sed -n 7p "$T/docs.ndjson" | jq -c '{text}')
out=$(echo "$query" | "$FLOWHOST" search - --to "$ADDR" -q)
check "restart: the index is still there" "$(jq -r '.docs[0].matches[0].id' <<<"$out")" "$(sed -n 7p "$T/docs.ndjson" | jq -r .id)"
check "restart: the deleted document stays deleted" "$(jq -r "[.docs[0].matches[].id] | index(\"$id\")" <<<"$out")" "null"
check_contains "restart: the indexer reloaded 499 documents" "$(cat "$T/run.log")" "499 documents in"
stop_flow
done_checks
