#!/usr/bin/env bash
# The flow's private runtime directory ($XDG_RUNTIME_DIR/flowhost-XXXXXX):
# - its removal never follows a symlink planted inside (to a folder, to a file, at
#   every level of a tree) and removes everything, also a tree deeper than PATH_MAX
#   (which the path-based nftw walk could not remove) and folders made unreadable;
# - a directory left by a flow killed with SIGKILL is removed by the next flow started,
#   but nothing else: not a running flow's, not another user's, not a symlink named like
#   one (nor what it points to), not other names.
. "$(dirname "$0")/lib.sh"

RT=$XDG_RUNTIME_DIR
# Files outside the runtime directory that planted links point to: they must survive.
mkdir -p "$T/victim/inner" "$T/victim2"
echo keep >"$T/victim/keep.txt"
echo keep >"$T/victim/inner/keep2.txt"
echo keep >"$T/victim2/keep3.txt"
victim_state() { (cd "$T" && find victim victim2 | sort && cat victim/keep.txt victim/inner/keep2.txt victim2/keep3.txt); }
before=$(victim_state)

cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: echo, uses: Echo}
YML

# runtime_dirs: the flowhost-* entries of $RT, one a line.
runtime_dirs() { (cd "$RT" && ls -d flowhost-* 2>/dev/null || true); }

# --- removal when the flow stops: planted links are removed, never followed ------------
start_flow "$T/flow.yml"
RD=$RT/$(runtime_dirs)
check "one runtime directory while the flow runs" "$(runtime_dirs | wc -l)" "1"
check "its owner file names the flow" "$(cat "$RD/flowhost.pid")" "$FLOW_PID"
ln -s "$T/victim" "$RD/link-dir"
ln -s "$T/victim/keep.txt" "$RD/link-file"
ln -s "$T/victim" "$RD/workspace/echo/0/link-in-workspace"
mkfifo "$RD/workspace/echo/0/fifo"
# A tree deeper than PATH_MAX (20 levels of 250-character names: 5,000 bytes of path),
# with a link to the victim at every level.
name=$(printf 'd%.0s' $(seq 1 250))
(cd "$RD/workspace/echo/0" && for _ in $(seq 1 20); do
    mkdir "$name" && cd "$name" && ln -s "$T/victim" link && echo x >file
done)
# Folders the flow made unreadable and read-only (root reads them anyway; others too).
mkdir -p "$RD/locked/sub"
echo x >"$RD/locked/sub/f"
chmod 000 "$RD/locked/sub"
chmod 500 "$RD/locked"
stop_flow
check "the runtime directory is gone after SIGTERM" "$(runtime_dirs)" ""
check "nothing left in \$XDG_RUNTIME_DIR" "$(ls -A "$RT")" ""
check "files the planted links point to are untouched" "$(victim_state)" "$before"

# --- stale directories: a flow killed with SIGKILL leaves one, the next flow removes it -
start_flow "$T/flow.yml"
killed=$(runtime_dirs)
ln -s "$T/victim" "$RT/$killed/link-dir"
kill -KILL "$FLOW_PID"
wait "$FLOW_PID" 2>/dev/null || true
FLOW_PID=""
sleep 0.2 # its workers die with it (PR_SET_PDEATHSIG)
check "SIGKILL leaves the runtime directory behind" "$(runtime_dirs)" "$killed"

# What the next flow's sweep must leave alone, and one more stale directory to remove.
ln -s "$T/victim2" "$RT/flowhost-link01"          # a symlink named like a runtime dir
mkdir "$RT/flowhost-keep-me" "$RT/flowhost-abc"    # other names
echo x >"$RT/flowhost-keep-me/f"
echo x >"$RT/notes.txt"
mkdir "$RT/flowhost-stale1"                        # ours, an owner file, unlocked: stale
echo 1 >"$RT/flowhost-stale1/flowhost.pid"
ln -s "$T/victim" "$RT/flowhost-stale1/link"
mkdir "$RT/flowhost-nopid1"                        # no owner file: being set up, or made
echo x >"$RT/flowhost-nopid1/f"                    # by an older flowhost that may run
mkdir "$RT/flowhost-ownln1"                        # an owner file that is not a file
ln -s "$T/victim/keep.txt" "$RT/flowhost-ownln1/flowhost.pid"
others=""
if [ "$(id -u)" = 0 ]; then
    mkdir "$RT/flowhost-other1"                    # another user's: not ours to judge
    echo x >"$RT/flowhost-other1/f"
    echo 1 >"$RT/flowhost-other1/flowhost.pid"
    chown -R 65534 "$RT/flowhost-other1"
    others="flowhost-other1"
fi

start_flow "$T/flow.yml"
running=$(comm -13 <(printf '%s\n' "$killed" flowhost-stale1 flowhost-link01 flowhost-keep-me \
    flowhost-abc flowhost-nopid1 flowhost-ownln1 $others | sort) <(runtime_dirs | sort))
check "the next flow removed the killed flow's directory" "$(runtime_dirs | grep -c -x "$killed" || true)" "0"
check "the next flow removed another stale directory" "$(runtime_dirs | grep -c -x flowhost-stale1 || true)" "0"
check "the next flow made its own" "$(printf '%s\n' "$running" | grep -c '^flowhost-[A-Za-z0-9]\{6\}$')" "1"
check "a symlink named like a runtime directory stays" "$(readlink "$RT/flowhost-link01")" "$T/victim2"
check "other names stay" "$(cat "$RT/flowhost-keep-me/f" "$RT/notes.txt" | tr -d '\n')" "xx"
check "other names stay (2)" "$([ -d "$RT/flowhost-abc" ] && echo yes)" "yes"
check "a directory without an owner file stays" "$(cat "$RT/flowhost-nopid1/f")" "x"
check "a directory whose owner file is a symlink stays" \
      "$(readlink "$RT/flowhost-ownln1/flowhost.pid")" "$T/victim/keep.txt"
if [ -n "$others" ]; then
    check "another user's directory stays" "$(cat "$RT/flowhost-other1/f")" "x"
fi
check "files the links in stale directories point to are untouched" "$(victim_state)" "$before"

# A flow started while this one runs does not take its directory (it holds the lock).
rc=0
out=$(timeout 30 "$FLOWHOST" post /x --flow "$T/flow.yml" -q 2>"$T/post.err") || rc=$?
check "post --flow while a flow runs: exit 0 ($(cat "$T/post.err"))" "$rc" "0"
check "the running flow's directory survives another flow's start" \
      "$([ -d "$RT/$running" ] && [ -S "$RT/$running/workers.sock" ] && echo yes)" "yes"
out=$(timeout 30 "$FLOWHOST" post /x --to "$ADDR" -q 2>"$T/post.err") || rc=$?
check "the running flow still serves" "$rc" "0"
check_contains "the running flow still serves: success" "$out" '"status":{"code":"SUCCESS"}'
stop_flow
check "only what is not a runtime directory of ours is left" "$(ls -A "$RT" | sort | tr '\n' ' ')" \
      "$(printf '%s\n' flowhost-abc flowhost-keep-me flowhost-link01 flowhost-nopid1 flowhost-ownln1 \
          notes.txt $others | sort | tr '\n' ' ')"
check "files the planted links point to are still untouched" "$(victim_state)" "$before"

# --- a removal that fails leaves a directory the next flow still recognises -------------
# A file that cannot be removed (immutable, where the file system allows it) stops the
# removal when the flow stops; the owner file goes last, so the next flow, once the file
# can go, still sweeps the directory.
rm -rf "${RT:?}"/* # what the section above planted
start_flow "$T/flow.yml"
stuck=$(runtime_dirs)
touch "$RT/$stuck/workspace/stuck"
if chattr +i "$RT/$stuck/workspace/stuck" 2>/dev/null; then
    # Whatever happens, the test's folder must go at the end.
    trap 'chattr -i "$RT/$stuck/workspace/stuck" 2>/dev/null; cleanup' EXIT
    stop_flow
    check "an immutable file keeps the runtime directory" "$(runtime_dirs)" "$stuck"
    check "which keeps its owner file" "$([ -f "$RT/$stuck/flowhost.pid" ] && echo yes)" "yes"
    chattr -i "$RT/$stuck/workspace/stuck"
    trap cleanup EXIT
    rc=0
    timeout 30 "$FLOWHOST" post /x --flow "$T/flow.yml" -q >/dev/null 2>"$T/post.err" || rc=$?
    check "the next flow runs ($(cat "$T/post.err"))" "$rc" "0"
    check "and removed the directory left behind" "$(runtime_dirs)" ""
else
    echo "skipped: chattr +i is not possible here"
    stop_flow
fi

# --- the same as a user who is not root: permissions count -----------------------------
# Folders a flow made unreadable or read-only are removed too (made ours again first),
# and the sweep leaves root's folders alone.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
    chmod o+x "$T" # nobody may reach the flow file, no more
    NRT=$T/rt-nobody
    mkdir -m 700 "$NRT" "$T/nb"
    chown 65534:65534 "$NRT" "$T/nb"
    # start_nobody: a flow run by nobody; sets NB_PID and NB_DIR.
    start_nobody() {
        rm -f "$T/nb/addr"
        # setpriv itself, not a shell function: $! must be the flow (setpriv execs it).
        XDG_RUNTIME_DIR=$NRT setpriv --reuid=65534 --regid=65534 --clear-groups \
            "$FLOWHOST" run --address-file "$T/nb/addr" "$T/flow.yml" 2>>"$T/nb/run.log" &
        NB_PID=$!
        for _ in $(seq 1 300); do
            [ -s "$T/nb/addr" ] && break
            kill -0 "$NB_PID" 2>/dev/null || fail "a flow run by nobody did not start"
            sleep 0.05
        done
        NB_DIR=$(find "$NRT" -maxdepth 1 -name 'flowhost-??????' -user 65534 -printf '%f\n')
    }
    # plant_locked DIR: as nobody, folders without read or write permission.
    plant_locked() {
        as_nobody sh -c 'mkdir -p "$1/locked/sub" "$1/noread/deeper" && echo x >"$1/locked/sub/f" &&
            echo x >"$1/noread/deeper/f" && ln -s "$2" "$1/locked/link" &&
            chmod 000 "$1/locked/sub" "$1/noread" && chmod 500 "$1/locked"' sh "$1" "$T/victim"
    }
    start_nobody
    plant_locked "$NRT/$NB_DIR"
    kill -TERM "$NB_PID"
    rc=0
    wait "$NB_PID" || rc=$?
    check "as nobody: the flow stops with status 0" "$rc" "0"
    check "as nobody: unreadable folders are removed with the runtime directory" "$(ls -A "$NRT")" ""

    start_nobody
    killed=$NB_DIR
    plant_locked "$NRT/$killed"
    kill -KILL "$NB_PID"
    wait "$NB_PID" 2>/dev/null || true
    sleep 0.2
    mkdir "$NRT/flowhost-root01" # root's, in nobody's folder: not nobody's to judge
    echo 1 >"$NRT/flowhost-root01/flowhost.pid"
    start_nobody
    check "as nobody: the next flow removed the killed flow's directory, unreadable folders and all" \
          "$(cd "$NRT" && ls -d flowhost-* | grep -c -x "$killed" || true)" "0"
    check "as nobody: root's directory stays" "$([ -d "$NRT/flowhost-root01" ] && echo yes)" "yes"
    kill -TERM "$NB_PID"
    wait "$NB_PID" || true
    check "as nobody: only root's directory is left" "$(ls -A "$NRT")" "flowhost-root01"
    check "as nobody: files the planted links point to are untouched" "$(victim_state)" "$before"
    check "as nobody: no sanitizer report" \
          "$(grep -c -E 'Sanitizer|runtime error:' "$T/nb/run.log" || true)" "0"
fi
done_checks
