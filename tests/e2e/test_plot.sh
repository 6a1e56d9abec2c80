#!/usr/bin/env bash
# flowhost plot through the real binary: the edges of a 6-executor graph (fan-out, a
# branch from the gateway, a join, shards, replicas, a floating executor) in Mermaid and
# in DOT; a chain without needs; -o FILE; the pictures in docs/graphs.md are what plot
# prints for their flows; bad input gets one line and status 2, never a picture.
. "$(dirname "$0")/lib.sh"
DATA=$FH_SOURCE_DIR/tests/data/flows
cd "$T" || exit 1

# edges FILE: the edges of a picture, one "FROM>TO" (or "FROM.>TO" dashed) a line, sorted.
edges() {
    sed -n -e 's/^    \([a-z0-9_]*\) --> \([a-z0-9_]*\)$/\1>\2/p' \
           -e 's/^    \([a-z0-9_]*\) -.-> \([a-z0-9_]*\)$/\1.>\2/p' \
           -e 's/^  \([a-z0-9_]*\) -> \([a-z0-9_]*\);$/\1>\2/p' \
           -e 's/^  \([a-z0-9_]*\) -> \([a-z0-9_]*\) \[style=dashed\];$/\1.>\2/p' "$1" | sort | tr '\n' ' '
}

# The graph: encoder (x0) -> vectors (x1), keywords (x2); audit (x3) floats from the
# gateway; ranker (x4) joins vectors and keywords; title.v2 (x5) starts at the gateway.
# The end waits for ranker and title.v2, not for audit (floating) nor the others (needed).
WANT="gw_in.>x3 gw_in>x0 gw_in>x5 x0>x1 x0>x2 x1>x4 x2>x4 x4>gw_out x5>gw_out "
rc=0
"$FLOWHOST" plot "$DATA/graph_plot.yml" >mermaid.txt 2>err.txt || rc=$?
check "mermaid: exit status" "$rc" "0"
check "mermaid: nothing on stderr" "$(cat err.txt)" ""
check "mermaid: a left-to-right flowchart" "$(head -1 mermaid.txt)" "flowchart LR"
check "mermaid: the edges, from needs, to the end from the sinks" "$(edges mermaid.txt)" "$WANT"
check "mermaid: edge lines are all edges" "$(grep -c -- '-->\|-.->' mermaid.txt)" "9"
check "mermaid: one node per executor and the two gateways" \
      "$(grep -c '^    [a-z0-9_]*(*\["' mermaid.txt)" "8"
check "mermaid: replicas in the label" "$(grep '^    x0\[' mermaid.txt)" '    x0["encoder<br/>x2 replicas"]'
check "mermaid: shards and polling in the label" "$(grep '^    x1\[' mermaid.txt)" \
      '    x1["vectors<br/>3 shards, polling ALL"]'
check "mermaid: a name with a dot is a label, not an id" "$(grep '^    x5\[' mermaid.txt)" \
      '    x5["title.v2"]'
check "mermaid: the floating executor is styled dashed" "$(grep -c '^    class x3 floating$' mermaid.txt)" "1"
check "mermaid: defaults are not shown" "$(grep '^    x2\[' mermaid.txt)" '    x2["keywords"]'

rc=0
"$FLOWHOST" plot --format dot "$DATA/graph_plot.yml" >dot.txt 2>err.txt || rc=$?
check "dot: exit status" "$rc" "0"
check "dot: a digraph" "$(head -1 dot.txt)" "digraph flow {"
check "dot: closed" "$(tail -1 dot.txt)" "}"
check "dot: the same edges" "$(edges dot.txt)" "$WANT"
check "dot: every statement ends with ';'" \
      "$(sed '1d;$d' dot.txt | grep -vc ';$' || true)" "0"
check "dot: quotes balanced on every line" \
      "$(sed 's/\\"//g' dot.txt | awk -F'"' 'NF % 2 == 0' | wc -l)" "0"
check "dot: labels with their lines" "$(grep '^  x1 \[' dot.txt)" \
      '  x1 [label="vectors\n3 shards, polling ALL"];'
check "dot: the floating executor dashed" "$(grep '^  x3 \[' dot.txt)" \
      '  x3 [label="audit\nfloating", style=dashed];'

# -o FILE and --format=dot: the same text in the file, nothing on stdout.
rc=0
"$FLOWHOST" plot --format=dot -o out.dot "$DATA/graph_plot.yml" >stdout.txt || rc=$?
check "-o: exit status" "$rc" "0"
check "-o: nothing on stdout" "$(cat stdout.txt)" ""
check "-o: the file holds the picture" "$(cmp -s out.dot dot.txt && echo same)" "same"

# A chain (no needs): each executor follows the one before.
printf 'jtype: Flow\nexecutors:\n  - name: a\n  - name: b\n  - name: c\n' >chain.yml
"$FLOWHOST" plot chain.yml >chain.txt
check "chain: one edge after the other" "$(edges chain.txt)" "gw_in>x0 x0>x1 x1>x2 x2>gw_out "
printf 'jtype: Flow\nexecutors: []\n' >empty.yml
"$FLOWHOST" plot empty.yml >empty.txt
check "no executor: the gateway answers itself" "$(edges empty.txt)" "gw_in>gw_out "

# The pictures of docs/graphs.md are what plot prints for the flows they name.
DOC=$FH_SOURCE_DIR/docs/graphs.md
n=0
for f in $(sed -n 's/^<!-- plot: \(.*\) -->$/\1/p' "$DOC"); do
    n=$((n + 1))
    awk -v f="$f" '$0 == "<!-- plot: " f " -->" {on = 1; next}
                   on && /^```mermaid$/ {inb = 1; next}
                   inb && /^```$/ {exit}
                   inb {print}' "$DOC" >doc.txt
    "$FLOWHOST" plot "$FH_SOURCE_DIR/$f" >plot.txt
    check "docs/graphs.md: the picture of $f is current" "$(diff doc.txt plot.txt && echo same)" "same"
done
check "docs/graphs.md: pictures checked" "$((n >= 3))" "1"

# Bad input: one line, status 2, no picture.
printf 'jtype: Flow\nexecutors:\n  - name: a\n    needs: c\n  - name: b\n  - name: c\n' >cycle.yml
expect_fail "a cycle" 2 "cycle.yml:4:12: 'needs' make a cycle: a -> b -> c -> a" \
    -- "$FLOWHOST" plot cycle.yml
printf 'jtype: Flow\nexecutors:\n  - name: a\n  - name: b\n    needs: [a, x]\n' >unknown.yml
expect_fail "a need naming nobody" 2 "unknown.yml:5:16: 'needs' of 'b': no executor is named 'x'" \
    -- "$FLOWHOST" plot unknown.yml
expect_fail "an unknown format" 2 "--format must be mermaid or dot, not 'svg'" \
    -- "$FLOWHOST" plot --format svg chain.yml
expect_fail "an output that cannot be written" 1 "no/such/dir/x.mmd: No such file or directory" \
    -- "$FLOWHOST" plot -o no/such/dir/x.mmd chain.yml
rc=0
"$FLOWHOST" plot >/dev/null 2>err.txt || rc=$?
check "no flow: usage, status 2" "$rc:$(head -1 err.txt)" \
      "2:usage: flowhost plot FLOW.yml [--format mermaid|dot] [-o FILE]"
rc=0
"$FLOWHOST" plot --help >help.txt || rc=$?
check "--help: status 0 and the usage on stdout" "$rc:$(head -1 help.txt)" \
      "0:usage: flowhost plot FLOW.yml [--format mermaid|dot] [-o FILE]"
check_contains "flowhost --help lists plot" "$("$FLOWHOST" --help)" "plot FLOW.yml"

done_checks
