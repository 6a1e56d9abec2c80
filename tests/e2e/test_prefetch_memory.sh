#!/usr/bin/env bash
# prefetch with an endless input into a slow executor: the client pulls its input only
# when it has room, so the resident memory of the client and of the host stays flat, and
# no more than `prefetch` requests are ever inside the flow.
. "$(dirname "$0")/lib.sh"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# Under AddressSanitizer freed memory waits in a quarantine (256 MB by default) before it
# is reused, which looks like growth: keep it small so that the measure means the same.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1:thread_local_quarantine_size_kb=64"

cat >"$T/slow.yml" <<YML
jtype: Flow
version: '1'
with:
  prefetch: 2
executors:
  - {name: slow, uses: Sleep}
  - {name: tag, uses: Echo}
YML
start_flow "$T/slow.yml"
# An endless input: `yes` blocks on the pipe as soon as the client stops reading.
doc='{"text": "'$(printf 'x%.0s' $(seq 1 500))'"}'
yes "$doc" | "$FLOWHOST" post /x - --to "$ADDR" --request-size 10 -q \
    --parameters '{"sleep_ms": 5}' -o "$T/out" 2>"$T/post.err" &
post_pid=$(jobs -p | tail -n 1)
client_pid=$(pgrep -n -f "post /x - --to $ADDR")
sleep 2
client_before=$(rss_kb "$client_pid"); host_before=$(rss_kb "$FLOW_PID")
lines_before=$(wc -l <"$T/out")
sleep 5
client_after=$(rss_kb "$client_pid"); host_after=$(rss_kb "$FLOW_PID")
lines_after=$(wc -l <"$T/out")
echo "client RSS ${client_before} -> ${client_after} kB, host RSS ${host_before} -> ${host_after} kB, responses ${lines_before} -> ${lines_after}"
check "the endless post keeps going" "$(( lines_after > lines_before + 100 ))" "1"
# Flat: less than 1 MiB of growth over 5 s in which hundreds of requests went through.
check "client memory stays flat" "$(( client_after - client_before < 1024 ))" "1"
check "host memory stays flat" "$(( host_after - host_before < 1024 ))" "1"
kill -TERM "$client_pid" 2>/dev/null || true
wait "$post_pid" 2>/dev/null || true

# No more than prefetch (2) requests inside at once, from the routes of what came back:
# [first executor start, last executor end] per request.
overlap=$(head -n -1 "$T/out" | jq -s '[.[] | [[.routes[1].start_time, 1], [.routes[-1].end_time, -1]]] | add
           | sort_by(.[0], .[1]) | reduce .[] as $e ({n: 0, max: 0};
               .n += $e[1] | .max = ([.max, .n] | max)) | .max')
check "at most 2 requests inside the flow at once" "$(( overlap <= 2 && overlap >= 1 ))" "1"
stop_flow
done_checks
