#!/usr/bin/env bash
# The docstore survives its writer being killed with SIGKILL in the middle of writing:
# every document whose put returned is still there, in order; at most the one being
# written when the kill came is extra; the store opens again and takes new writes.
# Three kills at different moments, on the same store, so each run also starts from a
# log whose unfinished tail the previous check cut away.
source "$(dirname "$0")/lib.sh"

WRITER=$TOOLS/fh_docstore_writer
[ -x "$WRITER" ] || fail "$WRITER not built"
STORE=$T/store
WRITER_PID=""
trap 'if [ -n "$WRITER_PID" ]; then kill -KILL "$WRITER_PID" 2>/dev/null || true; fi; cleanup' EXIT

printed_total=0
for round in 1 2 3; do
    # each round waits for a different number of ids, then a different extra delay
    want=$((200 * round))
    extra=$(echo "0 0.03 0.11" | cut -d' ' -f"$round")
    "$WRITER" write "$STORE" >"$T/printed.$round" 2>"$T/writer.$round.err" &
    WRITER_PID=$!
    for _ in $(seq 1 600); do
        [ "$(wc -l <"$T/printed.$round")" -ge "$want" ] && break
        kill -0 "$WRITER_PID" 2>/dev/null || fail "writer died: $(cat "$T/writer.$round.err")"
        sleep 0.02
    done
    sleep "$extra"
    kill -KILL "$WRITER_PID"
    wait "$WRITER_PID" 2>/dev/null || true
    WRITER_PID=""

    # only whole lines count: the kill may have cut the last one
    n_printed=$(wc -l <"$T/printed.$round")
    [ "$n_printed" -ge "$want" ] || fail "round $round: only $n_printed ids printed"
    head -n "$n_printed" "$T/printed.$round" >>"$T/printed.all"
    printed_total=$(wc -l <"$T/printed.all")

    size_killed=$(stat -c %s "$STORE/docs.log")
    "$WRITER" check "$STORE" >"$T/check.$round" 2>"$T/check.$round.err" \
        || fail "round $round: check failed: $(cat "$T/check.$round.err")"
    size_checked=$(stat -c %s "$STORE/docs.log")
    len=$(head -n 1 "$T/check.$round" | sed 's/^len //')
    tail -n +2 "$T/check.$round" >"$T/stored.$round"
    check "round $round: len matches the ids listed" "$(wc -l <"$T/stored.$round")" "$len"
    check "round $round: every printed id is stored, in order, as a prefix" \
          "$(head -n "$printed_total" "$T/stored.$round" | cmp - "$T/printed.all" \
             && echo same)" "same"
    extra_docs=$((len - printed_total))
    if [ "$extra_docs" -ne 0 ] && [ "$extra_docs" -ne 1 ]; then
        fail "round $round: $len stored for $printed_total printed"
    fi
    echo "ok - round $round: $printed_total printed, $len stored" \
         "(log $size_killed bytes at the kill, $size_checked after the check)"
    # the one extra (written, killed before its id was printed) is the next id in line
    if [ "$extra_docs" -eq 1 ]; then
        check "round $round: the extra document is the next id" \
              "$(tail -n 1 "$T/stored.$round")" "doc-$printed_total"
        echo "doc-$printed_total" >>"$T/printed.all"
        printed_total=$((printed_total + 1))
    fi
done

# A second open after all that works, and a new put survives a reopen.
"$WRITER" put "$STORE" after-crash 2>"$T/put.err" || fail "put after crash: $(cat "$T/put.err")"
"$WRITER" check "$STORE" >"$T/check.final" 2>"$T/check.final.err" \
    || fail "final check: $(cat "$T/check.final.err")"
check "the final store holds everything plus the new document" \
      "$(head -n 1 "$T/check.final")" "len $((printed_total + 1))"
check "the new document is last" "$(tail -n 1 "$T/check.final")" "after-crash"
check "no sanitizer report from the writer" \
      "$(cat "$T"/writer.*.err "$T"/check.*.err \
         | grep -c -E 'Sanitizer|runtime error:' || true)" "0"
done_checks
