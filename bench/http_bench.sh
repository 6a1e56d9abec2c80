#!/usr/bin/env bash
# bench/http_bench.sh FLOWHOST [SECONDS] [REQUESTS]
#
# The HTTP gateway against the ZeroMQ one on the same flow, in the same run: starts
# `flowhost run` of 3 pass-through executors with protocol [zmq, http], then measures
#   http: wrk (1 thread, 64 keep-alive connections, SECONDS, default 5) posting
#         10-document requests to /index (a 1 s warm-up first);
#   zmq:  `flowhost post` of REQUESTS (default 10,000) requests of 10 documents, 64 in
#         flight, on the flow's ZeroMQ port (a client that converts JSON too, as the HTTP
#         gateway does for its clients).
# Prints two JSON lines: {"bench": "http", "rps": ...} and {"bench": "http_zmq", "rps": ...}.
# Needs wrk (Debian's package) and python3; exits 2 without them.
set -euo pipefail
bin=$1 seconds=${2:-5} requests=${3:-10000}
command -v wrk >/dev/null && command -v python3 >/dev/null || {
  echo "http_bench: needs wrk and python3" >&2
  exit 2
}
dir=$(mktemp -d /tmp/http_bench.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
cat >"$dir/flow.yml" <<'YML'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
executors:
  - name: a
  - name: b
  - name: c
YML
python3 - "$dir" "$requests" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
doc = lambda i: {"text": "document number %d with some text" % i}
json.dump({"data": [doc(i) for i in range(10)], "parameters": {}}, open(d + "/body.json", "w"))
with open(d + "/docs.ndjson", "w") as f:
    for i in range(10 * n):
        f.write(json.dumps(doc(i)) + "\n")
open(d + "/post.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    'local f = io.open("%s/body.json")\nwrk.body = f:read("*a")\nf:close()\n' % d)
PY
mkdir -p "$dir/rt"
XDG_RUNTIME_DIR=$dir/rt "$bin" run --address-file "$dir/addr" "$dir/flow.yml" 2>"$dir/run.log" &
pid=$!
for _ in $(seq 1 100); do
  [ -f "$dir/addr" ] && [ "$(wc -l <"$dir/addr")" -ge 2 ] && break
  sleep 0.1
done
[ -f "$dir/addr" ] && [ "$(wc -l <"$dir/addr")" -ge 2 ] || {
  echo "http_bench: the flow did not start: $(cat "$dir/run.log")" >&2
  exit 1
}
addr=$(sed -n 1p "$dir/addr") url=$(sed -n 2p "$dir/addr")
wrk -t1 -c64 -d1s -s "$dir/post.lua" "$url/index" >/dev/null
http=$(wrk -t1 -c64 -d"${seconds}s" -s "$dir/post.lua" "$url/index" |
  awk '/^Requests\/sec/ {print $2}')
t0=$(date +%s.%N)
"$bin" post /index "$dir/docs.ndjson" --to "$addr" --request-size 10 --prefetch 64 \
  >/dev/null 2>"$dir/post.log"
t1=$(date +%s.%N)
zmq=$(python3 -c "print(round($requests / ($t1 - $t0)))")
echo "{\"bench\": \"http\", \"rps\": $http, \"seconds\": $seconds}"
echo "{\"bench\": \"http_zmq\", \"rps\": $zmq, \"requests\": $requests}"
