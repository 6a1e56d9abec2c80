#!/usr/bin/env bash
# Finding `uses: Foo` on the plugin path runs no other library's code in a worker or the
# host: a scanner process per file says which types it holds, and only bar.so, which
# holds Foo, is opened by the worker. Libraries whose constructors write a marker, abort
# or hang cost their own scan only; the answers are cached (keyed by the file's path,
# inode, size, mtime and ctime) so that a second start scans nothing and a changed file is
# scanned again, but a scan that failed (a crash, a deadline) is made again at the next
# start; without a cache every start scans.
. "$(dirname "$0")/lib.sh"
command -v cc >/dev/null || fail "no C compiler (scripts/setup installs one)"

P=$T/plugins
mkdir -p "$P"
export FH_TEST_MARKER=$T/marker
: >"$FH_TEST_MARKER"

# A library, not a plugin, whose constructor appends "WHAT PID COMMAND-LINE" to the
# marker file, then (ABORT) aborts or (HANG) waits forever.
cat >"$T/ctor.c" <<'C'
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void mark(void)
{
    const char *m = getenv("FH_TEST_MARKER");
    char cmd[512] = "";
    int fd = open("/proc/self/cmdline", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, cmd, sizeof cmd - 1) : 0;
    for (ssize_t i = 0; i < n; i++)
        if (cmd[i] == '\0') cmd[i] = ' ';
    if (fd >= 0) close(fd);
    FILE *f = m ? fopen(m, "a") : NULL;
    if (f) { fprintf(f, "%s %d %s\n", WHAT, (int)getpid(), cmd); fclose(f); }
#ifdef ABORT
    abort();
#endif
#ifdef HANG
    for (;;) pause();
#endif
}
C
ctor() { # NAME WHAT [CFLAGS...]
    local name=$1 what=$2
    shift 2
    cc -shared -fPIC -o "$P/$name" -DWHAT="\"$what\"" "$@" "$T/ctor.c" || fail "cannot build $name"
}

# Foo, in a file named otherwise: found only by looking inside.
cat >"$T/bar.c" <<'C'
#include <flowhost/executor.h>
static int foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    for (size_t i = 0; i < fh_docs_len(docs); i++)
        if (fh_map_set_string(fh_doc_tags(fh_docs_at(docs, i)), "by", "Foo") != 0)
            return fh_ctx_fail(ctx, "out of memory");
    return 0;
}
FH_EXECUTOR(Foo, NULL, NULL, FH_REQUESTS(foo));
FH_PLUGIN(Foo);
C
cc -shared -fPIC -fvisibility=hidden -I"$FH_SOURCE_DIR/sdk/include" -o "$P/bar.so" "$T/bar.c" \
   -L"$FH_BUILD_DIR/sdk" -lflowhost -Wl,-rpath,"$FH_BUILD_DIR/sdk" || fail "cannot build bar.so"
ctor a_marker.so marker

flow() { # TYPE: a flow of one executor, uses: TYPE, with the test's plugin folder first
    cat >"$T/flow.yml" <<YAML
jtype: Flow
version: '1'
with:
  plugin_path: $P
executors:
  - name: foo
    uses: $1
YAML
}
flow Foo
export XDG_CACHE_HOME=$T/cache # (lib.sh sets it too)
run() {
    local rc=0
    echo '{"text":"x"}' | "$FLOWHOST" post /index - --flow "$T/flow.yml" -q 2>"$T/err" || rc=$?
    cat "$T/err" >>"$T/all-err"
    return $rc
}
by() { jq -r '.status.code + " " + (.docs[0].tags.by // "-")' <<<"$1"; }
marks() { wc -l <"$FH_TEST_MARKER" | tr -d ' '; }
# Every line of the marker is written by a scanner, never by a worker or the host.
only_scanners() {
    local bad
    bad=$(grep -v -E '^[a-z0-9]+ [0-9]+ [^ ]*flowhost plugin-scan ' "$FH_TEST_MARKER" || true)
    echo "${bad:-none}"
}

check "uses: Foo finds Foo in bar.so" "$(by "$(run)")" "SUCCESS Foo"
check "the unrelated library's constructor ran once" "$(marks)" "1"
check "... and in a scanner process only" "$(only_scanners)" "none"

check "a second start finds Foo again" "$(by "$(run)")" "SUCCESS Foo"
check "... and scans nothing: the cache knew every file" "$(marks)" "1"

# A changed file is scanned again (new inode, size and mtime).
rm "$P/a_marker.so"
ctor a_marker.so marker2 -O2
check "after a library changed, Foo is still found" "$(by "$(run)")" "SUCCESS Foo"
check "... the changed library was scanned again, once" "$(marks)" "2"
check "... in a scanner" "$(only_scanners)" "none"

# Libraries that abort or hang when opened cost their own scan only.
ctor a_abort.so abort -DABORT
ctor a_hang.so hang -DHANG
export FLOWHOST_SCAN_TIMEOUT_MS=1500
check "an aborting and a hanging library do not stop the lookup" "$(by "$(run)")" "SUCCESS Foo"
check "... each was scanned once" "$(grep -c -E '^(abort|hang) ' "$FH_TEST_MARKER")" "2"
check "... in a scanner" "$(only_scanners)" "none"
check "... and nothing of them is left running" \
      "$(pgrep -f "plugin-scan $P" >/dev/null && echo yes || echo no)" "no"
# A failed scan is no answer about the file: it is not cached, and the next start scans
# those libraries again (a library can be slow once, on a cold disk).
check "a second start finds Foo again" "$(by "$(run)")" "SUCCESS Foo"
check "... scanning the aborting and the hanging library again" \
      "$(grep -c -E '^(abort|hang) ' "$FH_TEST_MARKER")" "4"

# Not found: the error says so, and names the files whose scan failed.
flow Nope
rc=0
run >/dev/null || rc=$?
check "uses: Nope fails" "$rc" "2"
err=$(cat "$T/err")
check_contains "... saying the type was not found" "$err" "executor type 'Nope' not found on the plugin path"
check_contains "... naming the library whose scan died" "$err" "a_abort.so: its scan died of signal 6"
check_contains "... and the one that hung" "$err" "a_hang.so: no answer within 1500 ms"
check "... the error is one line" "$(wc -l <"$T/err" | tr -d ' ')" "1"
flow Foo

# A plugin that opens slower than the deadline is not found while the deadline is short,
# and found as soon as it is raised, as the error advises: a timeout is never cached.
cat >"$T/heavy.c" <<'C'
#include <time.h>
#include <flowhost/executor.h>
__attribute__((constructor)) static void load_weights(void)
{
    struct timespec t = {1, 500 * 1000 * 1000};
    nanosleep(&t, NULL);
}
static int heavy(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    for (size_t i = 0; i < fh_docs_len(docs); i++)
        if (fh_map_set_string(fh_doc_tags(fh_docs_at(docs, i)), "by", "Heavy") != 0)
            return fh_ctx_fail(ctx, "out of memory");
    return 0;
}
FH_EXECUTOR(Heavy, NULL, NULL, FH_REQUESTS(heavy));
FH_PLUGIN(Heavy);
C
plugin() { # NAME SOURCE [CFLAGS...]: a plugin built against the SDK, into $P
    local name=$1 source=$2
    shift 2
    cc -shared -fPIC -fvisibility=hidden -I"$FH_SOURCE_DIR/sdk/include" -o "$P/$name" "$source" \
       -L"$FH_BUILD_DIR/sdk" -lflowhost -Wl,-rpath,"$FH_BUILD_DIR/sdk" "$@" || fail "cannot build $name"
}
plugin ml_model.so "$T/heavy.c"
rm "$P/a_hang.so" "$P/a_abort.so"
flow Heavy
export FLOWHOST_SCAN_TIMEOUT_MS=300
rc=0
run >/dev/null || rc=$?
check "a plugin slower to open than the deadline: not found" "$rc:$(grep -c "ml_model.so: no answer within 300 ms" "$T/err")" "2:1"
export FLOWHOST_SCAN_TIMEOUT_MS=8000
check "... found once FLOWHOST_SCAN_TIMEOUT_MS is raised" "$(by "$(run)")" "SUCCESS Heavy"
export FLOWHOST_SCAN_TIMEOUT_MS=300
check "... and then from the cache, even with the short deadline" "$(by "$(run)")" "SUCCESS Heavy"
rm "$P/ml_model.so"
unset FLOWHOST_SCAN_TIMEOUT_MS

# A plugin that cannot be opened for a reason of the environment (here a dependency found
# only through the executor's env: LD_LIBRARY_PATH) is named with its loader's error, and
# found once the environment has it: a failed dlopen is never cached.
mkdir -p "$T/deps"
echo 'int fh_test_dep(void) { return 7; }' >"$T/dep.c"
cc -shared -fPIC -o "$T/deps/libfhtestdep.so" "$T/dep.c" || fail "cannot build libfhtestdep.so"
sed -e 's/Heavy/NeedsDep/g' -e 's/load_weights/unused/' -e 's/__attribute__((constructor))//' \
    "$T/heavy.c" >"$T/needs_dep.c"
echo 'int fh_test_dep(void); int (*fh_test_use)(void) = fh_test_dep;' >>"$T/needs_dep.c"
plugin with_dep.so "$T/needs_dep.c" -L"$T/deps" -lfhtestdep
flow NeedsDep
rc=0
run >/dev/null || rc=$?
check "a plugin whose dependency is not found: not found" "$rc" "2"
check_contains "... naming it and why it cannot be loaded" "$(cat "$T/err")" \
    "with_dep.so: cannot load: libfhtestdep.so: cannot open shared object file"
cat >>"$T/flow.yml" <<YAML
    env:
      LD_LIBRARY_PATH: $T/deps
YAML
check "... found once the executor's env has the dependency's folder" "$(by "$(run)")" \
      "SUCCESS NeedsDep"
rm "$P/with_dep.so"

# A plugin of another ABI under another file name is named in the "not found" error with
# its ABI, before the libraries that are no plugin at all (the error is bounded: those are
# counted); both answers are cached.
cp "$FH_PLUGIN_DIR/oldabi.so" "$P/legacy.so"
flow Nope
rc=0
run >/dev/null || rc=$?
err=$(cat "$T/err")
check "uses: Nope, with a plugin of ABI 1 on the path: fails" "$rc" "2"
check_contains "... naming the plugin of another ABI" "$err" \
    "legacy.so: plugin built for flowhost ABI 1.0, this flowhost runs ABI 2.2"
check "... before the library that is not a plugin, counted for want of room" \
    "$(grep -c -E 'legacy.so: plugin built .*; and [0-9]+ more$' "$T/err")" "1"
check "... the error is one line" "$(wc -l <"$T/err" | tr -d ' ')" "1"
check "... and the library that is not a plugin was not scanned again" "$(marks)" "8"
rm "$P/legacy.so"
flow Foo

# No cache (its folder cannot be made): every start scans, and still finds Foo.
export XDG_CACHE_HOME=$T/not-a-dir/cache
echo file >"$T/not-a-dir"
check "without a cache Foo is found" "$(by "$(run)")" "SUCCESS Foo"
check "without a cache Foo is found again" "$(by "$(run)")" "SUCCESS Foo"
check "... each start scanning (in a scanner)" "$(marks):$(only_scanners)" "10:none"

# When the search fails after scanning (the cache changed) and the cache cannot be
# written, the error is the search's, not the cache's.
mkdir -p "$T/p2"
cc -shared -fPIC -o "$T/p2/Other.so" "$T/dep.c" || fail "cannot build Other.so"
flow Other
sed -i "s|plugin_path: $P|plugin_path: [$P, $T/p2]|" "$T/flow.yml"
rc=0
run >/dev/null || rc=$?
check "a type whose file is no plugin, with no cache: fails" "$rc" "2"
check_contains "... with the reason of the search" "$(cat "$T/err")" \
    "$T/p2/Other.so: not a flowhost plugin (no 'fh_plugin_v1' symbol"
check "... not the cache's" "$(grep -c 'cannot make' "$T/err" || true)" "0"
flow Foo

# A garbled cache, or one whose entry no longer matches the file (here: one that claims
# the marker library holds Foo), is not believed: the file is scanned again.
export XDG_CACHE_HOME=$T/cache
cache=$(ls "$XDG_CACHE_HOME"/flowhost/plugin-scan-*)
printf 'garbage\n1 2 3 4 5 P\t%s\tFoo\n\t\n' "$P/a_marker.so" >"$cache"
check "with a garbled cache Foo is found" "$(by "$(run)")" "SUCCESS Foo"
check "... the marker library scanned again, in a scanner" "$(marks):$(only_scanners)" "12:none"
check "... and the cache rewritten whole" "$(grep -c -v '^garbage' "$cache")" "2"

# The plugin folder itself is never written.
check "nothing was written in the plugin folder" "$(ls "$P" | tr '\n' ' ')" "a_marker.so bar.so "
check "no sanitizer report from the host, its workers or the scanners" \
      "$(grep -c -E 'Sanitizer|runtime error:' "$T/all-err" || true)" "0"
done_checks
