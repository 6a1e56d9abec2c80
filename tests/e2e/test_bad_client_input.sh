#!/usr/bin/env bash
# Bad input on the client side: a port already in use, bad --parameters, broken NDJSON,
# a missing input file, malformed addresses, unknown options. Each fails with its exact
# exit status and a message naming what and where; the running flow is unharmed.
. "$(dirname "$0")/lib.sh"

export XDG_RUNTIME_DIR=$T/rt
mkdir -p "$XDG_RUNTIME_DIR"
cd "$T" || exit 1

# expect_usage DESC NEEDLE -- COMMAND...: exit status 2, NEEDLE and the usage on stderr.
expect_usage() {
    local desc=$1 needle=$2
    shift 3
    local rc=0
    timeout 30 "$@" </dev/null >"$T/stdout" 2>"$T/stderr" || rc=$?
    local err
    err=$(cat "$T/stderr")
    check "$desc: exit status" "$rc" "2"
    check_contains "$desc: says what is wrong" "$err" "$needle"
    check_contains "$desc: prints the usage" "$err" "usage: flowhost"
    check "$desc: nothing on stdout" "$(cat "$T/stdout")" ""
}

# --- a port already in use --------------------------------------------------------------
# The first flow gets a free port from the system; a second flow asks for the same one.
cat >first.yml <<'EOF'
jtype: Flow
version: '1'
executors:
  - name: echo
    uses: Echo
EOF
start_flow first.yml
PORT=${ADDR##*:}
cat >second.yml <<EOF
jtype: Flow
version: '1'
with:
  port: $PORT
executors:
  - name: echo
    uses: Echo
EOF
expect_fail "run, port in use" 1 "cannot listen on 127.0.0.1:$PORT: Address already in use" \
    -- "$FLOWHOST" run second.yml
rc=0
timeout 30 "$FLOWHOST" post /x --flow second.yml </dev/null >"$T/stdout" 2>"$T/stderr" || rc=$?
check "post --flow, port in use: exit status" "$rc" "2"
check_contains "post --flow, port in use: message" "$(cat "$T/stderr")" \
    "flowhost: cannot listen on 127.0.0.1:$PORT: Address already in use"
check "no worker of the second flow left" "$(pgrep -f "$XDG_RUNTIME_DIR/" | wc -l)" "1"
check "only the first flow's runtime directory is left" "$(ls "$XDG_RUNTIME_DIR" | wc -l)" "1"

# --- bad parameters ---------------------------------------------------------------------
expect_fail "--parameters cut short" 2 "flowhost: --parameters: line 1, column 8:" \
    -- "$FLOWHOST" post /x --to "$ADDR" --parameters '{"a": 1,'
expect_fail "--parameters with a bad token on line 2" 2 "flowhost: --parameters: line 2, column 4:" \
    "'}' expected near 'x'" -- "$FLOWHOST" post /x --to "$ADDR" -p '{"a":
 1 x}'
expect_fail "--parameters a list" 2 "flowhost: --parameters must be a JSON object, not list" \
    -- "$FLOWHOST" post /x --to "$ADDR" --parameters '[1]'
expect_fail "--parameters a number" 2 "--parameters must be a JSON object" \
    -- "$FLOWHOST" post /x --to "$ADDR" --parameters '7'

# --- bad input files --------------------------------------------------------------------
printf '{"text":"a"}\n{"text":"b"}\n{"text": oops}\n{"text":"d"}\n' >broken.ndjson
expect_fail "NDJSON broken on line 3" 2 "flowhost: broken.ndjson:3:" "near 'oops'" \
    "(2 documents sent and answered)" -- "$FLOWHOST" post /x broken.ndjson --to "$ADDR" -q -o resp.out
check "NDJSON broken on line 3: the lines before it answered" \
      "$(jq -r '.docs[].text' resp.out | tr '\n' ' ')" "a b "
printf '{"text":"a"}\n[1, 2]\n' >notobject.ndjson
expect_fail "NDJSON line that is not an object" 2 "notobject.ndjson:2" \
    -- "$FLOWHOST" post /x notobject.ndjson --to "$ADDR" -q -o resp.out
expect_fail "missing input file" 2 "flowhost: $T/missing.ndjson: No such file or directory" \
    -- "$FLOWHOST" post /x "$T/missing.ndjson" --to "$ADDR"
mkdir -p "$T/adir"
expect_fail "input is a directory" 2 "flowhost: $T/adir" "no docstore" \
    -- "$FLOWHOST" post /x "$T/adir" --to "$ADDR"
expect_fail "output file in a missing directory" 2 \
    "flowhost: cannot write $T/nodir/out.ndjson: No such file or directory" \
    -- "$FLOWHOST" post /x --to "$ADDR" -o "$T/nodir/out.ndjson"
expect_fail "broken NDJSON with --flow" 2 "flowhost: broken.ndjson:3:" \
    -- "$FLOWHOST" post /x broken.ndjson --flow first.yml -q -o resp.out

# --- bad addresses and endpoints ---------------------------------------------------------
for a in nohost 127.0.0.1:abc 127.0.0.1:99999 127.0.0.1: :5555; do
    expect_fail "--to $a" 2 "flowhost: invalid address '$a': expected HOST:PORT" \
        -- "$FLOWHOST" post /x --to "$a"
done
expect_fail "--to tcp://" 2 "flowhost: cannot connect to 'tcp://'" -- "$FLOWHOST" post /x --to tcp://
expect_fail "endpoint without /" 2 "flowhost: endpoint 'x' must start with '/'" \
    -- "$FLOWHOST" post x --to "$ADDR"
# Nobody listens: with --timeout the post gives up and says so.
expect_fail "--to a port nobody listens on, --timeout 300" 2 "no response within 300 ms" \
    -- "$FLOWHOST" post /x --to 127.0.0.1:1 --timeout 300 -q

# --- usage errors and help --------------------------------------------------------------
expect_usage "post, unknown option" "unrecognized option '--bogus'" -- \
    "$FLOWHOST" post /x --bogus --to "$ADDR"
expect_usage "run, unknown option" "unrecognized option '--bogus'" -- \
    "$FLOWHOST" run --bogus first.yml
expect_usage "post, --to and --flow" "give exactly one of --to and --flow" -- \
    "$FLOWHOST" post /x --to "$ADDR" --flow first.yml
expect_usage "post, neither --to nor --flow" "give exactly one of --to and --flow" -- \
    "$FLOWHOST" post /x
rc=0
"$FLOWHOST" --bogus >"$T/stdout" 2>"$T/stderr" || rc=$?
check "unknown command: exit status" "$rc" "2"
check_contains "unknown command: message" "$(cat "$T/stderr")" "unknown command '--bogus'"
rc=0
"$FLOWHOST" >"$T/stdout" 2>"$T/stderr" || rc=$?
check "no command: exit status" "$rc" "2"
check_contains "no command: usage" "$(cat "$T/stderr")" "usage: flowhost COMMAND"
for c in "" post run validate; do
    rc=0
    # shellcheck disable=SC2086
    "$FLOWHOST" $c --help >"$T/stdout" 2>"$T/stderr" || rc=$?
    check "flowhost $c --help: exit 0" "$rc" "0"
    check_contains "flowhost $c --help: usage on stdout" "$(cat "$T/stdout")" "usage: flowhost ${c:-COMMAND}"
done

# --- the flow took all that without harm ----------------------------------------------
kill -0 "$FLOW_PID" 2>/dev/null && alive=yes || alive=no
check "the first flow is still alive" "$alive" "yes"
printf '{"text":"fine"}\n' >good.ndjson
rc=0
out=$(timeout 30 "$FLOWHOST" post /x good.ndjson --to "$ADDR" --timeout 10000 -q 2>"$T/stderr") || rc=$?
check "a good post still works ($(cat "$T/stderr"))" "$rc" "0"
check_contains "a good post: the document came back" "$out" '"text":"fine"'
stop_flow
check "no worker left" "$(pgrep -f "$XDG_RUNTIME_DIR/" | wc -l)" "0"
check "no runtime directory left" "$(ls -A "$XDG_RUNTIME_DIR")" ""
done_checks
