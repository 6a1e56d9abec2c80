#!/usr/bin/env bash
# Across machines, over bad links: packet loss and delay on both worker hosts' links.
# Every request is answered once, success or a clear error, and the flow serves normally
# once the links are good again. Loss and delay are made with netem when the kernel has
# it; else loss with nftables (a random drop rule) and delay with a relay on the gateway's
# host that holds what crosses it 50 ms each way (tests/e2e/tools/fh_delay_relay.c), the
# gateway reaching each worker through its relay. Needs root and iproute2: skipped
# otherwise.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/remote_lib.sh"
source "$(dirname "$0")/netns_lib.sh"
netns_require
netns_hosts gw h1 h2

# What can make a bad link here.
netem=no
if ip netns exec "$NS_h1" tc qdisc add dev eth0 root netem delay 1ms 2>/dev/null; then
    ip netns exec "$NS_h1" tc qdisc del dev eth0 root
    netem=yes
fi
nft=no
command -v nft >/dev/null && ip netns exec "$NS_h1" nft add table inet probe 2>/dev/null &&
    ip netns exec "$NS_h1" nft delete table inet probe && nft=yes
[ "$netem" = yes ] || [ "$nft" = yes ] ||
    skip "this kernel has no sch_netem (tc: 'Specified qdisc kind is unknown') and there is no nftables to drop packets with"
[ "$netem" = yes ] || echo "# this kernel has no sch_netem: loss is made with nftables, delay with a relay"

bad_links() { # bad_links on|off: 10% loss each way on both worker hosts (and 20 ms delay with netem)
    local h
    for h in "$NS_h1" "$NS_h2"; do
        if [ "$1" = on ] && [ "$netem" = yes ]; then
            ip netns exec "$h" tc qdisc add dev eth0 root netem delay 20ms 5ms loss 10%
        elif [ "$1" = on ]; then
            ip netns exec "$h" nft add table inet lossy
            ip netns exec "$h" nft add chain inet lossy in '{ type filter hook input priority 0; }'
            ip netns exec "$h" nft add chain inet lossy out '{ type filter hook output priority 0; }'
            ip netns exec "$h" nft add rule inet lossy in iifname eth0 numgen random mod 10 '<' 1 counter drop
            ip netns exec "$h" nft add rule inet lossy out oifname eth0 numgen random mod 10 '<' 1 counter drop
        elif [ "$netem" = yes ]; then
            ip netns exec "$h" tc qdisc del dev eth0 root
        else
            ip netns exec "$h" nft delete table inet lossy
        fi
    done
}

docs() { local i; for i in $(seq 1 "$1"); do echo "{\"id\":\"d$i\",\"text\":\"$i\"}"; done; }
docs 200 >"$T/200.ndjson"
start_worker h1 ip netns exec "$NS_h1" -- --listen "tcp://$HOST_IP_h1:8081" --uses Ledger --uses-with "{\"ledger\": \"$T/h1.ledger\"}"
start_worker h2 ip netns exec "$NS_h2" -- --listen "tcp://$HOST_IP_h2:8081" --uses Ledger --uses-with "{\"ledger\": \"$T/h2.ledger\"}"
to_h1=$HOST_IP_h1:8081 to_h2=$HOST_IP_h2:8081
if [ "$netem" = no ]; then # delay: a relay per worker on the gateway's host
    ip netns exec "$NS_gw" "$TOOLS/fh_delay_relay" 127.0.0.1:9001 "$to_h1" 50 &
    REMOTE_PIDS+=($!)
    ip netns exec "$NS_gw" "$TOOLS/fh_delay_relay" 127.0.0.1:9002 "$to_h2" 50 &
    REMOTE_PIDS+=($!)
    to_h1=127.0.0.1:9001 to_h2=127.0.0.1:9002
fi
cat >"$T/flow.yml" <<YML
with: {timeout_ready: 10000}
executors:
  - {name: led, host: ["$to_h1", "$to_h2"], credit: 4}
YML
start_flow_on gw "$T/flow.yml"
post() {
    ip netns exec "$NS_gw" "$FLOWHOST" post /index "$T/200.ndjson" --to "$ADDR" --request-size 1 \
        -q --timeout 60000 --prefetch 16 --parameters '{"sleep_ms": 1}' >"$1" 2>/dev/null || true
}

bad_links on
started=$(date +%s%N)
post "$T/lossy.out"
took=$((($(date +%s%N) - started) / 1000000))
echo "# 200 requests over the bad links in $took ms"
check "bad links: every request answered once" "$(count_answers "$T/lossy.out")" "200 200"
n_err=$(jq -r 'select(.status.code != "SUCCESS") | .request_id' "$T/lossy.out" | wc -l | tr -d ' ')
echo "# bad links: $n_err of 200 requests failed"
check "bad links: a failure, if any, says why" \
      "$(jq -r 'select(.status.code != "SUCCESS") | .status.description' "$T/lossy.out" | grep -vc "executor 'led'" || true)" "0"
check "bad links: no request ran twice" \
      "$(cat "$T/h1.ledger" "$T/h2.ledger" | cut -d' ' -f1 | sort | uniq -d | wc -l | tr -d ' ')" "0"
if [ "$nft" = yes ] && [ "$netem" = no ]; then
    dropped=$(for h in "$NS_h1" "$NS_h2"; do ip netns exec "$h" nft list table inet lossy; done |
              grep -o 'packets [0-9]*' | awk '{s += $2} END {print s}')
    echo "# bad links: $dropped packets dropped"
    check "bad links: packets were lost" "$( [ "$dropped" -gt 0 ] && echo yes)" "yes"
fi
bad_links off
# Whatever the bad links cost, both workers are (back) in within the heartbeat bounds.
for _ in $(seq 1 300); do
    ip netns exec "$NS_gw" "$FLOWHOST" ping -q "$ADDR" && [ "$(grep -c 'is down until' "$T/run.log")" = \
        "$(grep -c 'is back' "$T/run.log")" ] && break
    sleep 0.05
done
# The gateway sends to the replica that would be done soonest: one slowed by the bad link
# gets its share again once its estimate is forgotten (1 s idle, dispatch.c).
sleep 1.2
post "$T/good.out"
if [ "$netem" = no ]; then # the relays stay: one request takes a round trip of 100 ms
    docs 1 >"$T/1.ndjson"
    started=$(date +%s%N)
    ip netns exec "$NS_gw" "$FLOWHOST" post /index "$T/1.ndjson" --to "$ADDR" -q >"$T/one.out"
    took=$((($(date +%s%N) - started) / 1000000))
    echo "# one request through a relay: $took ms"
    check "the links were slow: one request took 100 ms or more" "$([ "$took" -ge 100 ] && echo yes)" "yes"
fi
check "good links again: every request succeeds" "$(jq -r .status.code "$T/good.out" | sort | uniq -c | tr -s ' ')" " 200 SUCCESS"
check "good links again: both hosts serve" "$(jq -r ".routes[1].replica" "$T/good.out" | sort -u | tr "\n" " ")" "0 1 "
stop_flow
stop_workers
done_checks
