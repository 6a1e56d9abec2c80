#!/usr/bin/env bash
# Flows as graphs through the real binary: `needs` forks and joins, branches run at the
# same time, a join merges its inputs (documents by id, chunks concatenated, documents of
# one branch kept), routes name each executor once in the order they ended, several last
# executors are merged at the end, an error or a crash in a branch ends the request with
# it once the other branches are back (on_error ignore: the join goes on), floating
# executors get every request and are never waited for, a drain waits for a split
# request. The Branch executor leaves a chunk named after itself on every document.
source "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"

post() { # post PARAMS-JSON: one document x1 to the running flow; the response, compact
    echo '{"id":"x1","text":"hi"}' |
        { "$FLOWHOST" post /index - --to "$ADDR" -q --timeout 20000 -p "$1" 2>/dev/null || true; } |
        jq -c .
}
# Route times are ISO 8601 with microseconds: as seconds.
TIME='def t: (sub("\\.[0-9]+"; "") | fromdateiso8601) + ((capture("(?<f>\\.[0-9]+)").f // "0") | tonumber);'
chunks() { jq -r '[.docs[] | .id + ":" + ([.chunks[]?.text] | join(","))] | join(" ")'; }
routes() { jq -r '[.routes[].executor] | join(",")'; }

# --- a diamond: a -> (b, c) -> d ------------------------------------------------------
cat >"$T/diamond.yml" <<YML
executors:
  - {name: a, uses: Branch}
  - {name: b, uses: Branch, needs: a}
  - {name: c, uses: Branch, needs: a}
  - {name: d, uses: Branch, needs: [b, c]}
YML
start_flow "$T/diamond.yml"
out=$(post '{}')
check "diamond: succeeds" "$(jq -r .status.code <<<"$out")" "SUCCESS"
check "diamond: every executor saw the document once, b before c (the order of needs)" \
      "$(chunks <<<"$out")" "x1:a,b,c,d"
check "diamond: routes name each executor once, the gateway first, d last" \
      "$(routes <<<"$out" | tr ',' '\n' | sort | tr '\n' ' '):$(jq -r '.routes[0].executor, .routes[-1].executor' <<<"$out" | tr '\n' ' ')" \
      "a b c d gateway :gateway d "
out=$(post '{"b": {"sleep_ms": 300}, "c": {"sleep_ms": 300}}')
check "diamond: b and c ran at the same time (their routes overlap)" \
      "$(jq -r "$TIME"' [.routes[] | select(.executor=="b" or .executor=="c")] |
                ((.[0].start_time | t) < (.[1].end_time | t) and (.[1].start_time | t) < (.[0].end_time | t))' <<<"$out")" "true"
check "diamond: routes in the order they ended" \
      "$(jq -r "$TIME"' [.routes[1:][] | .end_time | t] | . == sort' <<<"$out")" "true"
out=$(post '{"b": {"sleep_ms": 200}, "c": {"add_doc": true}}')
check "diamond: the order of documents follows needs, not who finished first; a branch's own document is kept" \
      "$(chunks <<<"$out"):$(routes <<<"$out")" "x1:a,b,c,d from-c:d:gateway,a,c,b,d"
out=$(post '{"b": {"text": "from b"}, "c": {"text": "from c"}}')
check "diamond: the first non-empty field wins, in the order of needs" \
      "$(jq -r '.docs[0].text' <<<"$out")" "from b"

# --- errors in a branch -----------------------------------------------------------------
out=$(post '{"c": {"fail": true}, "b": {"sleep_ms": 300}}')
check "skip: the request ends with the branch's error" \
      "$(jq -r '.status.code + " " + .status.executor + " " + .status.description' <<<"$out")" \
      "ERROR c c asked to fail"
check "skip: after the other branch was back (its route is named), and d never ran" \
      "$(routes <<<"$out" | tr ',' '\n' | sort | tr '\n' ' ')" "a b c gateway "
out=$(post '{"b": {"crash": true}}')
check "crash in a branch of a join: only this request fails, naming b" \
      "$(jq -r '.status.code + " " + .status.executor' <<<"$out")" "ERROR b"
out=$(post '{}')
check "crash: the next request goes through the new worker" \
      "$(jq -r .status.code <<<"$out"):$(chunks <<<"$out")" "SUCCESS:x1:a,b,c,d"

# --- a drain while a request is split -----------------------------------------------------
echo '{"id":"x1","text":"hi"}' >"$T/one.ndjson"
"$FLOWHOST" post /index "$T/one.ndjson" --to "$ADDR" -q --timeout 20000 \
    -p '{"b": {"sleep_ms": 800}}' >"$T/drain.out" 2>/dev/null &
poster=$!
sleep 0.4
stop_flow
wait "$poster" || true
check "drain: the split request was answered whole" \
      "$(jq -r .status.code "$T/drain.out"):$(chunks <"$T/drain.out")" "SUCCESS:x1:a,b,c,d"

# --- on_error ignore: the join goes on with what came -----------------------------------
cat >"$T/ignore.yml" <<YML
executors:
  - {name: a, uses: Branch}
  - {name: b, uses: Branch, needs: a, on_error: ignore}
  - {name: c, uses: Branch, needs: a}
  - {name: d, uses: Branch, needs: [b, c]}
YML
start_flow "$T/ignore.yml"
out=$(post '{"b": {"fail": true}}')
check "ignore: the join ran, the status keeps the error" \
      "$(jq -r '.status.code + " " + .status.executor' <<<"$out"):$(chunks <<<"$out")" "ERROR b:x1:a,c,d"
stop_flow

# --- two starts at the gateway, three last executors ------------------------------------
cat >"$T/wide.yml" <<YML
executors:
  - {name: p, uses: Branch}
  - {name: q, uses: Branch, needs: gateway}
  - {name: r, uses: Branch, needs: [q, p]}
  - {name: s, uses: Branch, needs: p}
  - {name: t, uses: Branch, needs: q}
  - {name: u, uses: Branch, needs: gateway}
YML
start_flow "$T/wide.yml"
out=$(post '{"u": {"add_doc": true}}')
check "wide: the last executors (r, s, t, u) merged in the flow's order" \
      "$(jq -r .status.code <<<"$out"):$(chunks <<<"$out")" "SUCCESS:x1:q,p,r,s,t,u from-u:"
check "wide: six executors, each once" "$(routes <<<"$out" | tr ',' '\n' | sort | tr '\n' ' ')" \
      "gateway p q r s t u "
rc=0
seq 1 200 | jq -c '{id: ("d" + tostring), text: tostring}' >"$T/200.ndjson"
"$FLOWHOST" post /index "$T/200.ndjson" --to "$ADDR" -q --request-size 2 --timeout 30000 \
    >"$T/wide.out" 2>/dev/null || rc=$?
check "wide: 100 requests at once, each answered once with its own documents whole" \
      "$rc:$(jq -r '.docs[] | select(.id | startswith("d")) | [.chunks[].text] | join(",")' "$T/wide.out" | sort | uniq -c | tr -s ' ')" \
      "0: 200 q,p,r,s,t,u"
stop_flow

# --- floating: gets every request, never waited for, its errors never reach the client ---
cat >"$T/floating.yml" <<YML
executors:
  - {name: a, uses: Branch}
  - {name: audit, uses: Ledger, uses_with: {ledger: $T/audit.ledger}, floating: true}
  - {name: slowlog, uses: Branch, floating: true, needs: a}
  - {name: bad, uses: Branch, floating: true, needs: a}
  - {name: b, uses: Branch, needs: a}
YML
start_flow "$T/floating.yml"
out=$(post '{"slowlog": {"sleep_ms": 1500}, "bad": {"fail": true}, "audit": {"sleep_ms": 1500}}')
check "floating: the answer did not wait for them, nor carries their work or errors" \
      "$(jq -r .status.code <<<"$out"):$(chunks <<<"$out"):$(routes <<<"$out")" "SUCCESS:x1:a,b:gateway,a,b"
for _ in $(seq 1 60); do [ -s "$T/audit.ledger" ] && break; sleep 0.1; done
check "floating: the floating executor got the request" "$(wc -l <"$T/audit.ledger" | tr -d ' ')" "1"
for _ in $(seq 1 40); do grep -q "bad.*failed request" "$T/run.log" && break; sleep 0.1; done
check_contains "floating: its error is logged" "$(cat "$T/run.log")" "executor 'bad' (nobody waits for it) failed request"
check "floating: answered before the 1.5 s floating executors were done" \
      "$(jq -r "$TIME"' (.routes[0].end_time | t) - (.routes[0].start_time | t) < 1.2' <<<"$out")" "true"
stop_flow

# --- conditions on the branches of a join: each branch carries what it handled -------------
cat >"$T/when.yml" <<YML
executors:
  - {name: split, uses: Branch}
  - name: text
    uses: Mark
    needs: split
    when: {tags__kind: {\$eq: text}}
  - name: image
    uses: Mark
    needs: split
    when: {tags__kind: {\$eq: image}}
  - {name: rank, uses: Branch, needs: [text, image]}
YML
start_flow "$T/when.yml"
out=$(printf '%s\n' '{"id":"t1","text":"a","tags":{"kind":"text"}}' '{"id":"i1","text":"b","tags":{"kind":"image"}}' \
                     '{"id":"t2","text":"c","tags":{"kind":"text"}}' '{"id":"o1","text":"d","tags":{"kind":"other"}}' |
      "$FLOWHOST" post /index - --to "$ADDR" -q --timeout 20000 2>/dev/null | jq -c .)
check "when in branches: each document changed by the branch its condition chose, none lost to an untouched copy" \
      "$(jq -r '[.docs[] | .id + "=" + .text] | join(" ")' <<<"$out")" "t1=a+text t2=c+text i1=b+image"
check "when in branches: the join ran on each of them" \
      "$(jq -r '[.docs[] | [.chunks[].text] | join(",")] | unique | join(" ")' <<<"$out")" "split,rank"
stop_flow

done_checks
