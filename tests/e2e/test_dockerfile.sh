#!/usr/bin/env bash
# The Dockerfile, read against the build (no container engine runs here): every shared
# library that the built binary, libflowhost and the installed plugins link is installed
# by the runtime stage's apt-get line (or is libc, in every Debian image); every package
# the build stage installs is one scripts/setup installs (or libc6-dev); the image puts
# the plugins where `flowhost export` says they are; it runs as a non-root user.
. "$(dirname "$0")/lib.sh"

DF=$FH_SOURCE_DIR/Dockerfile
[ -f "$DF" ] || fail "no Dockerfile"
[ -f "$FH_SOURCE_DIR/.dockerignore" ] || fail "no .dockerignore"
check "two stages from debian:12-slim" "$(grep -c '^FROM debian:12-slim' "$DF")" "2"

# the packages of the apt-get install of stage N (1: build, 2: runtime)
stage_packages() {
    awk -v want="$1" '/^FROM /{n++} n==want' "$DF" | tr -d '\\' | tr '\n' ' ' |
        grep -o 'apt-get install [^&]*' | tr ' ' '\n' | grep -v -e '^-' -e '^apt-get$' \
        -e '^install$' -e '^$' | sort -u
}
runtime=$(stage_packages 2)
build=$(stage_packages 1)
[ -n "$runtime" ] || fail "no apt-get install in the runtime stage"

libflowhost=$(ls "$FH_BUILD_DIR"/sdk/libflowhost.so.* | head -1)
bins=("$FLOWHOST" "$libflowhost")
for p in "$FH_PLUGIN_DIR"/*.so; do bins+=("$p"); done
needed=$(for b in "${bins[@]}"; do readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done |
         grep -v -e '^libflowhost' -e '^libasan' -e '^libubsan' | sort -u)
# (a sanitizer build links its runtimes too; the image's build is not one)
[ -n "$needed" ] || fail "readelf found no libraries"
for lib in $needed; do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x86_64|64bit/  && !f {print $NF; f = 1}')
    [ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1 == l  && !f {print $NF; f = 1}')
    [ -n "$path" ] || fail "$lib: not found by ldconfig"
    # Debian 12 merges /lib into /usr/lib: dpkg knows a file by one of its two names
    pkg=$({ dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null ||
            true; } | head -1 | cut -d: -f1)
    [ -n "$pkg" ] || fail "$lib ($path): no package owns it"
    case "$pkg" in
        libc6|libgcc-s1) check "$lib is libc's ($pkg, in every Debian image)" ok ok ;;
        *) check "$lib ($pkg) is installed by the runtime stage" \
                 "$(echo "$runtime" | grep -cx "$pkg")" "1" ;;
    esac
done
setup=$(sed -n '/^packages=(/,/^)/p' "$FH_SOURCE_DIR/scripts/setup" | sed 's/#.*//' | tr ' ' '\n')
for pkg in $build; do
    [ "$pkg" = libc6-dev ] && continue
    check "build stage's $pkg is one of scripts/setup's" "$(echo "$setup" | grep -cx "$pkg")" "1"
done
plugin_dir=$("$FLOWHOST" export --help | grep -A1 -- '--plugin-dir' | tail -1 | tr -d ' )' | sed 's/.*default//')
check "the image installs under /usr/local with lib/ as its libdir" \
      "$(grep -c -- '-DCMAKE_INSTALL_PREFIX=/usr/local -DCMAKE_INSTALL_LIBDIR=lib' "$DF")" "1"
check "export's default plugin folder is the image's" "$plugin_dir" "/usr/local/lib/flowhost/plugins"
check "the runtime stage runs as a non-root user" "$(awk '/^FROM /{n++} n==2' "$DF" | grep -c '^USER 10001')" "1"
check "the user id is the one export's manifests copy keys to" \
      "$(grep -c 'define FH_EXPORT_UID 10001' "$FH_SOURCE_DIR/host/export_kube.h")" "1"
done_checks
