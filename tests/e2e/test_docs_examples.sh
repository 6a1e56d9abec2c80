#!/usr/bin/env bash
# The examples of the Flow IO docs page, through the real binary and real plugins.
. "$(dirname "$0")/lib.sh"

# Executor-specific parameters: my-executor-1 sees 10, my-executor-2 sees 5.
out=$("$FLOWHOST" post /endpoint --flow "$FLOWS/params.yml" -q \
      --parameters '{"param": 5, "my-executor-1": {"param": 10}}')
check "scoped parameters: status" "$(jq -r .status.code <<<"$out")" "SUCCESS"
check "scoped parameters: my-executor-1 sees 10" \
      "$(jq -c '.docs[] | select(.tags.executor == "my-executor-1") | .tags.param' <<<"$out")" "10"
check "scoped parameters: my-executor-2 sees 5" \
      "$(jq -c '.docs[] | select(.tags.executor == "my-executor-2") | .tags.param' <<<"$out")" "5"
check "scoped parameters: the response keeps the parameters as sent" \
      "$(jq -c .parameters <<<"$out")" '{"param":5,"my-executor-1":{"param":10}}'
# Swapped values: the executors' own assertions (as in the docs) turn into an error.
rc=0
out=$("$FLOWHOST" post /endpoint --flow "$FLOWS/params.yml" -q \
      --parameters '{"param": 10, "my-executor-1": {"param": 5}}' 2>"$T/err") || rc=$?
check "wrong scoped value: exit status 1" "$rc" "1"
check "wrong scoped value: error from my-executor-1" "$(jq -r .status.executor <<<"$out")" "my-executor-1"

# Environment variables: only the executor given MY_ENV sees it.
out=$("$FLOWHOST" post /foo --flow "$FLOWS/env.yml" -q 2>"$T/err")
check "env: with-env sees MY_ENV_VALUE" \
      "$(jq -r '.docs[] | select(.tags.executor == "with-env") | .tags.MY_ENV' <<<"$out")" "MY_ENV_VALUE"
check "env: without-env sees nothing" \
      "$(jq -c '.docs[] | select(.tags.executor == "without-env") | .tags.MY_ENV' <<<"$out")" "null"
check_contains "env: the executor's print shows" "$(cat "$T/err")" "MY_ENV -> MY_ENV_VALUE"

# Parameters-only request: no documents, the parameters reach the executor.
out=$("$FLOWHOST" post / --flow "$FLOWS/hello.yml" -q --parameters '{"hello": "world"}' 2>"$T/err")
check "parameters-only: the executor saw them" "$(jq -c '.docs[0].tags.parameters' <<<"$out")" '{"hello":"world"}'
check "parameters-only: it got no documents" "$(jq -c '.docs[0].tags.docs_seen' <<<"$out")" "0"
check_contains "parameters-only: parameters['hello'] printed" "$(cat "$T/err")" "hello -> world"
# With one document, as in the docs' first form.
out=$(echo '{}' | "$FLOWHOST" post / - --flow "$FLOWS/hello.yml" -q --parameters '{"hello": "world"}' 2>/dev/null)
check "one document and parameters: it got the document" "$(jq -c '.docs[1].tags.docs_seen' <<<"$out")" "1"

# Types kept: index 1 is an int and picks 'dog' with no cast; 1.0 stays a double.
out=$("$FLOWHOST" post /endpoint --flow "$FLOWS/animals.yml" -q --parameters '{"index": 1}')
check "int parameter stays an int: dog" "$(jq -r '.docs[0].text' <<<"$out")" "dog"
rc=0
out=$("$FLOWHOST" post /endpoint --flow "$FLOWS/animals.yml" -q --parameters '{"index": 1.0}' 2>/dev/null) || rc=$?
check "double parameter stays a double: exit 1" "$rc" "1"
check_contains "double parameter stays a double: message" "$(jq -r .status.description <<<"$out")" "not double"

# Flow().add() without uses passes documents on unchanged.
printf '{"id":"a","text":"x","tags":{"n":7}}\n' >"$T/one.ndjson"
out=$("$FLOWHOST" post /anything "$T/one.ndjson" --flow "$FLOWS/pass.yml" -q)
check "pass-through: document unchanged" "$(jq -c '.docs' <<<"$out")" '[{"id":"a","text":"x","tags":{"n":7}}]'
check "pass-through: routes gateway then the executor" "$(jq -c '[.routes[].executor]' <<<"$out")" '["gateway","nothing"]'

# index/search/update/delete are post to /index, /search, /update, /delete.
for verb in index search update delete; do
    out=$("$FLOWHOST" "$verb" "$T/one.ndjson" --flow "$FLOWS/pass.yml" -q)
    check "$verb posts to /$verb" "$(jq -r .endpoint <<<"$out")" "/$verb"
done

# request_size: 100 documents with request size 10 give 10 responses of 10.
for i in $(seq 1 100); do echo "{\"text\":\"doc $i\"}"; done >"$T/100.ndjson"
out=$("$FLOWHOST" post / "$T/100.ndjson" --flow "$FLOWS/pass.yml" -q --request-size 10)
check "request_size 10: 10 responses" "$(wc -l <<<"$out" | tr -d ' ')" "10"
check "request_size 10: each has 10 documents" "$(jq -s -c '[.[] | .docs | length] | unique' <<<"$out")" "[10]"
check "request_size 10: all 100 documents came back" "$(jq -s '[.[] | .docs[].text] | unique | length' <<<"$out")" "100"
out=$("$FLOWHOST" post / "$T/100.ndjson" --flow "$FLOWS/pass.yml" -q --request-size 30)
check "request_size 30: the last request is short" "$(jq -s -c '[.[] | .docs | length] | sort' <<<"$out")" "[10,30,30,30]"

done_checks
