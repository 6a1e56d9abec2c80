#!/usr/bin/env bash
# The HTTP gateway on a graph flow (a diamond, its branches joined), and over TLS with a
# self-signed certificate made here (openssl), checked by curl --cacert; a certificate
# that does not load stops the flow with a one-line reason.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

# ---- a diamond: a -> (b, c) -> d, through HTTP ---------------------------------------------
cat >"$T/diamond.yml" <<'EOF2'
jtype: Flow
version: '1'
with:
  protocol: http
executors:
  - {name: a, uses: Branch}
  - {name: b, uses: Branch, needs: a}
  - {name: c, uses: Branch, needs: a}
  - {name: d, uses: Branch, needs: [b, c]}
EOF2
start_http_flow "$T/diamond.yml"
code=$(http_code POST /index -d '{"data": [{"id": "x1", "text": "hi"}], "parameters": {"b": {"sleep_ms": 100}}}')
check "graph over HTTP: 200" "$code" "200"
check "graph over HTTP: success" "$(jq -r .status.code "$T/body")" "0"
check "graph over HTTP: the join's chunks" "$(jq -r '[.data.docs[0].chunks[].text] | join(",")' "$T/body")" "a,b,c,d"
check "graph over HTTP: routes, the gateway first" "$(jq -r '[.routes[].pod] | sort | join(",")' "$T/body"):$(jq -r '.routes[0].pod' "$T/body")" \
      "a,b,c,d,gateway:gateway"
check "graph over HTTP: /health/ready lists 4 executors" "$(http_code GET /health/ready):$(jq '.executors | length' "$T/body")" "200:4"
# Bytes that are not UTF-8 in the path or a header: answered, not dropped.
raw_status() { # raw_status REQUEST-BYTES (python literal): the status line's code
    python3 - "${URL#http://}" "$1" <<'PY'
import ast, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(ast.literal_eval(sys.argv[2]))
print(s.recv(100).split(b" ")[1].decode())
PY
}
check "a path that is not UTF-8: 404" "$(raw_status 'b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n"')" "404"
check "a header that is not UTF-8: 400" \
      "$(raw_status 'b"POST /index HTTP/1.1\r\nHost: x\r\nX-Flowhost-Timeout: \xff\r\nContent-Length: 2\r\n\r\n{}"')" "400"
stop_flow

# ---- TLS -------------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
    -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null ||
    fail "openssl could not make a certificate"
cat >"$T/tls.yml" <<EOF2
jtype: Flow
version: '1'
with:
  protocol: [zmq, http]
  ssl_certfile: $T/cert.pem
  ssl_keyfile: $T/key.pem
  http_read_timeout: 1000
executors:
  - {name: slow, uses: Sleep}
EOF2
start_http_flow "$T/tls.yml"
check "TLS: the URL is https" "${URL%%://*}" "https"
check "TLS: GET /health/live" "$(http_code GET /health/live --cacert "$T/cert.pem")" "200"
code=$(http_code POST /index --cacert "$T/cert.pem" -d '{"data": ["secret"], "parameters": {"n": 1}}')
check "TLS: POST /index" "$code" "200"
check "TLS: the document back" "$(jq -r '.data.docs[0].text' "$T/body")" "secret"
rc=0
curl -s -m 5 -o /dev/null "$URL/health/live" 2>/dev/null || rc=$?
check "TLS: a client that does not trust the certificate is refused (curl 60)" "$rc" "60"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://${URL#https://}/health/live" 2>/dev/null || true)
check "TLS: plain HTTP on the TLS port gets no answer" "${code:-000}" "000"
check_contains "TLS: libmicrohttpd's complaint is logged" "$(cat "$T/run.log")" "flowhost: http: Error: received handshake"
check "TLS: still serving" "$(http_code GET /health/live --cacert "$T/cert.pem")" "200"
# 100 connections that say nothing, or a cut ClientHello, in their handshake: cut after
# http_read_timeout, closed, and the host idle afterwards (it once spun on them for ever).
fds_before=$(ls /proc/"$FLOW_PID"/fd | wc -l)
python3 - "${URL#https://}" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
conns = []
for i in range(100):
    s = socket.create_connection((host, int(port)), timeout=5)
    if i % 2:
        s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]))
    conns.append(s)
time.sleep(2.5)
for s in conns:
    s.close()
PY
sleep 1
t0=$(awk '{print $14 + $15}' /proc/"$FLOW_PID"/stat)
sleep 2
t1=$(awk '{print $14 + $15}' /proc/"$FLOW_PID"/stat)
check "TLS: after 100 cut handshakes the host is idle (CPU ticks in 2 s under 50)" \
      "$(( t1 - t0 < 50 ))" "1"
check "TLS: their descriptors are closed" "$(( $(ls /proc/"$FLOW_PID"/fd | wc -l) <= fds_before + 2 ))" "1"
check "TLS: serving" "$(http_code GET /health/live --cacert "$T/cert.pem")" "200"
stop_flow

echo "not a certificate" >"$T/bad.pem"
sed "s|$T/cert.pem|$T/bad.pem|" "$T/tls.yml" >"$T/badtls.yml"
expect_fail "TLS: a bad certificate" 1 "cannot serve HTTP" "x509 certificate" -- "$FLOWHOST" run "$T/badtls.yml"
sed "s|$T/cert.pem|$T/missing.pem|" "$T/tls.yml" >"$T/missing.yml"
expect_fail "TLS: a missing certificate" 1 "ssl_certfile" "missing.pem" -- "$FLOWHOST" run "$T/missing.yml"
done_checks
