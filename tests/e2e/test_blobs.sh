#!/usr/bin/env bash
# Large blobs as ZeroMQ frames of their own: the first 16 blobs of 32 KiB or more of a
# request's top-level documents travel after the DocumentArray frame; smaller ones, the
# 17th big one on and those of chunks stay inside it. Checked through the real
# binary and plugins:
#  - round trip of mixed sizes (empty, tiny, just under 32 KiB, exactly 32768, 100 KiB
#    to 2 MiB; more than 16 big ones in one request) through decoding executors (Echo),
#    a pass-through entry and an executor with no handler for the endpoint: every blob
#    comes back byte for byte, in order, in one request and in many in flight;
#  - tensors and embeddings (.npy rows) travel the same way and come back equal;
#  - files read as bytes (--read-mode bytes) come back equal to the files;
#  - the documents go on as they came past a failing handler and a crashing worker;
#  - with.max_message_size counts all frames of a request together: the gateway answers
#    an error for a request over it whose every frame is under it, and for a reply over
#    it (the documents then go on as they came to that executor); the flow serves on.
. "$(dirname "$0")/lib.sh"

# same.py MODE EXPECTED RESPONSES: compares the blobs of the responses (their documents
# in request order, then document order) with the expected ones. MODE ndjson: EXPECTED is
# the NDJSON posted (ids, blobs and the blobs of chunks); MODE files: EXPECTED is a
# folder posted in sorted order, each file's content is its document's blob. Prints
# "N documents, blobs equal" or the first difference.
cat >"$T/same.py" <<'PY'
import base64, hashlib, json, os, sys

def blob(d):
    return base64.b64decode(d.get("blob", ""))

def digest(b):
    return "%d bytes sha256 %s" % (len(b), hashlib.sha256(b).hexdigest()[:16])

mode, expected, responses = sys.argv[1:4]
lines = [json.loads(l) for l in open(responses) if l.strip()]
# request ids are POSTID-N, N the request's number in hex: put them back in order
lines.sort(key=lambda r: int(r["request_id"].rsplit("-", 1)[1], 16))
got = [d for r in lines for d in r.get("docs", [])]
if mode == "ndjson":
    want = [json.loads(l) for l in open(expected) if l.strip()]
    key = lambda d: d.get("id")
    chunk_blobs = lambda d: [digest(blob(c)) for c in d.get("chunks", [])]
else:
    names = sorted(os.listdir(expected))
    want = [{"uri": os.path.join(expected, n),
             "blob": base64.b64encode(open(os.path.join(expected, n), "rb").read()).decode()}
            for n in names]
    key = lambda d: d.get("uri")
    chunk_blobs = lambda d: []
if len(got) != len(want):
    sys.exit(print("%d documents came back, %d were sent" % (len(got), len(want))))
for i, (w, g) in enumerate(zip(want, got)):
    if key(w) != key(g):
        sys.exit(print("document %d is %s, expected %s" % (i, key(g), key(w))))
    if blob(w) != blob(g):
        sys.exit(print("%s: blob of %s, expected %s" % (key(w), digest(blob(g)), digest(blob(w)))))
    if chunk_blobs(w) != chunk_blobs(g):
        sys.exit(print("%s: chunk blobs %s, expected %s" % (key(w), chunk_blobs(g), chunk_blobs(w))))
print("%d documents, blobs equal" % len(got))
PY
same() { python3 "$T/same.py" "$@"; }

# --- the input: 26 documents, 19 with a blob of 32 KiB or more, mixed with small ones ---
# Random bytes (fixed seed), a distinct blob per document. doc-19 holds the 16th big
# blob: doc-21, doc-23 and doc-24 (the 17th to 19th) stay inside the DocumentArray, with
# small ones before, between and after them. doc-07 also has a chunk with a 40 KiB blob
# (the blobs of chunks stay inside the DocumentArray).
python3 - >"$T/mixed.ndjson" <<'PY'
import base64, json, random
r = random.Random(20261124)
KiB = 1024
sizes = [0, 1, 32 * KiB, 100 * KiB, 32 * KiB - 1, 2 * KiB * KiB, 32 * KiB, 200]
sizes += [r.randint(100 * KiB, 600 * KiB) for _ in range(12)]   # big ones 5..16
sizes += [32 * KiB - 1, 2 * KiB * KiB - 3, 10, 150 * KiB, 32 * KiB, 3000]
for i, n in enumerate(sizes):
    d = {"id": "doc-%02d" % i}
    if n:
        d["blob"] = base64.b64encode(r.randbytes(n)).decode()
    if i == 7:
        d["chunks"] = [{"id": "chunk-7", "blob": base64.b64encode(r.randbytes(40 * KiB)).decode()}]
    print(json.dumps(d))
PY
check "the input has 26 documents" "$(wc -l <"$T/mixed.ndjson" | tr -d ' ')" "26"
check "the input has more than 16 blobs of 32 KiB or more" \
      "$(python3 -c 'import sys, json, base64
print(sum(len(base64.b64decode(json.loads(l).get("blob", ""))) >= 32768 for l in sys.stdin))' \
         <"$T/mixed.ndjson")" "19"

# --- round trip: decoding executors, a pass-through entry, an executor with no handler --
# e1 and e2 (Echo) decode the documents, tag them and re-pack them (their big blobs as
# frames again); pass has no `uses`; nobind (Bind) has no handler for /blobs, so its
# worker passes the frames on untouched.
cat >"$T/blobs.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: e1, uses: Echo}
  - {name: pass}
  - {name: nobind, uses: Bind}
  - {name: e2, uses: Echo}
YML
start_flow "$T/blobs.yml"
post() { "$FLOWHOST" post /blobs "$@" --to "$ADDR" -q --timeout 60000; }

rc=0
post "$T/mixed.ndjson" --request-size 100 >"$T/one.out" || rc=$?
check "one request: exit status 0" "$rc" "0"
check "one request: one response" "$(wc -l <"$T/one.out" | tr -d ' ')" "1"
check "one request: SUCCESS" "$(jq -r .status.code "$T/one.out")" "SUCCESS"
check "one request: routes through every executor" "$(jq -c '[.routes[].executor]' "$T/one.out")" \
      '["gateway","e1","pass","nobind","e2"]'
check "one request: both Echo executors saw every document" \
      "$(jq -c '[.docs[].tags.seen_by] | unique' "$T/one.out")" '[["e1","e2"]]'
check "one request: every blob back byte for byte, in order" \
      "$(same ndjson "$T/mixed.ndjson" "$T/one.out")" "26 documents, blobs equal"

# Request size 3: 9 requests (the last of 2), several in flight at once.
rc=0
post "$T/mixed.ndjson" --request-size 3 --prefetch 9 >"$T/many.out" || rc=$?
check "request size 3: exit status 0" "$rc" "0"
check "request size 3: 9 responses" "$(wc -l <"$T/many.out" | tr -d ' ')" "9"
check "request size 3: all SUCCESS" "$(jq -r .status.code "$T/many.out" | sort -u)" "SUCCESS"
check "request size 3: both Echo executors saw every document" \
      "$(jq -s -c '[.[].docs[].tags.seen_by] | unique' "$T/many.out")" '[["e1","e2"]]'
check "request size 3: every blob back byte for byte, in order" \
      "$(same ndjson "$T/mixed.ndjson" "$T/many.out")" "26 documents, blobs equal"

# Tensors and embeddings travel like blobs (per document: blob, embedding, tensor). Two
# .npy files of 20 rows: uint8 tensors of 64x256x3 (48 KiB each) and float32 embeddings of
# 10,000 values (40,000 bytes each): 20 big fields in one request, 16 as frames, 4 inline.
python3 - "$T" <<'PY'
import random, struct, sys
def npy(path, descr, shape, data):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(str(n) for n in shape))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data)
r = random.Random(64256)
npy(sys.argv[1] + "/tensors.npy", "|u1", (20, 64, 256, 3), r.randbytes(20 * 64 * 256 * 3))
values = [r.uniform(-1, 1) for _ in range(20 * 10000)]
npy(sys.argv[1] + "/embeddings.npy", "<f4", (20, 10000), struct.pack("<%df" % len(values), *values))
PY
# rows.py KIND NPY RESPONSES: the tensors (or embeddings) of the responses, in order, are
# the rows of NPY byte for byte.
cat >"$T/rows.py" <<'PY'
import base64, json, struct, sys
kind, npy, responses = sys.argv[1:4]
raw = open(npy, "rb").read()
hlen = struct.unpack("<H", raw[8:10])[0]
data = raw[10 + hlen:]
lines = sorted((json.loads(l) for l in open(responses)),
               key=lambda r: int(r["request_id"].rsplit("-", 1)[1], 16))
docs = [d for r in lines for d in r["docs"]]
row = len(data) // len(docs)
for i, d in enumerate(docs):
    if kind == "tensor":
        got = base64.b64decode(d["tensor"]["data"])
    else:
        got = struct.pack("<%df" % len(d["embedding"]), *d["embedding"])
    if got != data[i * row:(i + 1) * row]:
        sys.exit(print("row %d: %d bytes differ from the file's" % (i, len(got))))
print("%d rows equal" % len(docs))
PY
rc=0
post "$T/tensors.npy" --request-size 20 >"$T/tensors.out" || rc=$?
check "20 tensors of 48 KiB in one request: exit status 0" "$rc" "0"
check "tensors: both Echo executors saw every document" \
      "$(jq -c '[.docs[].tags.seen_by] | unique' "$T/tensors.out")" '[["e1","e2"]]'
check "tensors: every tensor back byte for byte, in order" \
      "$(python3 "$T/rows.py" tensor "$T/tensors.npy" "$T/tensors.out")" "20 rows equal"
rc=0
post "$T/embeddings.npy" --as embedding --request-size 20 >"$T/embeddings.out" || rc=$?
check "20 embeddings of 40,000 bytes in one request: exit status 0" "$rc" "0"
check "embeddings: every embedding back bit for bit, in order" \
      "$(python3 "$T/rows.py" embedding "$T/embeddings.npy" "$T/embeddings.out")" "20 rows equal"

# Only a pass-through entry (post --flow): the client's own frames come back to it as
# they were sent, never decoded on the way.
rc=0
"$FLOWHOST" post /blobs "$T/mixed.ndjson" --flow "$FLOWS/pass.yml" -q --request-size 100 \
    >"$T/pass.out" || rc=$?
check "pass-through only: exit status 0" "$rc" "0"
check "pass-through only: every blob back byte for byte, in order" \
      "$(same ndjson "$T/mixed.ndjson" "$T/pass.out")" "26 documents, blobs equal"

# --- files read as bytes: each file's content is its document's blob -------------------
mkdir -p "$T/files"
head -c 1048576 /dev/urandom >"$T/files/a-1mib.bin"
head -c 32768 /dev/urandom >"$T/files/b-32k.bin"
head -c 32767 /dev/urandom >"$T/files/c-under.bin"
head -c 300000 /dev/urandom >"$T/files/d-300k.bin"
printf 'hello, blobs\n' >"$T/files/e-small.txt"
: >"$T/files/f-empty.bin"
rc=0
post "$T/files/*" --read-mode bytes --request-size 10 >"$T/files.out" || rc=$?
check "files as bytes: exit status 0" "$rc" "0"
check "files as bytes: SUCCESS" "$(jq -r .status.code "$T/files.out")" "SUCCESS"
check "files as bytes: each blob equals its file" \
      "$(same files "$T/files" "$T/files.out")" "6 documents, blobs equal"
check "files as bytes: the 1 MiB file's sha256" \
      "$(jq -r '.docs[0].blob' "$T/files.out" | base64 -d | sha256sum | cut -d' ' -f1)" \
      "$(sha256sum <"$T/files/a-1mib.bin" | cut -d' ' -f1)"
# One file a request: a request whose only document is a 1 MiB blob.
rc=0
post "$T/files/*" --read-mode bytes --request-size 1 >"$T/files1.out" || rc=$?
check "files as bytes, one a request: exit status 0" "$rc" "0"
check "files as bytes, one a request: each blob equals its file" \
      "$(same files "$T/files" "$T/files1.out")" "6 documents, blobs equal"
stop_flow

# --- errors: the documents go on as they came --------------------------------------------
# A failing handler with on_error: ignore: its worker sends on the frames it got, and e2
# decodes them.
cat >"$T/fail.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: e1, uses: Echo}
  - {name: failer, uses: Fail, on_error: ignore}
  - {name: e2, uses: Echo}
YML
start_flow "$T/fail.yml"
rc=0
post "$T/mixed.ndjson" --request-size 100 -p '{"fail": true}' >"$T/fail.out" 2>/dev/null || rc=$?
check "failing handler: exit status 1" "$rc" "1"
check "failing handler: the error is the failer's" "$(jq -r .status.executor "$T/fail.out")" "failer"
check "failing handler: e2 still ran on every document" \
      "$(jq -c '[.docs[].tags.seen_by] | unique' "$T/fail.out")" '[["e1","e2"]]'
check "failing handler: every blob back byte for byte, in order" \
      "$(same ndjson "$T/mixed.ndjson" "$T/fail.out")" "26 documents, blobs equal"
stop_flow

# A crashing worker: the gateway answers with the documents as they came into it, blob
# frames included. (The plugin raises SIGSEGV on purpose: not a sanitizer finding.)
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"
cat >"$T/crash.yml" <<YML
jtype: Flow
version: '1'
executors:
  - {name: e1, uses: Echo}
  - {name: crasher, uses: Crash}
YML
jq -c 'if .id == "doc-10" then .tags = {crash: true} else . end' "$T/mixed.ndjson" >"$T/crash.ndjson"
start_flow "$T/crash.yml"
rc=0
post "$T/crash.ndjson" --request-size 100 >"$T/crash.out" 2>/dev/null || rc=$?
check "crashing worker: exit status 1" "$rc" "1"
check "crashing worker: the error names it" "$(jq -r .status.description "$T/crash.out")" \
      "executor 'crasher' crashed: signal 11 (SIGSEGV)"
check "crashing worker: the documents as e1 passed them on" \
      "$(jq -c '[.docs[].tags.seen_by] | unique' "$T/crash.out")" '[["e1"]]'
check "crashing worker: every blob back byte for byte, in order" \
      "$(same ndjson "$T/crash.ndjson" "$T/crash.out")" "26 documents, blobs equal"
stop_flow

# --- max_message_size counts every frame of a request ------------------------------------
# Two documents of 60,000-byte blobs: each blob frame is under the 100,000 limit (ZeroMQ
# takes them), the request's frames together are over it (the gateway refuses it).
cat >"$T/limit.yml" <<YML
jtype: Flow
version: '1'
with:
  max_message_size: 100000
executors:
  - {name: e1, uses: Echo}
  - {name: pass}
YML
python3 - >"$T/two.ndjson" <<'PY'
import base64, json, random
r = random.Random(60000)
for i in range(2):
    print(json.dumps({"id": "big-%d" % i, "blob": base64.b64encode(r.randbytes(60000)).decode()}))
PY
start_flow "$T/limit.yml"
rc=0
post "$T/two.ndjson" --request-size 2 >"$T/over.out" 2>"$T/over.err" || rc=$?
check "2 x 60,000 bytes in one request, limit 100,000: exit status 1 (an error response)" "$rc" "1"
check "over the limit: one response" "$(wc -l <"$T/over.out" | tr -d ' ')" "1"
check "over the limit: ERROR" "$(jq -r .status.code "$T/over.out")" "ERROR"
check "over the limit: from the gateway" "$(jq -r .status.executor "$T/over.out")" "gateway"
check_contains "over the limit: the description names max_message_size" \
      "$(jq -r .status.description "$T/over.out")" "over the flow's max_message_size (100000)"
check "over the limit: no executor ran" "$(jq -c '[.routes[].executor]' "$T/over.out")" '["gateway"]'
check_contains "over the limit: the client says so on stderr" "$(cat "$T/over.err")" \
      "failed in executor 'gateway': the request's documents are"
# The same documents one a request are each under the limit: they go through, the flow
# is alive, and the blobs come back whole.
rc=0
post "$T/two.ndjson" --request-size 1 >"$T/under.out" || rc=$?
check "one 60,000-byte blob a request: exit status 0" "$rc" "0"
check "one 60,000-byte blob a request: all SUCCESS" "$(jq -r .status.code "$T/under.out" | sort -u)" "SUCCESS"
check "one 60,000-byte blob a request: blobs back byte for byte" \
      "$(same ndjson "$T/two.ndjson" "$T/under.out")" "2 documents, blobs equal"
# A request just under the limit whose reply is over it (Echo adds a tag): an error from
# the executor, and the documents go on as they came to it.
python3 - >"$T/edge.ndjson" <<'PY'
import base64, json, random
r = random.Random(99960)
print(json.dumps({"id": "edge", "blob": base64.b64encode(r.randbytes(99960)).decode()}))
PY
rc=0
post "$T/edge.ndjson" --request-size 1 >"$T/edge.out" 2>/dev/null || rc=$?
check "a reply over the limit: exit status 1" "$rc" "1"
check "a reply over the limit: ERROR from the executor" \
      "$(jq -r '.status.code + " " + .status.executor' "$T/edge.out")" "ERROR e1"
check_contains "a reply over the limit: says so" "$(jq -r .status.description "$T/edge.out")" \
      "the reply's documents are"
check "a reply over the limit: the document as it came to e1 (no tag of e1's)" \
      "$(jq -c '[.docs[].tags.seen_by]' "$T/edge.out")" "[null]"
check "a reply over the limit: its blob back byte for byte" \
      "$(same ndjson "$T/edge.ndjson" "$T/edge.out")" "1 documents, blobs equal"
kill -0 "$FLOW_PID" && alive=yes || alive=no
check "the flow is alive" "$alive" "yes"
stop_flow
done_checks
