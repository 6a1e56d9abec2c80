#!/usr/bin/env bash
# Keys (CURVE): a flow with with.server_key and with.client_keys lets in only the clients
# whose keys it lists, and encrypts their connections. A client without a key, with a
# key the flow does not know, or with a wrong server key is refused with a clear error
# (the CLI and the C API alike); the owner of a flow it starts itself (post --flow,
# fh_flow) gets in. Secret keys readable by others are refused; a flow that listens
# beyond loopback without keys says so.
. "$(dirname "$0")/lib.sh"

KEYS_CLIENT=$TOOLS/fh_keys_client
[ -x "$KEYS_CLIENT" ] || fail "$KEYS_CLIENT not built"
mkdir -p "$T/keys/clients"
server_pub=$("$FLOWHOST" keygen "$T/keys/server")
"$FLOWHOST" keygen "$T/keys/clients/alice" >/dev/null
"$FLOWHOST" keygen "$T/keys/bob" >/dev/null
check "keygen: the public certificate holds the key it printed" \
      "$(grep -cF "public-key = \"$server_pub\"" "$T/keys/server")" "1"
check "keygen: the secret certificate is private" "$(stat -c %a "$T/keys/server_secret")" "600"
expect_fail "keygen does not overwrite" 1 "server_secret" "File exists" -- \
    "$FLOWHOST" keygen "$T/keys/server"

cat >"$T/flow.yml" <<YML
jtype: Flow
version: '1'
with:
  server_key: keys/server_secret
  client_keys: keys/clients
executors:
  - {name: echo, uses: Echo}
YML
start_flow "$T/flow.yml"
check_contains "the banner shows the server key" "$(cat "$T/run.log")" "Server key:   $server_pub"
printf '{"text": "secret text"}\n' >"$T/doc.ndjson"

out=$("$FLOWHOST" post /x "$T/doc.ndjson" --to "$ADDR" --server-key "$T/keys/server" \
      --key "$T/keys/clients/alice_secret" -q)
check "a client whose key is listed is served" "$(jq -r .docs[0].text <<<"$out")" "secret text"
out=$("$FLOWHOST" post /x "$T/doc.ndjson" --to "$ADDR" --server-key "$server_pub" \
      --key "$T/keys/clients/alice_secret" -q)
check "... with the server key given as text" "$(jq -r .docs[0].text <<<"$out")" "secret text"
expect_fail "a key the flow does not know" 2 "refused the connection" \
    "it does not know this client's key" -- \
    "$FLOWHOST" post /x "$T/doc.ndjson" --to "$ADDR" --server-key "$T/keys/server" \
    --key "$T/keys/bob_secret"
expect_fail "no key" 2 "refused the connection" "keys" -- \
    "$FLOWHOST" post /x "$T/doc.ndjson" --to "$ADDR"
expect_fail "a wrong server key" 2 "refused the connection" -- \
    "$FLOWHOST" post /x "$T/doc.ndjson" --to "$ADDR" --server-key "$T/keys/bob" \
    --key "$T/keys/clients/alice_secret"
expect_fail "--key without --server-key" 2 "--server-key and --key go together" -- \
    "$FLOWHOST" post /x "$T/doc.ndjson" --to "$ADDR" --key "$T/keys/clients/alice_secret"
chmod 644 "$T/keys/clients/alice_secret"
expect_fail "a client's secret key readable by others" 2 "must be readable by its owner only" -- \
    "$FLOWHOST" post /x "$T/doc.ndjson" --to "$ADDR" --server-key "$T/keys/server" \
    --key "$T/keys/clients/alice_secret"
chmod 600 "$T/keys/clients/alice_secret"
check_contains "log: the unknown key refused" "$(cat "$T/run.log")" \
    "refused a client connection from 127.0.0.1: unknown client key"

# The C API.
check "C API: fh_client_new_secure with a listed key" \
      "$("$KEYS_CLIENT" client "$ADDR" "$T/keys/server" "$T/keys/clients/alice_secret")" \
      "SUCCESS secret text"
check_contains "C API: a key the flow does not know" \
      "$("$KEYS_CLIENT" client "$ADDR" "$T/keys/server" "$T/keys/bob_secret")" \
      "ERROR the flow at $ADDR refused the connection: it does not know this client's key"
check_contains "C API: no key" "$("$KEYS_CLIENT" plain "$ADDR")" "ERROR the flow at $ADDR refused the connection"
stop_flow

# The owner of a flow it starts gets in, with a key made for the start.
out=$("$FLOWHOST" post /x "$T/doc.ndjson" --flow "$T/flow.yml" -q)
check "post --flow to a flow with keys" "$(jq -r .docs[0].text <<<"$out")" "secret text"
check "C API: fh_flow_load + fh_flow_start" "$("$KEYS_CLIENT" flow "$T/flow.yml")" "SUCCESS secret text"
(cd "$T" && check "C API: fh_flow_new with keys (relative paths)" \
      "$("$KEYS_CLIENT" built keys/server_secret keys/bob)" "SUCCESS secret text")

# Secret keys readable by others, and keys without the other half, are refused.
chmod 640 "$T/keys/server_secret"
expect_fail "a server key readable by others" 2 "flow.yml:4:15: server_key:" \
    "a secret key must be readable by its owner only (chmod 600" -- "$FLOWHOST" validate "$T/flow.yml"
chmod 600 "$T/keys/server_secret"
sed 's/server_secret/server/' "$T/flow.yml" >"$T/public.yml"
expect_fail "a public certificate as server_key" 2 "no secret-key in it" -- \
    "$FLOWHOST" validate "$T/public.yml"
grep -v client_keys "$T/flow.yml" >"$T/nokeys.yml"
expect_fail "server_key without client_keys" 2 "'server_key' needs 'client_keys'" -- \
    "$FLOWHOST" validate "$T/nokeys.yml"

# Beyond loopback: without keys a warning, with keys none.
cat >"$T/open.yml" <<YML
jtype: Flow
version: '1'
with:
  host: 0.0.0.0
executors: []
YML
start_flow "$T/open.yml"
check_contains "0.0.0.0 without keys: a warning" "$(cat "$T/run.log")" \
    "warning: the flow listens on 0.0.0.0:${ADDR##*:} without authentication"
stop_flow
printf 'jtype: Flow\nversion: 1\nwith:\n  host: 0.0.0.0\n  server_key: keys/server_secret\n  client_keys: keys/bob\nexecutors: []\n' >"$T/closed.yml"
start_flow "$T/closed.yml"
check "0.0.0.0 with keys: no warning" "$(grep -c 'without authentication' "$T/run.log" || true)" "0"
stop_flow
done_checks
