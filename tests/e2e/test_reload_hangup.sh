#!/usr/bin/env bash
# A SIGHUP from the terminal stops the flow; any other SIGHUP reloads it.
# - a flow run in the foreground of a terminal (a pty) whose terminal goes away (its
#   master closed: the kernel hangs it up) drains and exits 0, its workers gone with it;
# - a flow run in the background of an interactive shell in a terminal stops when the
#   terminal goes away too (the shell, hung up, forwards SIGHUP to its jobs as it dies);
# - in a terminal still there, a `kill -HUP` from outside reloads the flow, which serves on.
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 0; }

cp "$FH_PLUGIN_DIR/versioned_v1.so" "$T/plug.so"
cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: ver, uses: $T/plug.so, replicas: 2}
YML

# in_terminal.py MODE FLOWHOST FLOW DIR HUP_FIRST: runs a flow in a new pty (MODE fg: `flowhost run` is the terminal's
# process; bg: an interactive bash runs it as a background job), waits until it is
# ready, sends it `kill -HUP` from outside if asked (HUP_FIRST 1, then waits for the
# reload: "reloaded; "), closes the master, and prints the flow's fate: "exited STATUS"
# (bg: "exited") or "running" (then kills it).
cat >"$T/in_terminal.py" <<'PY'
import os, pty, signal, sys, time
mode, flowhost, flow, tdir, hup_first = sys.argv[1:6]
pidfile, log = tdir + "/pid", tdir + "/run.log"
cmd = [flowhost, "run", "--pid-file", pidfile, flow]
child, master = pty.fork()
if child == 0:
    if mode == "fg":
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 2)
        os.execv(flowhost, cmd)
    os.execv("/bin/bash", ["bash", "--norc", "--noprofile", "-i"])
if mode == "bg":
    os.write(master, ("%s 2>%s &\n" % (" ".join(cmd), log)).encode())
def drain():  # keeps the terminal's output from filling up
    try:
        while True:
            import select
            r, _, _ = select.select([master], [], [], 0)
            if not r or not os.read(master, 4096):
                return
    except OSError:
        return
deadline = time.time() + 20
while not (os.path.exists(pidfile) and os.path.getsize(pidfile) > 0):
    drain()
    if time.time() > deadline:
        print("not ready"); sys.exit(0)
    time.sleep(0.05)
flow_pid = int(open(pidfile).read())
if hup_first == "1":
    os.kill(flow_pid, signal.SIGHUP)
    while "reload done" not in open(log).read():
        drain()
        if time.time() > deadline:
            print("no reload"); sys.exit(0)
        time.sleep(0.05)
    print("reloaded", end="; ")
drain()
os.close(master)
def state(pid):
    try:
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
deadline = time.time() + 15
fate = "running"
while time.time() < deadline:
    if mode == "fg":
        pid, status = os.waitpid(flow_pid, os.WNOHANG)
        if pid:
            fate = "exited %d" % (os.waitstatus_to_exitcode(status),); break
    elif state(flow_pid) in ("gone", "Z"):
        fate = "exited"; break
    time.sleep(0.05)
if fate == "running":
    os.kill(flow_pid, signal.SIGKILL)
if mode == "bg":
    try: os.waitpid(child, 0)
    except OSError: pass
print(fate)
PY

# workers_left: the worker processes of the flow's plugin still running.
workers_left() { pgrep -f -- "$T/" | grep -v -x "$$" | while read -r p; do
    grep -q "$T/plug.so" "/proc/$p/maps" 2>/dev/null && echo "$p"; done | wc -l; }

fate=$(timeout 60 python3 "$T/in_terminal.py" fg "$FLOWHOST" "$T/flow.yml" "$T" 1)
check "foreground: a kill -HUP from outside reloads the flow; it stops, status 0, when its terminal goes away" \
    "$fate" "reloaded; exited 0"
check "foreground: the terminal going away reloads nothing" \
    "$(grep -c "reload done" "$T/run.log" || true)" "1"
check_contains "foreground: the log says why" "$(cat "$T/run.log")" "the terminal hung up"
sleep 0.2
check "foreground: no worker left" "$(workers_left)" "0"

rm -f "$T/pid"
fate=$(timeout 60 python3 "$T/in_terminal.py" bg "$FLOWHOST" "$T/flow.yml" "$T" 0)
check "background job: the flow stops when its terminal goes away" "$fate" "exited"
check_contains "background job: the log says why" "$(cat "$T/run.log")" "the terminal hung up"
check "background job: no reload" "$(grep -c "reload done" "$T/run.log" || true)" "0"
sleep 0.2
check "background job: no worker left" "$(workers_left)" "0"
check "no sanitizer report" "$(grep -c -E 'Sanitizer|runtime error:' "$T/run.log" || true)" "0"
done_checks
