#!/usr/bin/env bash
# A docstore written by a flow (the CosineIndexer's WORKSPACE/index), then damaged the
# ways a crash or a disk damages it:
#  - its last record cut anywhere (a worker killed, by kill -9 or by the gateway on a
#    timeout, in the middle of a put), when the document in it holds bytes that make
#    whole records (a client's blob): the flow starts again, the cut document is gone,
#    nothing else; `flowhost docstore check` calls it an unfinished record, not damage;
#    and the same with a real SIGKILL in the middle of the write() of a 64 MiB document;
#  - a flipped bit in its last complete record, or in its first: the flow does not start,
#    and says where and which document; check lists it (exit 1); repair drops it, keeps
#    the old log, and the flow starts again with every other document.
. "$(dirname "$0")/lib.sh"
export FLOWHOST_WORKSPACE=$T/ws
STORE=$T/ws/indexer/0/index
LOG=$STORE/docs.log
WRITER=$TOOLS/fh_docstore_writer
[ -x "$WRITER" ] || fail "$WRITER not built"

size() { stat -c %s "$1"; }
index() { "$FLOWHOST" index "$1" --to "$ADDR" -q >"$T/index.out" || fail "index $1 failed"; }
# the_flow_starts N: the search flow starts and its indexer finds N documents.
the_flow_starts() {
    start_flow "$FLOWS/search.yml"
    check_contains "$2: the indexer finds $1 documents" "$(cat "$T/run.log")" "$1 documents in"
    stop_flow
}
# ds COMMAND: flowhost docstore COMMAND $STORE; status in $ds_rc, stdout in $T/ds.out.
ds() {
    ds_rc=0
    "$FLOWHOST" docstore "$1" "$STORE" >"$T/ds.out" 2>"$T/ds.err" || ds_rc=$?
}

# 20 documents, doc-0 .. doc-19.
head -n 20 "$FH_SOURCE_DIR/flows/data/fortunes.ndjson" \
    | jq -c -s 'to_entries[] | {id: "doc-\(.key)", text: .value.text}' >"$T/docs.ndjson"
start_flow "$FLOWS/search.yml"
index "$T/docs.ndjson"
stop_flow
start=$(size "$LOG")

# One more, whose blob holds whole records (a put of "ghost", a delete of "doc-0", in
# both formats), then 50 KB of noise.
{ "$WRITER" fake-records; head -c 50000 /dev/urandom; } | base64 -w0 >"$T/blob.b64"
printf '{"id": "big", "text": "a document whose blob holds records", "blob": "%s"}\n' \
    "$(cat "$T/blob.b64")" >"$T/big.ndjson"
start_flow "$FLOWS/search.yml"
index "$T/big.ndjson"
stop_flow
end=$(size "$LOG")
cp "$LOG" "$T/full.log"
echo "the last record: bytes $start to $end"

for cut in $((start + 100)) $(((start + end) / 2)) $((end - 1)); do
    head -c "$cut" "$T/full.log" >"$LOG" # as a writer killed in the middle of the put
    ds check
    check "cut at $cut: check exits 0" "$ds_rc" "0"
    check_contains "cut at $cut: check sees an unfinished last record" "$(cat "$T/ds.out")" \
        "$LOG: offset $start: $((cut - start)) bytes: an unfinished last record"
    the_flow_starts 20 "cut at $cut"
    check "cut at $cut: the writer cut the log back to the last whole record" "$(size "$LOG")" "$start"
done

# A real SIGKILL in the middle of writing a 64 MiB document made of records (with the
# store's own salt, too).
read -r kstart ksize < <("$WRITER" kill-in-put "$STORE" 64)
echo "killed in the middle of a 64 MiB put: the log went from $kstart to $ksize bytes"
check "SIGKILL: the write was cut short" "$(( ksize > kstart && ksize < kstart + (64 << 20) ))" "1"
ds check
check "SIGKILL: check exits 0" "$ds_rc" "0"
check_contains "SIGKILL: check sees an unfinished last record" "$(cat "$T/ds.out")" \
    "$LOG: offset $kstart: $((ksize - kstart)) bytes: an unfinished last record"
the_flow_starts 20 "SIGKILL"
check "SIGKILL: the writer cut the log back" "$(size "$LOG")" "$kstart"

# A flipped bit inside the last record, written whole: reported, not dropped.
echo '{"id": "victim", "text": "the last document written"}' >"$T/victim.ndjson"
start_flow "$FLOWS/search.yml"
index "$T/victim.ndjson"
stop_flow
vend=$(size "$LOG")
"$WRITER" flip "$LOG" $(((start + vend) / 2))
rc=0
timeout 30 "$FLOWHOST" run "$FLOWS/search.yml" 2>"$T/run.log" >/dev/null || rc=$?
check "a damaged last record: the flow does not start" "$rc" "1"
check_contains "a damaged last record: the flow says where" "$(cat "$T/run.log")" \
    "$LOG: damage at offset $start: document 'victim': its content fails its checksum"
check_contains "a damaged last record: and how to repair" "$(cat "$T/run.log")" \
    "flowhost docstore repair $STORE"
check "a damaged last record: nothing was cut" "$(size "$LOG")" "$vend"
ds check
check "check: exit status 1 on damage" "$ds_rc" "1"
check "check: the damaged record" "$(head -n 1 "$T/ds.out")" \
    "$LOG: offset $start: $((vend - start)) bytes: document 'victim': its content fails its checksum"
check "check: the summary" "$(tail -n 1 "$T/ds.out")" \
    "$STORE: format 2, 20 documents, $vend bytes; 1 damaged place (1 document lost): \`flowhost docstore repair $STORE\` drops it"

# repair: refused while a flow writes the docstore; then drops the damage
start=$(size "$LOG") # (unchanged: the damaged record is still there)
ds repair
check "repair: exit status 0" "$ds_rc" "0"
check_contains "repair: says what it did" "$(tail -n 1 "$T/ds.out")" \
    "$STORE: repaired: 1 damaged place (1 document lost) dropped, 20 documents kept; the old log is $STORE/docs.log.before-repair"
check "repair: the old log is kept" "$(size "$STORE/docs.log.before-repair")" "$vend"
ds check
check "check after repair: no damage" "$ds_rc:$(cat "$T/ds.out")" \
    "0:$STORE: format 2, 20 documents, $(size "$LOG") bytes; no damage"
the_flow_starts 20 "after repair"

start_flow "$FLOWS/search.yml"
ds repair
check "repair while the flow runs: exit status 1" "$ds_rc" "1"
check "repair while the flow runs: why" "$(cat "$T/ds.err")" \
    "flowhost: $STORE: in use by another process"
ds check
check "check while the flow runs: exit status 0" "$ds_rc" "0"
stop_flow

# A flipped bit in the first record's header: the records after it are found again.
"$WRITER" flip "$LOG" 20
ds check
check "damage in the first record: check exits 1" "$ds_rc" "1"
check_contains "damage in the first record: where" "$(head -n 1 "$T/ds.out")" \
    "$LOG: offset 16: "
check_contains "damage in the first record: the others are there" "$(tail -n 1 "$T/ds.out")" \
    "19 documents"
ds repair
check "damage in the first record: repaired" "$ds_rc" "0"
the_flow_starts 19 "after the second repair"

# the command line
expect_fail "docstore without a command" 2 "usage: flowhost docstore check|repair|compact DIR" -- \
    "$FLOWHOST" docstore
expect_fail "docstore check of no docstore" 2 "$T/nothing: no docstore" -- \
    "$FLOWHOST" docstore check "$T/nothing"
expect_fail "docstore of an unknown command" 2 "unknown docstore command 'fix'" -- \
    "$FLOWHOST" docstore fix "$STORE"
check_contains "docstore --help" "$("$FLOWHOST" docstore --help)" "Exit status"
done_checks
