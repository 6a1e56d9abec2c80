#!/usr/bin/env bash
# A worker that scans the plugin path after its flowhost binary was replaced on disk (an
# upgrade while a flow runs) still starts its scanners: they run the binary the worker
# runs (/proc/self/exe), not the file at its former path.
. "$(dirname "$0")/lib.sh"
command -v cc >/dev/null || fail "no C compiler (scripts/setup installs one)"

P=$T/plugins
mkdir -p "$P" "$T/bin"
cp "$FLOWHOST" "$T/bin/flowhost"
export FH_TEST_MARKER=$T/marker

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
# Scanned first (name order): marks that the worker is scanning, then hangs until its
# scan's deadline; the binary is replaced meanwhile.
cat >"$T/hang.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void hang(void)
{
    FILE *f = fopen(getenv("FH_TEST_MARKER"), "a");
    if (f) { fputs("scanning\n", f); fclose(f); }
    for (;;) pause();
}
C
cc -shared -fPIC -o "$P/a_hang.so" "$T/hang.c" || fail "cannot build a_hang.so"

cat >"$T/flow.yml" <<YAML
jtype: Flow
version: '1'
with:
  plugin_path: $P
executors:
  - name: foo
    uses: Foo
YAML
export FLOWHOST_SCAN_TIMEOUT_MS=3000
echo '{"text":"x"}' | timeout 60 "$T/bin/flowhost" post /index - --flow "$T/flow.yml" -q \
    >"$T/out" 2>"$T/err" &
post=$!
for _ in $(seq 1 200); do
    [ -s "$FH_TEST_MARKER" ] && break
    sleep 0.05
done
check "the worker is scanning the plugin path" "$(cat "$FH_TEST_MARKER" 2>/dev/null)" "scanning"
# Replaced as an upgrade does: a new file renamed over the old one.
cp "$FLOWHOST" "$T/bin/flowhost.new"
mv "$T/bin/flowhost.new" "$T/bin/flowhost"
rc=0
wait "$post" || rc=$?
check "the binary replaced during the lookup: the post succeeds [$(cat "$T/err")]" "$rc" "0"
check "... Foo found by a scanner of the replaced binary" \
      "$(jq -r '.status.code + " " + (.docs[0].tags.by // "-")' "$T/out")" "SUCCESS Foo"
check "no error, no sanitizer report" "$(cat "$T/err")" ""
done_checks
