#!/usr/bin/env bash
# The search application with its index in three shards (flows/search-sharded.yml):
# /index spreads the documents over the shards (polling ANY), a search asks all three
# (ALL) and gets the same top-k as one index holding everything (flows/search.yml);
# update and delete reach every shard; each shard keeps its own workspace.
. "$(dirname "$0")/lib.sh"

head -n 400 "$FH_SOURCE_DIR/flows/data/fortunes.ndjson" >"$T/docs.ndjson"
queries=("computers are never wrong" "the meaning of life" "science and truth"
         "a good teacher" "money and happiness" "love is blind")
# search_all OUT: per query, the top-7 scores, and the ids of the matches scoring above
# the 7th (a tie at the cut may rightly be broken by another document), ties sorted.
search_all() {
    local q
    for q in "${queries[@]}"; do
        echo "{\"text\": \"$q\"}" | "$FLOWHOST" search - --to "$ADDR" -q -p '{"top_k": 7}' |
            jq -r '[.docs[0].matches[] | {s: (.scores.cosine * 100000 | round), id}] |
                   (map(.s) | min) as $cut |
                   (map(.s | tostring) | join(" ")) + " | " +
                   (map(select(.s > $cut)) | sort_by(-.s, .id) | map(.id) | join(" "))'
    done >"$1"
}

export FLOWHOST_WORKSPACE=$T/one
start_flow "$FLOWS/search.yml"
"$FLOWHOST" index "$T/docs.ndjson" --to "$ADDR" --request-size 20 -q >/dev/null
search_all "$T/one.out"
stop_flow

export FLOWHOST_WORKSPACE=$T/sharded
start_flow "$FLOWS/search-sharded.yml"
# One request at a time: every shard is idle when the next comes, and ties take turns.
"$FLOWHOST" index "$T/docs.ndjson" --to "$ADDR" --request-size 20 --prefetch 1 -q -o "$T/index.out"
check "index: 20 responses, all succeeded" \
      "$(jq -r .status.code "$T/index.out" | sort | uniq -c | tr -s ' ')" " 20 SUCCESS"
search_all "$T/sharded.out"
check "search: 6 queries, 7 matches each" "$(cut -d'|' -f1 "$T/sharded.out" | awk '{print NF}' | sort -u)" "7"
check "search over 3 shards: the same top-7 scores, in order, and documents as one index" \
      "$(diff "$T/one.out" "$T/sharded.out" && echo same)" "same"
out=$(echo '{"text": "the meaning of life"}' | "$FLOWHOST" search - --to "$ADDR" -q)
check "search without top_k: each shard's uses_with top_k (3), merged" \
      "$(jq '.docs[0].matches | length' <<<"$out")" "9"
check "search: the routes name the indexer once per shard, each with its shard" \
      "$(jq -r '[.routes[] | select(.executor == "indexer") | .shard] | sort | map(tostring) | join(",")' <<<"$out")" "0,1,2"
check "index: each request went to one shard, named in its route" \
      "$(jq -r '[.routes[] | select(.executor == "indexer")] | length' "$T/index.out" | sort -u):$(jq -r '.routes[] | select(.executor == "indexer") | .shard' "$T/index.out" | sort -u | tr '\n' ' ')" \
      "1:0 1 2 "
check "every shard holds a part of the index" \
      "$(for s in 0 1 2; do ls "$T/sharded/indexer/shard-$s/0" >/dev/null 2>&1 && echo -n "$s "; done)" "0 1 2 "

id=$(sed -n 42p "$T/docs.ndjson" | jq -r .id)
echo "{\"id\": \"$id\", \"text\": \"zebras wander the quiet savanna\"}" |
    "$FLOWHOST" update - --to "$ADDR" -q >/dev/null
out=$(echo '{"text": "zebras wander the quiet savanna"}' | "$FLOWHOST" search - --to "$ADDR" -q)
check "update: the new text is found once (matches merged by id)" \
      "$(jq -r '.docs[0].matches[0] | "\(.id) \(.text)"' <<<"$out"):$(jq -r "[.docs[0].matches[] | select(.id == \"$id\")] | length" <<<"$out")" \
      "$id zebras wander the quiet savanna:1"
echo "{\"id\": \"$id\"}" | "$FLOWHOST" delete - --to "$ADDR" -q >/dev/null
out=$(echo '{"text": "zebras wander the quiet savanna"}' | "$FLOWHOST" search - --to "$ADDR" -q)
check "delete: gone from every shard" \
      "$(jq -r "[.docs[0].matches[] | select(.id == \"$id\")] | length" <<<"$out")" "0"
stop_flow
done_checks
