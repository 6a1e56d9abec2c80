#!/usr/bin/env bash
# An out-of-tree plugin against the INSTALLED SDK: install the build into $T/prefix,
# build an executor with plain cc + pkg-config, and with CMake find_package(flowhost),
# then post to flows using them with the installed flowhost binary.
. "$(dirname "$0")/lib.sh"

: "${FH_BUILD_DIR:?set by ctest: the build tree}"
export XDG_RUNTIME_DIR=$T/rt
mkdir -p "$XDG_RUNTIME_DIR"
cd "$T" || exit 1
PREFIX=$T/prefix

rc=0
cmake --install "$FH_BUILD_DIR" --prefix "$PREFIX" >"$T/install.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || cat "$T/install.log" >&2
check "cmake --install exits 0" "$rc" "0"
FH=$PREFIX/bin/flowhost
check "the flowhost binary is installed" "$([ -x "$FH" ] && echo yes)" "yes"
for h in flowhost.h executor.h document.h value.h error.h json.h client.h; do
    check "header flowhost/$h is installed" "$([ -f "$PREFIX/include/flowhost/$h" ] && echo yes)" "yes"
done
PCDIR=$(dirname "$(find "$PREFIX" -name flowhost.pc -path '*/pkgconfig/*' | head -n 1)")
case $PCDIR in
    "$PREFIX"/lib/pkgconfig | "$PREFIX"/lib64/pkgconfig | "$PREFIX"/lib/*-linux-gnu/pkgconfig) where=ok ;;
    *) where="not under \$PREFIX/lib*/pkgconfig: [$PCDIR]" ;;
esac
check "flowhost.pc is installed in the libdir's pkgconfig" "$where" "ok"
LIBDIR=$(dirname "$PCDIR")
check "libflowhost.so is installed in the pc file's libdir" \
    "$([ -e "$LIBDIR/libflowhost.so" ] && echo yes)" "yes"
CMAKEDIR=$LIBDIR/cmake/flowhost
check "the CMake package is installed" "$([ -f "$CMAKEDIR/flowhostConfig.cmake" ] && echo yes)" "yes"

# --- the executor -------------------------------------------------------------------
cat >bang.c <<'EOF'
/* Appends "!" to the text of every document; /quiet leaves them alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/executor.h>

static int bang(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        fh_doc *d = fh_docs_at(docs, i);
        const char *t = fh_doc_text(d);
        size_t n = strlen(t);
        char *s = malloc(n + 2);
        if (s == NULL)
            return fh_ctx_fail(ctx, "out of memory");
        memcpy(s, t, n);
        s[n] = '!';
        s[n + 1] = '\0';
        int rc = fh_doc_set_text(d, s);
        free(s);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int quiet(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)ctx, (void)docs, (void)params;
    return 0;
}

FH_EXECUTOR(Bang, NULL, NULL, FH_REQUESTS(bang), FH_REQUESTS(quiet, "/quiet"));
FH_PLUGIN(Bang);
EOF

# A user runs exactly this: pkg-config of the installed SDK.
export PKG_CONFIG_PATH=$PCDIR
PCFLAGS=$(pkg-config --cflags --libs flowhost)
# Its includedir and libdir must be the installed ones (however spelled: a relocatable
# pc file gives ${pcfiledir}/../../include).
PC_OK=yes
pc_inc=$(pkg-config --variable=includedir flowhost)
pc_lib=$(pkg-config --variable=libdir flowhost)
if [ "$(realpath -m "$pc_inc")" != "$(realpath -m "$PREFIX/include")" ] ||
    [ "$(realpath -m "$pc_lib")" != "$(realpath -m "$LIBDIR")" ]; then
    PC_OK="no: pkg-config --cflags --libs flowhost gives [$PCFLAGS], not $PREFIX/include and $LIBDIR"
fi
rc=0
# shellcheck disable=SC2086
cc -std=c11 -Wall -Werror -shared -fPIC -fvisibility=hidden -o "$T/bang.so" "$T/bang.c" \
    $PCFLAGS 2>"$T/cc.log" || rc=$?
if [ "$rc" != 0 ]; then
    # The pc file is checked at the end; build with a relocated prefix so that the rest
    # of the test still runs.
    echo "# cc with the installed pc file failed: $(head -n 3 "$T/cc.log")" >&2
    PC_OK="$PC_OK; cc failed: $(head -n 1 "$T/cc.log")"
    rc=0
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Werror -shared -fPIC -fvisibility=hidden -o "$T/bang.so" "$T/bang.c" \
        $(pkg-config --define-variable=prefix="$PREFIX" --cflags --libs flowhost) \
        2>"$T/cc.log" || rc=$?
fi
[ "$rc" = 0 ] || cat "$T/cc.log" >&2
check "cc builds bang.so against the installed SDK" "$rc" "0"
check "bang.so exports only the descriptor" \
    "$(nm -D --defined-only "$T/bang.so" | awk '$2 ~ /^[TDRB]$/ {print $3}' | sort | tr '\n' ' ')" \
    "fh_plugin_v1 "

cat >flow.yml <<'EOF'
jtype: Flow
version: '1'
executors:
  - name: bang
    uses: ./bang.so
  - name: twice
    uses: {jtype: Bang, metas: {plugin: ./bang.so}}
EOF
printf '{"text":"hello"}\n{"text":"world"}\n{}\n' >in.ndjson

rc=0
(cd / && timeout 30 "$FH" validate "$T/flow.yml") >"$T/validate.out" 2>&1 || rc=$?
check "installed flowhost validates the flow ($(cat "$T/validate.out"))" "$rc" "0"

rc=0
(cd / && timeout 30 "$FH" post /x "$T/in.ndjson" --flow "$T/flow.yml" -q) >out.ndjson 2>post.err || rc=$?
check "installed flowhost post --flow exits 0 ($(cat post.err))" "$rc" "0"
out=$(cat out.ndjson)
check_contains "response is a success" "$out" '"status":{"code":"SUCCESS"}'
check_contains "hello came back with !! (two Bang executors)" "$out" '"text":"hello!!"'
check_contains "world came back with !!" "$out" '"text":"world!!"'
check_contains "a document without text got !!" "$out" '"text":"!!"'
check_contains "the route names both executors" "$out" '"executor":"twice"'

rc=0
(cd / && timeout 30 "$FH" post /quiet "$T/in.ndjson" --flow "$T/flow.yml" -q) >out2.ndjson 2>post.err || rc=$?
check "post /quiet exits 0 ($(cat post.err))" "$rc" "0"
check_contains "/quiet leaves the text alone" "$(cat out2.ndjson)" '"text":"hello"}'

# --- strict builds: C99, C11 and C++17 with -pedantic -Werror -Wall -Wextra -----------
# Every macro form of executor.h (FH_REQUESTS with no, one and several endpoints,
# FH_HANDLER, FH_EXECUTOR without bindings, FH_PLUGIN of several types) and the headers a
# plugin includes, built by each compiler there is, then each plugin runs in a flow.
cat >strict.c <<'EOF'
#include <stdio.h>
#include <string.h>

#include <flowhost/document.h>
#include <flowhost/error.h>
#include <flowhost/executor.h>
#include <flowhost/json.h>
#include <flowhost/value.h>

/* Sets every document's text to "NAME:LANG" of the handler that ran. */
static int mark(fh_ctx *ctx, fh_docs *docs, const char *name)
{
    char text[64];
    snprintf(text, sizeof text, "%s:%s", name, STRICT_LANG);
    for (size_t i = 0; i < fh_docs_len(docs); i++)
        if (fh_doc_set_text(fh_docs_at(docs, i), text) != 0)
            return fh_ctx_fail(ctx, "out of memory");
    return 0;
}

static int any(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    return mark(ctx, docs, "any");
}

static int ab(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    return mark(ctx, docs, "ab");
}

static int spare(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    return mark(ctx, docs, "spare");
}

FH_EXECUTOR(Strict, NULL, NULL, FH_REQUESTS(any), FH_REQUESTS(ab, "/a", "/b"),
            FH_REQUESTS(spare, "/s"), FH_HANDLER(spare));
FH_EXECUTOR(Bare, NULL, NULL);
FH_PLUGIN(Strict, Bare);
EOF
# The C++ plugin is the same file with some C++ in it: what a wrapper of a C++ library is.
{
    echo '#include <string>'
    echo 'static std::string cxx_only() { return std::string("c++"); }'
    echo 'static const std::string cxx_lang = cxx_only();'
    cat strict.c
} >strict.cpp
printf '{"text":"x"}\n' >one.ndjson
COMPILERS=$(for c in gcc clang g++ clang++; do command -v "$c" >/dev/null && echo "$c"; done)
n_strict=0
for cc in $COMPILERS; do
    case $cc in
        *++) stds="c++17"; src=strict.cpp ;;
        *) stds="c99 c11"; src=strict.c ;;
    esac
    for std in $stds; do
        name=strict-$cc-$std
        rc=0
        # shellcheck disable=SC2086
        "$cc" -std="$std" -pedantic -Werror -Wall -Wextra -shared -fPIC -fvisibility=hidden \
            -DSTRICT_LANG="\"$std\"" -o "$T/$name.so" "$T/$src" $PCFLAGS 2>"$T/$name.log" || rc=$?
        check "$cc -std=$std -pedantic -Werror -Wall -Wextra builds a plugin ($(head -c 300 "$T/$name.log"))" \
            "$rc" "0"
        check "$name.so exports only the descriptor" \
            "$(nm -D --defined-only "$T/$name.so" | awk '$2 ~ /^[TDRB]$/ {print $3}' | tr '\n' ' ')" \
            "fh_plugin_v1 "
        cat >"$T/$name.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: bare, uses: {jtype: Bare, metas: {plugin: $T/$name.so}}}
  - {name: strict, uses: {jtype: Strict, metas: {plugin: $T/$name.so}}, uses_requests: {/b: spare}}
YML
        # uses_requests binds /b to spare, which releases /s (its last endpoint) to the default.
        for pair in /a=ab /b=spare /s=any /z=any; do
            rc=0
            out=$(timeout 30 "$FH" post "${pair%%=*}" "$T/one.ndjson" --flow "$T/$name.yml" -q \
                2>"$T/post.err") || rc=$?
            check "$name: post ${pair%%=*} exits 0 ($(cat "$T/post.err"))" "$rc" "0"
            check "$name: ${pair%%=*} runs ${pair#*=}" "$(jq -r '.docs[0].text' <<<"$out")" \
                "${pair#*=}:$std"
        done
        n_strict=$((n_strict + 1))
    done
done
check "a plugin built and run for C99, C11 and C++17 by each compiler" \
    "$([ "$n_strict" -ge 3 ] && echo yes)" "yes"

# --- find_package(flowhost) ------------------------------------------------------------
mkdir -p "$T/proj"
cp bang.c "$T/proj/bang.c"
cat >"$T/proj/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(bang2 C)
find_package(flowhost REQUIRED)
add_library(bang2 MODULE bang.c)
target_link_libraries(bang2 PRIVATE flowhost::flowhost)
set_target_properties(bang2 PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden C_STANDARD 11)
EOF
rc=0
cmake -S "$T/proj" -B "$T/proj/build" -DCMAKE_PREFIX_PATH="$PREFIX" >"$T/proj.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || cat "$T/proj.log" >&2
check "configure with find_package(flowhost REQUIRED)" "$rc" "0"
check_contains "flowhost_DIR is the installed package" \
    "$(grep '^flowhost_DIR' "$T/proj/build/CMakeCache.txt")" "$PREFIX/"
rc=0
cmake --build "$T/proj/build" >>"$T/proj.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || cat "$T/proj.log" >&2
check "build bang2 with flowhost::flowhost" "$rc" "0"
check "bang2.so is built" "$([ -f "$T/proj/build/bang2.so" ] && echo yes)" "yes"
cat >flow2.yml <<EOF
jtype: Flow
version: '1'
executors:
  - name: bang2
    uses: $T/proj/build/bang2.so
EOF
rc=0
timeout 30 "$FH" post /x "$T/in.ndjson" --flow "$T/flow2.yml" -q >out3.ndjson 2>post.err || rc=$?
check "post to the CMake-built plugin exits 0 ($(cat post.err))" "$rc" "0"
check_contains "the CMake-built plugin appended !" "$(cat out3.ndjson)" '"text":"hello!"'

check "nothing left in the runtime directory" "$(ls -A "$XDG_RUNTIME_DIR")" ""
# Last: the installed pkg-config file must point at where it was installed.
check "pkg-config flowhost gives the installed include and lib dirs" "$PC_OK" "yes"
done_checks
