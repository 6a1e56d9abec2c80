#!/usr/bin/env bash
# The status page (GET /) in a real browser: headless Chromium loads it from a running
# graph flow with replicas, runs its script, and the rendered DOM shows every executor
# with its replicas ready, and a request count that grows under load; the request
# latency it shows is one the flow really had. A screenshot is kept (its path printed).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

BROWSER=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$BROWSER" ]; then
    echo "skipped: chromium is not installed (scripts/setup installs it)"
    done_checks
    exit 0
fi
STARTED=$SECONDS

# browse ARGS...: Chromium, headless, its profile in the test's folder, bounded to 60 s.
# Five seconds of the page's virtual time: a few refreshes from /metrics.
browse() {
    HOME=$T timeout 60 "$BROWSER" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$T/chrome" --enable-logging=stderr --v=0 \
        --virtual-time-budget=5000 "$@" 2>>"$T/chrome.log"
}

# figure ID: the text of the page's element ID (a flow figure) in $T/dom.html.
figure() {
    sed -n "s|.*id=\"$1\"[^>]*>\([^<]*\)\(<span class=\"unit\">\([^<]*\)\)\?.*|\1 \3|p" "$T/dom.html" | head -n 1 | sed 's/ *$//'
}

# cell EXECUTOR KEY: the text of one cell of an executor's row in $T/dom.html.
cell() {
    grep -o "<tr id=\"x-$1\">.*" "$T/dom.html" | head -n 1 |
        sed -n "s|.*<td data-k=\"$2\"[^>]*>\([^<]*\)</td>.*|\1|p"
}

cat >"$T/graph.yml" <<'EOF2'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
executors:
  - {name: encode, uses: Branch, replicas: 2}
  - {name: left, uses: Branch, needs: encode}
  - {name: right, uses: Branch, needs: encode, replicas: 3}
  - {name: join, uses: Branch, needs: [left, right]}
EOF2
start_http_flow "$T/graph.yml"

# The page itself: HTML, and self-contained.
check "GET /: 200" "$(http_code GET /)" "200"
check "GET /: HTML" "$(grep -i '^content-type:' "$T/headers" | tr -d '\r')" "Content-Type: text/html; charset=utf-8"
check "GET /: nothing loaded from elsewhere" "$(grep -c -E 'src=|href=|@import' "$T/body" || true)" "0"
check "POST /: 405" "$(http_code POST / -d x)" "405"

# A few requests before the first look, over HTTP (the page's latency is theirs).
for i in $(seq 1 5); do
    [ "$(http_code POST /index -d '{"data": [{"text": "warm"}]}')" = 200 ] || fail "warm-up request $i"
done

browse --dump-dom "$URL/" >"$T/dom.html" || fail "chromium could not load $URL/ (see $T/chrome.log): $(tail -n 3 "$T/chrome.log")"
check "the script ran: the flow is serving" "$(sed -n 's|.*id="state"[^>]*>\([^<]*\)<.*|\1|p' "$T/dom.html")" "serving"
for x in encode:2 left:1 right:3 join:1; do
    name=${x%%:*} n=${x##*:}
    check "executor $name: in the table, $n of $n replicas ready" "$(cell "$name" replicas)" "$n / $n"
    check_contains "executor $name: a node of the graph" "$(grep -o '<svg.*</svg>' "$T/dom.html")" \
        ">$name</text><text class=\"sub\" x=\"20\" y=\"45\">$n / $n ready"
done
check_contains "the flow's gateway drawn at both ends" "$(grep -o '<svg.*</svg>' "$T/dom.html")" "answers out"
total1=$(figure f-total)
check "requests answered, as the flow counted them" "$total1" "5"
check_contains "a handler latency with its unit" "$(cell join p50)" "s"

# Under load: the count the page shows grows.
for i in $(seq 1 40); do
    [ "$(http_code POST /index -d '{"data": [{"text": "load"}]}')" = 200 ] || fail "request $i under load"
done
browse --dump-dom "$URL/" >"$T/dom.html" || fail "chromium could not load $URL/ the second time"
total2=$(figure f-total)
echo "requests answered on the page: $total1, then $total2 after 40 more"
check "the page's request count grows under load" "$total2" "45"
check_contains "a request rate with its unit" "$(figure f-rate)" "req/s"

# Failures show: a worker that crashes (restarted) and a handler that fails, each
# counted against its executor, marked, and in the flow's failed requests.
check "a crash in 'left': the request's error" "$(http_code POST /index -d '{"data": [{"text": "x"}], "parameters": {"left": {"crash": true}}}'):$(jq -r .status.code "$T/body")" "200:3"
check "a failure in 'right': the request's error" "$(http_code POST /index -d '{"data": [{"text": "x"}], "parameters": {"right": {"fail": true}}}'):$(jq -r .status.code "$T/body")" "200:3"
for _ in $(seq 1 100); do
    [ "$(http_code GET /health/ready)" = 200 ] && break
    sleep 0.1
done
check "left's worker is back" "$(http_code GET /health/ready)" "200"
browse --dump-dom "$URL/" >"$T/dom.html" || fail "chromium could not load $URL/ the third time"
check "left: 1 restart, 1 error, both marked" \
    "$(grep -o '<tr id="x-left">.*' "$T/dom.html" | grep -o '<td data-k="\(restarts\|errors\)"[^<]*' | tr '\n' ' ')" \
    '<td data-k="restarts" class="num-bad">1 <td data-k="errors" class="num-bad">1 '
check "right: no restart, 1 error" "$(cell right restarts):$(cell right errors)" "0:1"
check "encode: neither" "$(cell encode restarts):$(cell encode errors)" "0:0"
check "the flow's failed requests" "$(figure f-errors)" "2"
check "left: ready again" "$(cell left replicas)" "1 / 1"
check "no script error in the page" "$(grep -c -E 'Uncaught|CONSOLE.*(Error|error)' "$T/chrome.log" || true)" "0"

# The percentiles are histogram_quantile()'s: with five slow requests in 'join' among
# the others, its handler's p99 is in the buckets above 50 ms, and the page's p99 is
# what histogram_quantile() makes of the same scrape (no request runs in between).
for _ in 1 2 3 4 5; do
    [ "$(http_code POST /index -d '{"data": [{"text": "slow"}], "parameters": {"join": {"sleep_ms": 60}}}')" = 200 ] ||
        fail "a slow request"
done
browse --dump-dom "$URL/" >"$T/dom.html" || fail "chromium could not load $URL/ the fourth time"
http_code GET /metrics >/dev/null
# quantile Q METRIC FILTER: histogram_quantile(Q, sum by (le) (METRIC_bucket{FILTER})) of $T/body.
quantile() {
    grep "^$2_bucket{" "$T/body" | grep -F "$3" |
        sed -n 's/.*le="\([^"]*\)"} \(.*\)/\1 \2/p' |
        awk '{c[$1] += $2} END {for (l in c) print (l == "+Inf" ? 1e300 : l), c[l]}' | sort -g |
        awk -v q="$1" '{le[NR] = $1; n[NR] = $2} END {
            rank = q * n[NR]; for (i = 1; i < NR && n[i] < rank; i++);
            if (i == NR) {print le[NR - 1]; exit}
            lo = i > 1 ? le[i - 1] : 0; lc = i > 1 ? n[i - 1] : 0;
            print lo + (le[i] - lo) * (rank - lc) / (n[i] - lc)}'
}
# seconds "95 ms": the page's figure in seconds.
seconds() {
    awk '{f = $2 == "s" ? 1 : $2 == "ms" ? 1e-3 : 1e-6; print $1 * f}' <<<"$1"
}
near() { awk -v a="$1" -v b="$2" 'BEGIN {print (a > 0 && b > 0 && a / b < 1.02 && b / a < 1.02) ? "yes" : "no: " a " vs " b}'; }
want=$(quantile 0.99 flowhost_executor_duration_seconds 'executor="join"')
check "join's handler p99 above 50 ms" "$(awk -v w="$want" 'BEGIN {print (w > 0.05) ? "yes" : "no: " w}')" "yes"
check "join's handler p99 on the page is histogram_quantile's ($want s)" \
    "$(near "$(seconds "$(cell join p99)")" "$want")" "yes"
want=$(quantile 0.5 flowhost_request_duration_seconds '')
check "the flow's p50 on the page is histogram_quantile's ($want s)" \
    "$(near "$(seconds "$(figure f-p50)")" "$want")" "yes"

# The request latency the page shows is one the flow had: no request has taken longer
# than this test has run (an HTTP request timed from an unset clock once read as hours,
# the page's p50 and p99 as the top bucket, 60 s).
elapsed=$((SECONDS - STARTED + 1))
http_code GET /metrics >/dev/null
read -r sum count < <(awk '/^flowhost_request_duration_seconds_sum/ {s += $2} /^flowhost_request_duration_seconds_count/ {c += $2} END {print s, c}' "$T/body")
check "request durations counted" "$count" "52"
check "the requests' durations sum under the test's own run ($elapsed s)" \
    "$(awk -v s="$sum" -v e="$elapsed" 'BEGIN {print (s < e) ? "yes" : "no: " s " s"}')" "yes"
check "the page's p99 is not the top bucket" "$( [ "$(figure f-p99)" != "60.0 s" ] && echo yes || figure f-p99)" "yes"

# A screenshot (under load, so that the rate shows).
(for _ in $(seq 1 200); do curl -s -m 5 -o /dev/null "$URL/index" -d '{"data": [{"text": "load"}]}' || break; done) &
LOAD_PID=$!
# A screenshot, kept beside the build (the test's folder goes when it ends).
shot=$T/status-page.png
browse --screenshot="$shot" --window-size=1200,800 --hide-scrollbars "$URL/" >/dev/null ||
    fail "chromium could not take a screenshot"
wait "$LOAD_PID" || true
check "screenshot: a PNG" "$(head -c 4 "$shot" | tail -c 3)" "PNG"
keep=${FH_BUILD_DIR:-$T}/tests/status-page.png
mkdir -p "$(dirname "$keep")" && cp "$shot" "$keep"
echo "screenshot: $keep ($(stat -c %s "$keep") bytes)"
stop_flow
done_checks
