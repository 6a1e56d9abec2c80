#!/usr/bin/env bash
# Inputs of `flowhost post`, read lazily from the file: CSV, NDJSON, files by glob, .npy,
# a docstore; with a field resolver, size, sampling and shuffle; and their bad input.
. "$(dirname "$0")/lib.sh"
SRC=$FH_SOURCE_DIR/tests/data/sources

start_flow "$FLOWS/pass.yml"
post() { "$FLOWHOST" post /x "$@" --to "$ADDR" -q; }
docs() { jq -c -s '[.[].docs[]]'; }

# CSV: the resolver maps question to text; id and uri are document fields; answer goes
# to tags; quoted commas stay in the field.
out=$(post "$SRC/basic.csv" --field-resolver question=text | docs)
check "csv: documents with text from the resolver, the rest in tags" \
      "$(jq -c '[.[] | {id, text, uri, tags}]' <<<"$out")" \
      '[{"id":"q1","text":"What is Jina?","uri":"http://a","tags":{"answer":"A framework"}},{"id":"q2","text":"Why, though?","uri":null,"tags":{"answer":"Because"}}]'
out=$(post "$SRC/basic.csv" --field-resolver '{"question": "text"}' --format csv | docs)
check "csv: the resolver as JSON, --format" "$(jq -r '.[0].text' <<<"$out")" "What is Jina?"

# NDJSON: the resolver renames, keys that are not document fields go to tags, types kept.
out=$(post "$SRC/mapped.ndjson" --field-resolver question=text | docs)
check "ndjson: renamed, unmapped keys in tags with their types" \
      "$(jq -c '.[0] | {id, text, n: .tags.n, f: .tags.f, flag: .tags.flag}' <<<"$out")" \
      '{"id":"d1","text":"q1","n":3,"f":1.5,"flag":true}'

# Files: a recursive glob, sorted, in each read mode.
out=$(post "$SRC/tree/**/*.txt" --read-mode text | docs)
check "files: ** finds the .txt files in sorted order" \
      "$(jq -r '[.[].uri | sub(".*/tree/"; "")] | join(" ")' <<<"$out")" "a.txt sub/c.txt sub/deep/d.txt"
check "files: text read mode" "$(jq -r '[.[].text | length > 0] | all' <<<"$out")" "true"
out=$(post "$SRC/tree/*.md" | docs)
check "files: uri read mode: no content" "$(jq -c '[.[] | has("text") or has("blob")] | any' <<<"$out")" "false"
out=$(post "$SRC/tree/*.md" --read-mode bytes | docs)
check "files: bytes read mode: the blob, base64" "$(jq -r '.[0].blob' <<<"$out" | base64 -d)" \
      "$(cat "$SRC/tree/b.md")"

# .npy: one document a row, as tensor or as embedding.
out=$(post "$SRC/f4_3x2.npy" | docs)
check "npy: 3 rows, 3 documents" "$(jq length <<<"$out")" "3"
check "npy: tensor with dtype and shape" "$(jq -c '[.[0].tensor.dtype, .[0].tensor.shape]' <<<"$out")" '["float32",[2]]'
out=$(post "$SRC/f4_3x2.npy" --as embedding | docs)
check "npy: as embedding" "$(jq -c '[.[].embedding | length]' <<<"$out")" "[2,2,2]"
first=$(jq -c '[.[].embedding]' <<<"$out")
out=$(post "$SRC/i8_4.npy" --as embedding --shuffle --seed 3 --request-size 1 --prefetch 1 | docs)
again=$(post "$SRC/i8_4.npy" --as embedding --shuffle --seed 3 --request-size 1 --prefetch 1 | docs)
plain=$(post "$SRC/i8_4.npy" --as embedding --request-size 1 --prefetch 1 | docs)
check "npy: shuffle keeps the rows" "$(jq -c '[.[].embedding[0]] | sort' <<<"$out")" "$(jq -c '[.[].embedding[0]] | sort' <<<"$plain")"
check "npy: shuffle changes the order" \
      "$([ "$(jq -c '[.[].embedding[0]]' <<<"$out")" != "$(jq -c '[.[].embedding[0]]' <<<"$plain")" ] && echo yes)" "yes"
check "npy: the same seed, the same order" "$(jq -c '[.[].embedding[0]]' <<<"$out")" "$(jq -c '[.[].embedding[0]]' <<<"$again")"

# size and sampling_rate.
for i in $(seq 1 200); do echo "{\"text\":\"$i\"}"; done >"$T/200.ndjson"
check "--size 7: 7 documents" "$(post "$T/200.ndjson" --size 7 | docs | jq length)" "7"
a=$(post "$T/200.ndjson" --sampling-rate 0.5 --seed 11 | docs | jq -c '[.[].text]')
b=$(post "$T/200.ndjson" --sampling-rate 0.5 --seed 11 | docs | jq -c '[.[].text]')
n=$(jq length <<<"$a")
check "--sampling-rate 0.5: about half" "$(( n > 60 && n < 140 ))" "1"
check "--sampling-rate with a seed: the same sample" "$a" "$b"

# A docstore directory as input.
for id in one two three; do "$TOOLS/fh_docstore_writer" put "$T/store" "$id" >/dev/null; done
out=$(post "$T/store" | docs)
check "docstore: its documents in order" "$(jq -c '[.[].id]' <<<"$out")" '["one","two","three"]'
stop_flow

# Bad input: one line naming the file and where, exit 2, nothing sent.
bad() { # DESCRIPTION EXPECTED-IN-MESSAGE ARGS...
    local what=$1 want=$2 rc=0
    shift 2
    "$FLOWHOST" post /x "$@" --flow "$FLOWS/pass.yml" -q >"$T/out" 2>"$T/err" || rc=$?
    check "$what: exit 2" "$rc" "2"
    check_contains "$what: message" "$(cat "$T/err")" "$want"
    check "$what: one line" "$(wc -l <"$T/err" | tr -d ' ')" "1"
}
bad "csv ragged row" "ragged.csv:5: row has 2 fields, the header has 3" "$SRC/ragged.csv"
bad "csv resolver naming a missing column" "field_resolver names column 'nope'" "$SRC/basic.csv" --field-resolver nope=text
bad "ndjson syntax error" "bad.ndjson:" "$SRC/bad.ndjson"
bad "glob matching nothing" "no file matches" "$T/nothing/*.txt"
LC_ALL=C sed 's/<f4/>f4/' "$SRC/f4_3x2.npy" >"$T/big.npy" # big-endian: same size
bad "npy unsupported dtype" "unsupported dtype '>f4'" "$T/big.npy"
head -c 140 "$SRC/f4_3x2.npy" >"$T/cut.npy"
bad "npy truncated" "truncated" "$T/cut.npy"
bad "not a docstore" "no docstore" "$T"
bad "unknown format" "unknown --format 'xml'" "$SRC/basic.csv" --format xml
bad "bad read mode" "--read-mode must be uri, text or bytes" "$SRC/tree/*.md" --read-mode all
bad "bad sampling rate" "--sampling-rate must be a number in (0, 1]" "$SRC/basic.csv" --sampling-rate 2

# --progress: a bar on a terminal, plain lines otherwise; both end with a summary.
"$FLOWHOST" post /x "$T/200.ndjson" --flow "$FLOWS/pass.yml" --request-size 10 --progress >/dev/null 2>"$T/err"
check_contains "progress, not a terminal: plain summary" "$(cat "$T/err")" "flowhost: 20 requests done in"
if command -v script >/dev/null; then
    script -qec "$FLOWHOST post /x $T/200.ndjson --flow $FLOWS/pass.yml --request-size 10 --progress -o /dev/null" /dev/null >"$T/tty"
    check_contains "progress, on a terminal: the bar's summary" "$(cat "$T/tty")" "20 requests done in"
    check_contains "progress, on a terminal: requests per second" "$(cat "$T/tty")" "RPS"
fi
done_checks
