#!/usr/bin/env bash
# Files the host reads as configuration (the flow YAML, an executor YAML named by `uses`,
# a worker's spec) must be regular files of at most 16 MiB: a symlink to /dev/zero, a
# FIFO with no writer, a 17 MiB file each get a one-line error at once, with no memory
# growth and no wait. And a value quoted in an error is cut at 64 bytes, whatever its
# length, and kept on one line.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

# capped CMD...: runs CMD, killing it when its resident memory passes 256 MiB (a read
# of /dev/zero gets there in well under a second) or when it runs 20 s; the highest
# resident size seen (kB) goes to $T/peak_kb. Exits with CMD's status, or 99 when killed
# for memory.
cat >"$T/capped" <<'SH'
#!/usr/bin/env bash
"$@" &
pid=$!
peak=0
start=$SECONDS
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    if [ -n "$rss" ] && [ "$rss" -gt "$peak" ]; then peak=$rss; fi
    if [ "$peak" -gt 262144 ] || [ $((SECONDS - start)) -ge 20 ]; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        echo "$peak" >"${PEAK_FILE:?}"
        echo "capped: killed at ${peak} kB resident after $((SECONDS - start)) s" >&2
        exit 99
    fi
    sleep 0.02
done
rc=0
wait "$pid" || rc=$?
echo "$peak" >"${PEAK_FILE:?}"
exit $rc
SH
chmod +x "$T/capped"
export PEAK_FILE=$T/peak_kb

flow() { # flow FILE BODY: a flow file with the usual header
    printf "jtype: Flow\nversion: '1'\n%s\n" "$2" >"$1"
}

ln -s /dev/zero zero.yml
mkfifo fifo.yml
truncate -s 17M big.yml # sparse: 17 MiB of NUL bytes, nothing on disk
ln -s "$FH_SOURCE_DIR/flows/animals.yml" link.yml
flow uses_zero.yml "executors:
  - name: a
    uses: ./zero.yml"
flow uses_fifo.yml "executors:
  - name: a
    uses: ./fifo.yml"
flow uses_big.yml "executors:
  - name: a
    uses: ./big.yml"

for cmd in validate run post; do
    case $cmd in
        run) pre=("$FLOWHOST" run) ;;
        post) pre=("$FLOWHOST" post /x --flow) ;;
        validate) pre=("$FLOWHOST" validate) ;;
    esac
    expect_fail "$cmd, flow YAML a symlink to /dev/zero" 2 "flowhost: zero.yml: not a regular file" \
        -- "$T/capped" "${pre[@]}" zero.yml
    check "$cmd, /dev/zero: less than 64 MiB resident ($(cat "$PEAK_FILE") kB)" \
          "$(( $(cat "$PEAK_FILE") < 65536 ))" "1"
    expect_fail "$cmd, flow YAML a FIFO with no writer" 2 "flowhost: fifo.yml: not a regular file" \
        -- "$T/capped" "${pre[@]}" fifo.yml
    expect_fail "$cmd, flow YAML of 17 MiB" 2 "flowhost: big.yml: larger than 16 MiB" \
        -- "$T/capped" "${pre[@]}" big.yml
    check "$cmd, 17 MiB: less than 64 MiB resident ($(cat "$PEAK_FILE") kB)" \
          "$(( $(cat "$PEAK_FILE") < 65536 ))" "1"
    expect_fail "$cmd, executor YAML a symlink to /dev/zero" 2 \
        "flowhost: uses_zero.yml:5:11: executor YAML './zero.yml': not a regular file" \
        -- "$T/capped" "${pre[@]}" uses_zero.yml
    expect_fail "$cmd, executor YAML a FIFO" 2 \
        "flowhost: uses_fifo.yml:5:11: executor YAML './fifo.yml': not a regular file" \
        -- "$T/capped" "${pre[@]}" uses_fifo.yml
    expect_fail "$cmd, executor YAML of 17 MiB" 2 \
        "flowhost: uses_big.yml:5:11: executor YAML './big.yml': larger than 16 MiB" \
        -- "$T/capped" "${pre[@]}" uses_big.yml
done

# A symlink to a regular file is fine, and so is a file of exactly 16 MiB.
rc=0
out=$("$FLOWHOST" validate link.yml 2>"$T/stderr") || rc=$?
check "validate, a symlink to a regular flow file: exit 0 ($(cat "$T/stderr"))" "$rc" "0"
flow max.yml "executors: []"
size=$(stat -c %s max.yml)
# Pad with a comment line to exactly 16 MiB.
{ printf '#'; head -c $((16 * 1024 * 1024 - size - 2)) /dev/zero | tr '\0' 'x'; printf '\n'; } >>max.yml
check "the padded flow is 16 MiB" "$(stat -c %s max.yml)" "$((16 * 1024 * 1024))"
rc=0
out=$("$T/capped" "$FLOWHOST" validate max.yml 2>"$T/stderr") || rc=$?
check "validate, a flow of exactly 16 MiB: exit 0 ($(cat "$T/stderr"))" "$rc" "0"
check_contains "validate, a flow of exactly 16 MiB: valid" "$out" "valid flow, 0 executors"

# A worker's spec file: refused the same way, not read without bound, no wait.
for f in zero.yml fifo.yml big.yml; do
    rc=0
    timeout 30 "$T/capped" "$FLOWHOST" worker --spec "$f" >"$T/stdout" 2>"$T/stderr" || rc=$?
    check "worker --spec $f: exit 1" "$rc" "1"
    check_contains "worker --spec $f: says why" "$(cat "$T/stderr")" "flowhost worker: $f: "
done

# --- long values in messages: cut at 64 bytes, one line ---------------------------------
digits=$(head -c 100000 /dev/zero | tr '\0' '9')
flow long_int.yml "with:
  port: $digits
executors: []"
# (An explicit key: libyaml refuses implicit keys over 1024 characters itself.)
flow long_key.yml "executors:
  - name: a
    ? $(head -c 100000 /dev/zero | tr '\0' k)
    : 1"
flow long_uses.yml "executors:
  - uses: \"line one\\nline two $(printf 'x%.0s' $(seq 1 200))\""
first64=$(printf '9%.0s' $(seq 1 64))
expect_fail "validate, a 100,000-digit integer" 2 \
    "long_int.yml:4:9: integer '$first64...' does not fit 64 bits" -- "$FLOWHOST" validate long_int.yml
len=$(wc -c <"$T/stderr")
check "validate, a 100,000-digit integer: message under 200 bytes ($len)" "$(( len < 200 ))" "1"
expect_fail "validate, a 100,000-character key" 2 \
    "long_key.yml:5:7: unknown key '$(printf 'k%.0s' $(seq 1 64))...' in executors[0]" \
    -- "$FLOWHOST" validate long_key.yml
len=$(wc -c <"$T/stderr")
check "validate, a 100,000-character key: message under 512 bytes ($len; the list of valid keys is capped at 400)" "$(( len < 512 ))" "1"
expect_fail "validate, a value with a newline: one line, cut" 2 \
    "not 'line one\\nline two $(printf 'x%.0s' $(seq 1 45))...'" \
    -- "$FLOWHOST" validate long_uses.yml

done_checks
