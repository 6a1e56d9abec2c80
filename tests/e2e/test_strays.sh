#!/usr/bin/env bash
# Nothing a plugin starts outlives its worker: processes forked by a handler (Spawn, in
# the worker's process group; in a session of their own with setsid; or daemons whose
# parent is gone at once) are killed when their worker crashes, times out or stops, and
# when the flow stops. Each worker is the subreaper of what its plugin starts, and the host
# of its workers: a process that left its worker's group comes back to its worker while
# the worker lives, to the host once the worker is gone, and the host ends it then. A
# living executor's processes are never taken for another's orphans.
. "$(dirname "$0")/lib.sh"
# Under AddressSanitizer a SIGSEGV would be turned into an abort: let it be a SIGSEGV.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"

P="fs$$"   # the names of this test's processes (as pgrep -x sees them)
P=${P:0:12}
count() { pgrep -x "$1" | wc -l | tr -d ' '; }
# gone NAME...: waits up to 5 s for every process so named to end; prints those left.
gone() {
    local n left
    for _ in $(seq 1 100); do
        left=""
        for n in "$@"; do [ "$(count "$n")" = 0 ] || left="$left $n"; done
        [ -z "$left" ] && break
        sleep 0.05
    done
    echo "${left# }"
}
spawn() { # spawn PARAMETERS: one request to the flow, for the executor 'spawn'; its status
    echo '{"text":"s"}' | "$FLOWHOST" post /x - --to "$ADDR" -q --parameters "{\"spawn\": $1}" \
        --timeout 20000 2>/dev/null | jq -r .status.code
}

cat >"$T/spawn.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: keeper, uses: Spawn}
  - {name: spawn, uses: Spawn, timeout: 1000}
  - {name: tag, uses: Echo}
YML
start_flow "$T/spawn.yml"
check "a process in the worker's group" "$(spawn "{\"spawn\": \"${P}g\"}")" "SUCCESS"
check "a process in a session of its own" "$(spawn "{\"spawn\": \"${P}s\", \"setsid\": true}")" "SUCCESS"
check "a daemon" "$(spawn "{\"spawn\": \"${P}d\", \"daemon\": true}")" "SUCCESS"
check "they run while their worker does" "$(count "${P}g")$(count "${P}s")$(count "${P}d")" "111"
spawn_worker=$(pgrep -f "flowhost worker" -P "$FLOW_PID" | while read -r w; do
    if pgrep -x "${P}g" -P "$w" >/dev/null; then echo "$w"; fi; done || true)
check "the daemon, an orphan, came back to its worker" \
      "$(ps -o ppid= -p "$(pgrep -x "${P}d")" | tr -d ' ')" "$spawn_worker"
check "another executor's daemon" "$(echo '{"text":"k"}' | "$FLOWHOST" post /x - --to "$ADDR" -q \
      --parameters "{\"keeper\": {\"spawn\": \"${P}k\", \"daemon\": true}}" | jq -r .status.code)" "SUCCESS"

check "a crash after spawning one more: the request fails" \
      "$(spawn "{\"spawn\": \"${P}c\", \"crash\": true}")" "ERROR"
check "the worker crashed: every process it started is gone" "$(gone "${P}g" "${P}s" "${P}d" "${P}c")" ""
check "another executor's daemon lives on" "$(count "${P}k")" "1"
check "the new worker serves" "$(spawn '{}')" "SUCCESS"

check "a timeout after spawning: the request fails" \
      "$(spawn "{\"spawn\": \"${P}t\", \"setsid\": true, \"hang_ms\": 10000}")" "ERROR"
check "the worker was killed for its timeout: its process is gone" "$(gone "${P}t")" ""

check "again, in its group" "$(spawn "{\"spawn\": \"${P}G\"}")" "SUCCESS"
check "again, setsid" "$(spawn "{\"spawn\": \"${P}S\", \"setsid\": true}")" "SUCCESS"
check "again, a daemon" "$(spawn "{\"spawn\": \"${P}D\", \"daemon\": true}")" "SUCCESS"
check "they run" "$(count "${P}G")$(count "${P}S")$(count "${P}D")" "111"
stop_flow
check "the flow stopped: nothing its plugins started is left" \
      "$(count "${P}G")$(count "${P}S")$(count "${P}D")$(count "${P}k")" "0000"
done_checks
