#!/usr/bin/env bash
# NDJSON input has a longest line (--max-line, 256 MiB by default): a longer line is an
# error naming the file and the line, with exit status 2, after the documents before it
# were sent; input with no newline at all (/dev/zero) ends in that error with the client's
# memory bounded, and a line that memory cannot hold is an error too, never taken for the
# end of the input (which sent what came before and exited 0).
. "$(dirname "$0")/lib.sh"

# (Not `ldd | grep -q`: with pipefail, grep quitting early can fail the pipeline.)
asan=0
case "$(ldd "$FLOWHOST")" in *libasan*) asan=1 ;; esac

start_flow "$FLOWS/pass.yml"

# A line over --max-line in the middle of a file.
{
    echo '{"id": "one"}'
    echo '{"id": "two"}'
    printf '{"id": "long", "text": "%s"}\n' "$(head -c 2000 /dev/zero | tr '\0' x)"
    echo '{"id": "four"}'
} >"$T/long.ndjson"
rc=0
"$FLOWHOST" post / "$T/long.ndjson" --to "$ADDR" --max-line 1000 --request-size 1 -q \
    >"$T/out" 2>"$T/err" || rc=$?
check "a long line: exit status 2" "$rc" "2"
check "a long line: one line on stderr" "$(wc -l <"$T/err" | tr -d ' ')" "1"
check_contains "a long line: named by file and line" "$(cat "$T/err")" \
    "flowhost: $T/long.ndjson:3: a line longer than 1000 bytes"
# (The documents before it were sent; the post stops at the error without waiting for
# every reply, so only a prefix of them may be printed.)
check "a long line: nothing after it was sent" \
    "$(jq -r '.docs[].id' "$T/out" | grep -v -x -E 'one|two' || true)" ""
rc=0
"$FLOWHOST" post / "$T/long.ndjson" --to "$ADDR" --max-line 2K -q >"$T/out" 2>"$T/err" || rc=$?
check "--max-line 2K takes it" "$rc:$(jq -r '.docs[].id' "$T/out" | tr '\n' ' ')" "0:one two long four "
expect_fail "--max-line 0" 2 "--max-line must be a number of bytes" -- \
    "$FLOWHOST" post / "$T/long.ndjson" --to "$ADDR" --max-line 0

# /dev/zero: one endless line. The client stops at the bound; its peak memory stays near
# it. Memory is bounded around the command as well (ulimit, or ASan's own limit), so that
# a client that grew without bound would fail here, not take the machine.
limit_post() {
    if [ "$asan" = 1 ]; then
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:hard_rss_limit_mb=1024:allocator_may_return_null=1" "$@"
    else
        (ulimit -v 1048576 && "$@")
    fi
}
# zero_post MAX_KB MESSAGE_BYTES [ARGS...]: posts /dev/zero, checks exit 2, the message
# naming the bound, nothing sent, and the client's peak RSS under MAX_KB.
zero_post() {
    local max_kb=$1 bytes=$2
    shift 2
    local rc=0
    limit_post /usr/bin/time -f "%M" -o "$T/rss" "$FLOWHOST" post / /dev/zero --format ndjson \
        --to "$ADDR" -q "$@" >"$T/out" 2>"$T/err" || rc=$?
    echo "/dev/zero $*: peak RSS of the client $(tail -n 1 "$T/rss") kB"
    [ "$rc" = 2 ] || head -n 40 "$T/err" >&2
    check "/dev/zero $*: exit status 2" "$rc" "2"
    check "/dev/zero $*: the message" "$(head -n 1 "$T/err")" \
        "flowhost: /dev/zero:1: a line longer than $bytes bytes (the most an input line may have; --max-line, in C max_line, raises it)"
    check "/dev/zero $*: nothing was sent" "$(cat "$T/out")" ""
    check "/dev/zero $*: peak RSS under $((max_kb / 1024)) MiB" "$(( $(tail -n 1 "$T/rss") < max_kb ))" "1"
}
zero_post $(( asan ? 600 * 1024 : 200 * 1024 )) 67108864 --max-line 64M
if [ "$asan" = 1 ]; then
    echo "skipped: /dev/zero with the default bound (256 MiB) under AddressSanitizer, whose allocator needs several times that"
else
    zero_post $(( 400 * 1024 )) 268435456
fi

# A bound above what memory holds: the allocation fails, and that is an error.
if [ "$asan" = 1 ]; then
    echo "skipped: no memory for a line, under AddressSanitizer (it needs an unlimited address space)"
else
    rc=0
    (ulimit -v 786432 && "$FLOWHOST" post / /dev/zero --format ndjson --to "$ADDR" \
        --max-line 4G -q) >"$T/out" 2>"$T/err" || rc=$?
    check "no memory for a line: exit status 2" "$rc" "2"
    check_contains "no memory for a line: the message" "$(cat "$T/err")" \
        "flowhost: /dev/zero:1: out of memory for a line of more than"
    check "no memory for a line: nothing was sent" "$(cat "$T/out")" ""
fi
stop_flow
done_checks
