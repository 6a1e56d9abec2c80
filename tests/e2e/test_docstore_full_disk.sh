#!/usr/bin/env bash
# A flow's docstore on a full disk (an 8 MiB tmpfs the test mounts; it needs root, and
# skips with the reason otherwise): puts fail with "No space left on device" and leave
# nothing behind; with not a byte left (a filler file takes the rest), deletes still work
# (they use the room the docstore keeps in docs.reserve); the space of the deleted
# documents comes back at once, so new documents fit again; a new flow finds exactly the
# documents it should, and check finds no damage. Compaction, which needs room for the
# documents it keeps, fails cleanly. The ids are 2 KB long, so that each delete needs 2 KB:
# more than a file system block can have left over.
. "$(dirname "$0")/lib.sh"
DISK=$T/disk
mkdir -p "$DISK"
if ! mount -t tmpfs -o size=8m,mode=0755 tmpfs "$DISK" 2>"$T/mount.err"; then
    echo "skipped: cannot mount a small file system to fill: $(cat "$T/mount.err")"
    done_checks
    exit 0
fi
# Workers may outlive a host killed by SIGKILL for a moment: a lazy unmount then.
trap 'if [ -n "$FLOW_PID" ]; then kill -KILL "$FLOW_PID" 2>/dev/null || true; fi
      umount -l "$DISK" 2>/dev/null || true; cleanup' EXIT
export FLOWHOST_WORKSPACE=$DISK/ws
STORE=$DISK/ws/indexer/0/index
free_kb() { df -k --output=avail "$DISK" | tail -n 1 | tr -d ' '; }
LONG=$(head -c 2000 /dev/zero | tr '\0' x)
# docs FILE PREFIX N: N documents of 256 KiB of noise (a blob), ids PREFIX0-xxx...
docs() {
    for i in $(seq 0 $(($3 - 1))); do
        printf '{"id": "%s%d-%s", "text": "document %s%d", "blob": "%s"}\n' "$2" "$i" "$LONG" \
            "$2" "$i" "$(head -c 262144 /dev/urandom | base64 -w0)"
    done >"$1"
}
docs "$T/fill.ndjson" d 40 # 10 MiB: more than the disk holds

start_flow "$FLOWS/search.yml"
rc=0
"$FLOWHOST" index "$T/fill.ndjson" --to "$ADDR" --request-size 1 --prefetch 1 -q \
    -o "$T/fill.out" 2>"$T/fill.err" || rc=$?
stored=$(jq -r 'select(.status.code == "SUCCESS") | .docs[].id' "$T/fill.out" | wc -l)
echo "$stored documents stored before the disk was full; $(free_kb) kB free"
check "the disk fills: the post ends with failed requests" "$rc" "1"
check_contains "the failures say why" "$(cat "$T/fill.err")" "No space left on device"
check "documents were stored before" "$(( stored >= 10 && stored < 40 ))" "1"
fallocate -l "$(($(free_kb) * 1024))" "$DISK/filler" 2>/dev/null || true
free_full=$(free_kb)
check "not a block is left" "$free_full" "0"

# Delete ten of them on the full disk.
for i in $(seq 0 9); do echo "{\"id\": \"d$i-$LONG\"}"; done >"$T/del.ndjson"
rc=0
"$FLOWHOST" delete "$T/del.ndjson" --to "$ADDR" -q -o "$T/del.out" 2>"$T/del.err" || rc=$?
check "deletes work on the full disk" "$rc:$(cat "$T/del.err")" "0:"
free_after=$(free_kb)
echo "after deleting 10 documents of 256 KiB: $free_after kB free (was $free_full)"
# 2560 KiB given back; the reserve (1 MiB) may have been spent and refilled meanwhile
check "their space came back" "$(( free_after - free_full >= 1536 ))" "1"
docs "$T/new.ndjson" n 4
rc=0
"$FLOWHOST" index "$T/new.ndjson" --to "$ADDR" --request-size 1 -q -o "$T/new.out" \
    2>"$T/new.err" || rc=$?
check "new documents fit again" "$rc:$(cat "$T/new.err")" "0:"
stop_flow

want=$((stored - 10 + 4))
start_flow "$FLOWS/search.yml"
check_contains "a new flow finds $want documents" "$(cat "$T/run.log")" "$want documents in"
stop_flow
rc=0
"$FLOWHOST" docstore check "$STORE" >"$T/check.out" 2>&1 || rc=$?
check "check: no damage" "$rc" "0"
check_contains "check: the documents" "$(tail -n 1 "$T/check.out")" "$want documents"

# Compaction needs room for the documents it keeps: on this disk it has none, and fails
# leaving the docstore as it was.
before=$(md5sum <"$STORE/docs.log")
rc=0
"$FLOWHOST" docstore compact "$STORE" >"$T/compact.out" 2>"$T/compact.err" || rc=$?
if [ "$rc" = 0 ]; then
    echo "compaction found room ($(cat "$T/compact.out"))"
else
    check "compaction without room: exit 1" "$rc" "1"
    check_contains "compaction without room: why" "$(cat "$T/compact.err")" "No space left on device"
    check "compaction without room: the log is unchanged" "$(md5sum <"$STORE/docs.log")" "$before"
    check "compaction without room: no temporary file left" "$(ls "$STORE" | tr '\n' ' ')" \
        "docs.lock docs.log docs.reserve "
fi
rc=0
"$FLOWHOST" docstore check "$STORE" >"$T/check.out" 2>&1 || rc=$?
check "check after the compaction: no damage, $want documents" \
    "$rc:$(tail -n 1 "$T/check.out" | grep -c "$want documents")" "0:1"
done_checks
