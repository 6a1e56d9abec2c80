#!/usr/bin/env bash
# `when:` on an executor, through the real binary: the executor gets only the documents
# its condition matches, the others come back untouched and in their place; two
# executors with complementary conditions each get their share; the handler runs with
# none when none match; a handler that gives back another number of documents puts them
# where the first matching one was; with dynamic batching each request is filtered on its
# own; blobs stay with their documents; a mistake in a condition is a one-line error with
# file, line and column.
source "$(dirname "$0")/lib.sh"

# Documents 1..8: lang en on the odd ones, n = 0..7, d7 without tags at all.
for i in 1 2 3 4 5 6; do
    lang=$([ $((i % 2)) = 1 ] && echo en || echo fr)
    echo "{\"id\":\"d$i\",\"text\":\"t$i\",\"tags\":{\"lang\":\"$lang\",\"n\":$((i - 1))}}"
done >"$T/docs.ndjson"
echo '{"id":"d7","text":"t7"}' >>"$T/docs.ndjson"
echo '{"id":"d8","text":"t8","tags":{"lang":"en","n":7.5}}' >>"$T/docs.ndjson"

cat >"$T/chain.yml" <<YML
jtype: Flow
version: '1'
executors:
  - name: en
    uses: Mark
    uses_with: {ledger: $T/en.calls}
    when: {tags__lang: {\$eq: en}}
  - name: big
    uses: Mark
    when:
      \$and:
        - tags__n: {\$gte: 3}
        - tags__n: {\$lt: 7}
  - name: small
    uses: Mark
    when: {\$or: [{tags__n: {\$lt: 3}}, {tags__n: {\$gte: 7}}]}
YML
start_flow "$T/chain.yml"

# --- matched documents changed, the others untouched and in order ----------------------
out=$("$FLOWHOST" post /x "$T/docs.ndjson" --to "$ADDR" --request-size 8 -q --timeout 30000)
check "one request, success" "$(jq -r .status.code <<<"$out")" "SUCCESS"
check "every document back, in order" "$(jq -r '[.docs[].id] | join(" ")' <<<"$out")" \
      "d1 d2 d3 d4 d5 d6 d7 d8"
check "en: only the en documents went to it, and those all did" \
      "$(jq -r '[.docs[] | select(.text | contains("+en")) | .id] | join(" ")' <<<"$out")" "d1 d3 d5 d8"
check "en: its handler got 4 documents" "$(head -1 "$T/en.calls")" "4"
# complementary conditions: every document with a number n went to exactly one of them
check "big (3 <= n < 7) and small (n < 3 or n >= 7): each document to exactly one" \
      "$(jq -r '[.docs[] | .id + ":" + (.text | sub("^t[0-9]"; "") | gsub("\\+en"; ""))] | join(" ")' <<<"$out")" \
      "d1:+small d2:+small d3:+small d4:+big d5:+big d6:+big d7: d8:+small"
# a document no condition matched comes back exactly as it went
check "d7 (no tags) went through untouched" "$(jq -c '.docs[6]' <<<"$out")" '{"id":"d7","text":"t7"}'
check "d2 (fr, n 1): only small touched it, its tags otherwise as sent" \
      "$(jq -c '.docs[1]' <<<"$out")" '{"id":"d2","text":"t2+small","tags":{"lang":"fr","n":1,"given":4}}'
check "routes: every executor saw the request" "$(jq -c '[.routes[].executor]' <<<"$out")" \
      '["gateway","en","big","small"]'

# --- none match: the handler still runs, with no documents ------------------------------
: >"$T/en.calls"
out=$(grep '"fr"' "$T/docs.ndjson" | "$FLOWHOST" post /x - --to "$ADDR" --request-size 8 -q --timeout 30000)
check "none match: en called once with 0 documents" "$(cat "$T/en.calls")" "0"
check "none match: the documents unchanged by en" \
      "$(jq -r '[.docs[] | select(.text | contains("+en"))] | length' <<<"$out")" "0"

# --- the handler gives back another number of documents -------------------------------
# d1..d6: en matches d1 d3 d5. drop 1: [d3 d5] take the place of d1.
out=$(head -6 "$T/docs.ndjson" | "$FLOWHOST" post /x - --to "$ADDR" --request-size 6 -q \
      --timeout 30000 --parameters '{"en": {"drop": 1}}')
check "fewer: the handler's documents at the first matched place, the others in order" \
      "$(jq -r '[.docs[].id] | join(" ")' <<<"$out")" "d3 d5 d2 d4 d6"
out=$(head -6 "$T/docs.ndjson" | "$FLOWHOST" post /x - --to "$ADDR" --request-size 6 -q \
      --timeout 30000 --parameters '{"en": {"add": 2}}')
check "more: the handler's documents at the first matched place, the others in order" \
      "$(jq -r '[.docs[].id] | join(" ")' <<<"$out")" "d1 d3 d5 en-new-0 en-new-1 d2 d4 d6"
out=$(sed -n '2p;4p' "$T/docs.ndjson" | "$FLOWHOST" post /x - --to "$ADDR" --request-size 6 -q \
      --timeout 30000 --parameters '{"en": {"add": 1}}')
check "more, none matched: the handler's documents at the end" \
      "$(jq -r '[.docs[].id] | join(" ")' <<<"$out")" "d2 d4 en-new-0"
stop_flow

# --- dynamic batching: each request filtered on its own, then merged -------------------
cat >"$T/batch.yml" <<YML
jtype: Flow
version: '1'
executors:
  - name: en
    uses: Mark
    when: {tags__lang: {\$eq: en}}
    uses_dynamic_batching: {/x: {preferred_batch_size: 8, timeout: 300}}
YML
start_flow "$T/batch.yml"
rc=0
"$FLOWHOST" post /x "$T/docs.ndjson" --to "$ADDR" --request-size 2 -q --timeout 30000 \
    >"$T/batch.out" 2>/dev/null || rc=$?
check "batched: 4 requests, all succeed" "$rc:$(jq -r .status.code "$T/batch.out" | sort | uniq -c | tr -s ' ')" \
      "0: 4 SUCCESS"
check "batched: each request its own documents, in order" \
      "$(jq -r '[.docs[].id] | join(" ")' "$T/batch.out" | sort | tr '\n' ',')" "d1 d2,d3 d4,d5 d6,d7 d8,"
check "batched: only en documents changed" \
      "$(jq -r '.docs[] | select(.text | contains("+en")) | .id' "$T/batch.out" | sort | tr '\n' ' ')" "d1 d3 d5 d8 "
check "batched: the others untouched" \
      "$(jq -c '.docs[] | select(.tags.lang != "en")' "$T/batch.out" | sort | tr '\n' ' ')" \
      "$(grep -v '"en"' "$T/docs.ndjson" | jq -c . | sort | tr '\n' ' ')"
given=$(jq -r '.docs[] | select(.tags.given) | .tags.given' "$T/batch.out" | sort -n | tail -1)
check "batched: a call took the matching documents of several requests (given $given)" \
      "$([ "$given" -ge 2 ] && [ "$given" -le 4 ] && echo yes)" "yes"
stop_flow

# --- blobs (frames of their own on the wire) stay with their documents ----------------
for i in 0 1 2 3 4 5; do
    blob=$(head -c $((100000 + i)) /dev/urandom | base64 -w0)
    echo "{\"id\":\"b$i\",\"blob\":\"$blob\",\"tags\":{\"k\":$((i % 2))}}"
done >"$T/blobs.ndjson"
printf 'jtype: Flow\nexecutors:\n  - name: odd\n    uses: Mark\n    when: {tags__k: {$eq: 1}}\n' \
    >"$T/blob.yml"
"$FLOWHOST" post /x "$T/blobs.ndjson" --flow "$T/blob.yml" --request-size 6 -q --timeout 30000 \
    >"$T/blobs.out" 2>"$T/run.log"
check "blobs: every blob back with its document, in order" \
      "$(jq -c '.docs[] | [.id, .blob]' "$T/blobs.out" | md5sum)" \
      "$(jq -c '[.id, .blob]' "$T/blobs.ndjson" | md5sum)"
check "blobs: only the odd ones went to the handler" \
      "$(jq -r '[.docs[] | select(.text == "+odd") | .id] | join(" ")' "$T/blobs.out")" "b1 b3 b5"

# --- mistakes: one line, file:line:column -----------------------------------------------
bad() { # bad NAME 'WHEN' NEEDLE
    printf 'jtype: Flow\nversion: "1"\nexecutors:\n  - name: a\n    uses: Mark\n    when: %s\n' "$2" \
        >"$T/$1.yml"
    expect_fail "$1 (validate)" 2 "$T/$1.yml:$3" -- "$FLOWHOST" validate "$T/$1.yml"
}
bad field '{tags__x: {$eq: 1}, txt: {$eq: a}}' "6:31: unknown field 'txt' in 'when'"
bad operator '{tags__x: {$regex: a}}' "6:22: unknown operator '\$regex' on 'tags__x'"
bad operand '{weight: {$gt: heavy}}' "6:26: 'weight' is a number: '\$gt' needs a number, not a string"
bad nested '{$or: [{tags__x: {$in: 3}}]}' "6:34: '\$in' needs a list, not an integer"
bad shape '[tags__x]' "6:11: 'when' must be a mapping, not a list"
expect_fail "a bad condition stops run too" 2 "$T/field.yml:6:31: unknown field 'txt'" -- \
    "$FLOWHOST" run "$T/field.yml"
done_checks
