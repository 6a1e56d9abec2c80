#!/usr/bin/env bash
# The HTTP gateway against raw sockets, through the real binary: a body framed two ways
# (Content-Length fields that differ, Content-Length with Transfer-Encoding, two
# Transfer-Encoding fields) is 400 and its connection closed (RFC 9112 6.1, 6.3: a proxy
# in front could read it otherwise); a coding other than chunked is 501 at once (it was
# read until the client's read timeout, unanswered); an HTTP/1.1 request without Host is
# 400 (RFC 9112 3.2); a Content-Length that is negative, not a number or too large is
# refused and closed; pipelined requests are answered in order; the flow serves after
# each.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

cat >"$T/flow.yml" <<'EOF'
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
executors:
  - name: echo
    uses: Sleep
EOF
start_http_flow "$T/flow.yml"
HOSTPORT=${URL#http://}

# raw NAME: sends the bytes of $T/NAME.req on a new connection and writes what came back
# to $T/NAME.out, then "<closed>" if the server closed the connection within 3 s or
# "<open>" if not.
raw() {
    python3 - "$HOSTPORT" "$T/$1.req" "$T/$1.out" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.sendall(open(sys.argv[2], "rb").read())
s.settimeout(3)
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            out += b"\n<closed>"
            break
        out += b
except socket.timeout:
    out += b"\n<open>"
open(sys.argv[3], "wb").write(out)
PY
}
status_of() { head -n 1 "$T/$1.out" | tr -d '\r'; }

printf 'POST /index HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 12\r\n\r\n{}' >"$T/two.req"
raw two
check "two Content-Length fields that differ: 400" "$(status_of two)" "HTTP/1.1 400 Bad Request"
check_contains "...saying why" "$(cat "$T/two.out")" "Content-Length fields that differ"
check_contains "...and the connection is closed" "$(cat "$T/two.out")" "<closed>"

printf 'POST /index HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}' >"$T/same.req"
raw same
check "two Content-Length fields that agree: served" "$(status_of same)" "HTTP/1.1 200 OK"

printf 'POST /index HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n' >"$T/both.req"
raw both
check "Content-Length and Transfer-Encoding: 400" "$(status_of both)" "HTTP/1.1 400 Bad Request"
check_contains "...saying why" "$(cat "$T/both.out")" "both Transfer-Encoding and Content-Length"
check_contains "...and the connection is closed" "$(cat "$T/both.out")" "<closed>"

printf 'GET /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 7\r\n\r\n' >"$T/get.req"
raw get
check "a GET framed two ways: 400 too" "$(status_of get)" "HTTP/1.1 400 Bad Request"

printf 'POST /index HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}' >"$T/gzip.req"
start=$(date +%s%N)
raw gzip
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "Transfer-Encoding gzip: 501" "$(status_of gzip)" "HTTP/1.1 501 Not Implemented"
check_contains "...saying why" "$(cat "$T/gzip.out")" "only chunked"
check_contains "...and the connection is closed" "$(cat "$T/gzip.out")" "<closed>"
echo "# answered in $ms ms (http_read_timeout is 30 s)"
[ "$ms" -lt 2500 ] || fail "Transfer-Encoding gzip was answered after $ms ms, not at once"

printf 'POST /index HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n2\r\n{}\r\n0\r\n\r\n' >"$T/te2.req"
raw te2
check "two Transfer-Encoding fields: 400" "$(status_of te2)" "HTTP/1.1 400 Bad Request"
check_contains "...and the connection is closed" "$(cat "$T/te2.out")" "<closed>"

printf 'POST /index HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"da\r\nb\r\nta": ["c"]}\r\n0\r\n\r\n' >"$T/chunked.req"
raw chunked
check "a chunked body: served" "$(status_of chunked)" "HTTP/1.1 200 OK"

printf 'GET /health/live HTTP/1.1\r\n\r\n' >"$T/nohost.req"
raw nohost
check "HTTP/1.1 without Host: 400" "$(status_of nohost)" "HTTP/1.1 400 Bad Request"
printf 'GET /health/live HTTP/1.0\r\n\r\n' >"$T/old.req"
raw old
check_contains "HTTP/1.0 without Host: served" "$(status_of old)" " 200 OK"
printf 'GET /health/live HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n' >"$T/hosts.req"
raw hosts
check "two Host fields: 400" "$(status_of hosts)" "HTTP/1.1 400 Bad Request"
printf 'POST /index HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n' >"$T/te10.req"
raw te10
check_contains "HTTP/1.0 with Transfer-Encoding: 400" "$(status_of te10)" " 400 Bad Request"

{ printf 'POST /index HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n{"data": ["p1"]}'
  printf 'POST /index HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n{"data": ["p2"]}'
  printf 'GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'; } >"$T/pipe.req"
raw pipe
check "three pipelined requests: three answers" "$(grep -o 'HTTP/1.1 200 OK' "$T/pipe.out" | wc -l)" "3"
first=$(grep -ob '"p1"' "$T/pipe.out" | head -1 | cut -d: -f1)
second=$(grep -ob '"p2"' "$T/pipe.out" | head -1 | cut -d: -f1)
check "...in order" "$([ -n "$first" ] && [ -n "$second" ] && [ "$first" -lt "$second" ] && echo yes)" "yes"

# libmicrohttpd answers these itself, before the gateway sees the request (0.9.75 writes
# its status line and headers twice; the status is right and the connection closed).
for cl in -1 2x 18446744073709551616; do
    printf 'POST /index HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\n{}' "$cl" >"$T/bad.req"
    raw bad
    case $(status_of bad) in
        "HTTP/1.1 400 Bad Request" | "HTTP/1.1 413 Content Too Large") ;;
        *) fail "Content-Length: $cl: answered [$(status_of bad)]" ;;
    esac
    check_contains "Content-Length: $cl: refused, the connection closed" "$(cat "$T/bad.out")" "<closed>"
done

check "the flow still serves" "$(http_code POST /index -d '{"data": ["x"]}')" "200"
stop_flow
done_checks
