#!/usr/bin/env bash
# Processes that a scanned library's constructor starts end with its scan: once the
# scanner has exited (a whole report, a normal exit or a crash), its process group is
# killed. A child that keeps the report pipe open does not make the worker wait for the
# scan's deadline when the scanner itself is gone.
. "$(dirname "$0")/lib.sh"
command -v cc >/dev/null || fail "no C compiler (scripts/setup installs one)"

P=$T/plugins
mkdir -p "$P"
export FH_TEST_PIDS=$T/pids
: >"$FH_TEST_PIDS"

# Foo, in bar.so: what the lookup is for.
cat >"$T/bar.c" <<'C'
#include <flowhost/executor.h>
static int foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)ctx;
    (void)docs;
    (void)params;
    return 0;
}
FH_EXECUTOR(Foo, NULL, NULL, FH_REQUESTS(foo));
FH_PLUGIN(Foo);
C
cc -shared -fPIC -fvisibility=hidden -I"$FH_SOURCE_DIR/sdk/include" -o "$P/bar.so" "$T/bar.c" \
   -L"$FH_BUILD_DIR/sdk" -lflowhost -Wl,-rpath,"$FH_BUILD_DIR/sdk" || fail "cannot build bar.so"

# A library (not a plugin) whose constructor starts a child that keeps every descriptor
# (the report pipe too), writes its pid and sleeps; then the constructor returns or
# (ABORT) aborts.
cat >"$T/spawner.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void spawn(void)
{
    if (fork() == 0) {
        FILE *f = fopen(getenv("FH_TEST_PIDS"), "a");
        if (f) { fprintf(f, "%d\n", (int)getpid()); fclose(f); }
        sleep(30);
        _exit(0);
    }
    usleep(100 * 1000); /* the child has written its pid */
#ifdef ABORT
    abort();
#endif
}
C
cc -shared -fPIC -o "$P/a_spawner.so" "$T/spawner.c" || fail "cannot build a_spawner.so"

cat >"$T/flow.yml" <<YAML
jtype: Flow
version: '1'
with:
  plugin_path: $P
executors:
  - name: foo
    uses: Foo
YAML
run() {
    local rc=0
    echo '{"text":"x"}' | timeout 60 "$FLOWHOST" post /index - --flow "$T/flow.yml" -q \
        2>"$T/err" >"$T/out" || rc=$?
    cat "$T/err" >>"$T/all-err"
    return $rc
}
# The pids of FH_TEST_PIDS still running (a zombie is not running), or "none".
running() {
    local pid left=""
    for _ in $(seq 1 40); do # a killed child may take a moment to be reaped
        left=""
        while read -r pid; do
            if kill -0 "$pid" 2>/dev/null &&
               [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ]; then
                left="$left $pid"
            fi
        done <"$FH_TEST_PIDS"
        [ -z "$left" ] && break
        sleep 0.05
    done
    echo "${left:-none}"
}
end_strays() {
    local pid
    while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$FH_TEST_PIDS"
}
trap 'end_strays; cleanup' EXIT

# While the flow serves (when it stops, it ends every process below it anyway).
export FLOWHOST_SCAN_TIMEOUT_MS=20000
start_flow "$T/flow.yml"
check "a library whose constructor starts a process: Foo is found" \
      "$(echo '{}' | "$FLOWHOST" post /index - --to "$ADDR" -q | jq -r .status.code)" "SUCCESS"
check "... its child started" "$(wc -l <"$FH_TEST_PIDS" | tr -d ' ')" "1"
check "... and was ended with the scan (after a whole report and a normal exit)" "$(running)" "none"
stop_flow

# The same library aborting after it started its child: the child keeps the report pipe
# open, and the scan ends when the scanner dies, not at the 20 s deadline.
rm "$P/a_spawner.so"
cc -shared -fPIC -DABORT -o "$P/a_spawner.so" "$T/spawner.c" || fail "cannot build a_spawner.so"
: >"$FH_TEST_PIDS"
start=$(date +%s)
rc=0
run || rc=$?
took=$(($(date +%s) - start))
check "a library that starts a process and aborts: Foo is found" "$rc:$(jq -r .status.code "$T/out")" "0:SUCCESS"
check "... its child started" "$(wc -l <"$FH_TEST_PIDS" | tr -d ' ')" "1"
check "... the lookup did not wait for the scan's deadline (took ${took} s)" \
      "$([ "$took" -lt 10 ] && echo yes || echo no)" "yes"
check "... and the child was ended with the scan" "$(running)" "none"

# Not found: the aborted scan is named as a crash, not as a deadline.
sed -i 's/uses: Foo/uses: Nope/' "$T/flow.yml"
: >"$FH_TEST_PIDS"
rc=0
run || rc=$?
check "uses: Nope fails" "$rc" "2"
check_contains "... naming the scan that died" "$(cat "$T/err")" "a_spawner.so: its scan died of signal 6"
check "... and its child was ended" "$(running)" "none"
check "no sanitizer report from the host, its workers or the scanners" \
      "$(grep -c -E 'Sanitizer|runtime error:' "$T/all-err" || true)" "0"
done_checks
