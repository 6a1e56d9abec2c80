#!/usr/bin/env bash
# The metrics' text as a Prometheus server reads it. `promtool check metrics` (Debian's
# prometheus package, which scripts/setup installs) on the metrics of a populated flow
# (tests/metrics_dump: replicas, shards, batching, an executor name and endpoints that
# need escaping or are not UTF-8, more endpoints than have series of their own) prints
# nothing and exits 0; on deliberately broken copies it fails, naming the fault. The
# rules of the format that promtool leaves unchecked (one line per series, buckets
# cumulative in ascending le, a +Inf bucket equal to _count, a family's lines together)
# are checked here by rules_check, which is shown to catch each breakage too.
. "$(dirname "$0")/lib.sh"

if ! command -v promtool >/dev/null; then
    echo "skipped: promtool is not installed (scripts/setup installs Debian's prometheus package)"
    done_checks
    exit 0
fi

# rules_check FILE: one line per fault in FILE, nothing when it keeps the rules.
rules_check() {
    awk '
    function fault(msg) { print "line " NR ": " msg; bad = 1 }
    /^# TYPE / { type[$3] = $4; next }
    /^#/ || /^$/ { next }
    {
        key = $0; sub(/ [^ ]*$/, "", key)          # the name and labels
        value = $NF
        if (key in seen) fault("a second line for " key)
        seen[key] = 1
        name = key; sub(/\{.*/, "", name)
        fam = name
        base = name; sub(/_(bucket|sum|count)$/, "", base)
        if (base != name && type[base] == "histogram") fam = base
        if (fam != current) {
            if (fam in closed) fault("the lines of " fam " are not together")
            if (current != "") closed[current] = 1
            current = fam
        }
        if (fam == name || type[fam] != "histogram") next
        labels = substr(key, length(name) + 1)     # a series: its family and labels, le aside
        sub(/,?le="[^"]*"\}$/, "}", labels)
        sid = fam (labels == "{}" ? "" : labels)
        if (name ~ /_bucket$/) {
            if (!match(key, /le="[^"]*"\}$/)) { fault("a bucket without le: " key); next }
            le = substr(key, RSTART + 4, RLENGTH - 6)
            lev = le == "+Inf" ? "inf" : le + 0
            if ((sid in last_le) && (last_le[sid] == "inf" || (lev != "inf" && lev <= last_le[sid])))
                fault("le " le " does not ascend in " sid)
            if ((sid in last_v) && value + 0 < last_v[sid]) fault("buckets not cumulative in " sid)
            last_le[sid] = lev; last_v[sid] = value + 0
            if (le == "+Inf") inf[sid] = value + 0
        } else if (name ~ /_count$/) {
            if (!(sid in inf)) fault("no +Inf bucket in " sid)
            else if (inf[sid] != value + 0) fault("+Inf bucket " inf[sid] " but _count " value " in " sid)
        }
    }
    ' "$1"
}

cd "$T"
rc=0
"$TOOLS/metrics_dump" >metrics.txt 2>dump.err || rc=$?
check "metrics_dump: exit status [$(cat dump.err)]" "$rc" "0"

rc=0
out=$(promtool check metrics <metrics.txt 2>&1) || rc=$?
check "promtool check metrics: exit status" "$rc" "0"
check "promtool check metrics: prints nothing" "$out" ""
check "the format's other rules hold" "$(rules_check metrics.txt)" ""

# What it holds: every metric, the escapes, the endpoint bound.
for name in requests_total request_duration_seconds requests_in_flight \
    requests_in_flight_bytes executor_duration_seconds executor_queue_wait_seconds \
    executor_errors_total worker_restarts_total executor_queued_requests \
    worker_held_requests executor_replicas executor_replicas_ready executor_batch_size; do
    check "TYPE line of flowhost_$name" "$(grep -c "^# TYPE flowhost_$name " metrics.txt)" "1"
done
check_contains "a quote, a backslash and a newline escaped in an executor name" \
    "$(cat metrics.txt)" 'executor="odd \"name\" \\ with\na newline and '$'\xef\xbf\xbd''"'
check_contains "an endpoint with quotes" "$(cat metrics.txt)" 'endpoint="/say \"hi\"",status="success"'
check "8 endpoints and other: 9 series of request counts by status 'error'" \
    "$(grep -c '^flowhost_requests_total{.*status="error"}' metrics.txt)" "9"
check "the endpoint that is not UTF-8 went to other" "$(grep -c 'bad' metrics.txt)" "0"
check "batch sizes only for the batching executor's 2 replicas" \
    "$(grep -c '^flowhost_executor_batch_size_count{' metrics.txt)" "2"
check "executor_duration: +Inf equal to count (1 + 26 doublings up to 90 s)" \
    "$(grep '^flowhost_executor_duration_seconds_count{executor="encoder",shard="0",replica="1"}' metrics.txt)" \
    'flowhost_executor_duration_seconds_count{executor="encoder",shard="0",replica="1"} 27'

# Broken copies: promtool says why and fails.
broken() { # DESCRIPTION NEEDLE FILE
    local rc=0 out
    out=$(promtool check metrics <"$3" 2>&1) || rc=$?
    check "promtool fails on $1" "$([ "$rc" -ne 0 ] && echo failed || echo "passed ($rc)")" "failed"
    check_contains "promtool on $1 says" "$out" "$2"
}
sed 's|/say \\"hi\\"|/say "hi"|' metrics.txt >b.quote
broken "an unescaped quote" "unexpected end of label value" b.quote
sed 's|caf\xc3\xa9|caf\xff|' metrics.txt >b.utf8
broken "a label value not UTF-8" "invalid label value" b.utf8
head -c -1 metrics.txt >b.eol
broken "no newline at the end" "unexpected end of input stream" b.eol
sed '/^# TYPE flowhost_requests_in_flight gauge/{p}' metrics.txt >b.type
broken "a second TYPE line" "second TYPE line" b.type
sed '/^# HELP flowhost_executor_replicas /d' metrics.txt >b.help
broken "no HELP" "no help text" b.help
sed 's/flowhost_requests_total/flowhost_requests/' metrics.txt >b.total
broken "a counter without _total" '"_total" suffix' b.total

# Broken copies: rules_check says why.
sed '3p' metrics.txt >b.dup
check_contains "rules_check on a series given twice" "$(rules_check b.dup)" "a second line for"
sed '0,/_bucket{endpoint="\/index",le="0.0001"} [0-9]*/s//_bucket{endpoint="\/index",le="0.0001"} 999/' \
    metrics.txt >b.cum
check_contains "rules_check on buckets not cumulative" "$(rules_check b.cum)" "not cumulative"
sed '0,/le="+Inf"/{/le="+Inf"/d}' metrics.txt >b.inf
check_contains "rules_check on a histogram without +Inf" "$(rules_check b.inf)" "no +Inf bucket"
sed '0,/_count{endpoint="\/index"} [0-9]*/s//_count{endpoint="\/index"} 1000/' metrics.txt >b.count
check_contains "rules_check on _count unequal to +Inf" "$(rules_check b.count)" "but _count 1000"
{ cat metrics.txt; echo 'flowhost_requests_total{endpoint="/late",status="success"} 1'; } >b.group
check_contains "rules_check on a family's lines apart" "$(rules_check b.group)" "not together"

done_checks
