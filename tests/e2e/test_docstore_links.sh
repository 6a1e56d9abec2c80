#!/usr/bin/env bash
# Links planted in a docstore's folder (a workspace others can write to) are never
# followed: compaction with docs.log.tmp planted as a link to a file elsewhere leaves
# that file alone and docs.log a regular file; a flow whose indexer finds docs.log, or
# docs.lock, a link refuses to start and says why; the file linked to is untouched.
. "$(dirname "$0")/lib.sh"
export FLOWHOST_WORKSPACE=$T/ws
STORE=$T/ws/indexer/0/index
echo "root's own file" >"$T/victim"
victim_is_intact() {
    check "$1: the file linked to is untouched" "$(cat "$T/victim")" "root's own file"
}

head -n 5 "$FH_SOURCE_DIR/flows/data/fortunes.ndjson" >"$T/docs.ndjson"
start_flow "$FLOWS/search.yml"
"$FLOWHOST" index "$T/docs.ndjson" --to "$ADDR" -q >/dev/null
"$FLOWHOST" index "$T/docs.ndjson" --to "$ADDR" -q >/dev/null # replaced: something to compact
stop_flow
chmod 1777 "$STORE" # a shared folder

ln -s "$T/victim" "$STORE/docs.log.tmp"
rc=0
"$FLOWHOST" docstore compact "$STORE" >"$T/out" 2>&1 || rc=$?
check "compaction past a planted docs.log.tmp: done" "$rc:$(cat "$T/out")" "0:$STORE: compacted; 5 documents"
victim_is_intact "compaction"
check "compaction: docs.log is a regular file" "$(stat -c %F "$STORE/docs.log")" "regular file"
check "compaction: the planted link is gone" "$(ls "$STORE" | tr '\n' ' ')" "docs.lock docs.log docs.reserve "

mv "$STORE/docs.log" "$T/real.log"
ln -s "$T/real.log" "$STORE/docs.log"
rc=0
timeout 30 "$FLOWHOST" run "$FLOWS/search.yml" >/dev/null 2>"$T/run.log" || rc=$?
check "docs.log a link: the flow does not start" "$rc" "1"
check_contains "docs.log a link: why" "$(cat "$T/run.log")" \
    "$STORE/docs.log: a symbolic link: refused (a docstore's files must be regular files in its directory)"
rm "$STORE/docs.log"
mv "$T/real.log" "$STORE/docs.log"

rm "$STORE/docs.lock"
ln -s "$T/victim" "$STORE/docs.lock"
rc=0
timeout 30 "$FLOWHOST" run "$FLOWS/search.yml" >/dev/null 2>"$T/run.log" || rc=$?
check "docs.lock a link: the flow does not start" "$rc" "1"
check_contains "docs.lock a link: why" "$(cat "$T/run.log")" "$STORE/docs.lock: a symbolic link: refused"
victim_is_intact "docs.lock"
rm "$STORE/docs.lock"

start_flow "$FLOWS/search.yml"
check_contains "without the links the flow starts" "$(cat "$T/run.log")" "5 documents in"
stop_flow
done_checks
