#!/usr/bin/env bash
# Check every pcap fixture scenario with tshark:
#  - every pcap (in/ and expected/) is a classic pcap, microsecond, linktype Ethernet,
#    and tshark reads it without error;
#  - tshark reports no malformed packet (_ws.malformed, "Malformed Packet") in any
#    file, except the inputs of the `malformed` and `vxlan-truncated` scenarios and the
#    hostile DHCP and neighbour discovery inputs (dhcp/in/vm2, ndisc/in/vm5), which
#    are broken on purpose;
#  - every pcap is named after a port of the scenario's topology;
#  - expected/counters.json has rx, tx, drops; rx = frames in in/, tx = frames in
#    expected/, drops lists non-zero counts only and sum(drops) <= rx (= rx when
#    nothing is transmitted);
#  - expected/ holds nothing but PORT.pcap files and counters.json.
# Usage: pcap-fixtures/validate.sh (from any directory). Exit status 0 when all pass.
set -u
cd "$(dirname "$0")" || exit 2

command -v tshark >/dev/null || { echo "tshark not found" >&2; exit 2; }

errf=$(mktemp)
trap 'rm -f "$errf"' EXIT
fail=0
files=0
err() { echo "FAIL: $*"; fail=1; }

for topo in */topology.toml; do
    sc=${topo%/topology.toml}
    [ -f "$sc/expected/counters.json" ] || err "$sc: expected/counters.json missing"
    rx=0
    tx=0
    for f in "$sc"/in/*.pcap "$sc"/expected/*.pcap; do
        [ -e "$f" ] || continue
        files=$((files + 1))
        port=$(basename "$f" .pcap)
        grep -qx "name = \"$port\"" "$topo" || err "$f: no port \"$port\" in $topo"

        # Header: magic a1b2c3d4 (written little endian: d4 c3 b2 a1), linktype 1.
        hdr=$(od -An -tx1 -N24 "$f" | tr -d ' \n')
        [ "${hdr:0:8}" = "d4c3b2a1" ] || err "$f: not a little-endian microsecond pcap (magic ${hdr:0:8})"
        [ "${hdr:40:8}" = "01000000" ] || err "$f: linktype is not Ethernet (${hdr:40:8})"

        # tshark must read the whole file; one line per frame: number, _ws.malformed.
        if ! fields=$(tshark -r "$f" -T fields -e frame.number -e _ws.malformed 2>"$errf"); then
            err "$f: tshark cannot read it: $(grep -v 'Running as user' "$errf")"
            continue
        fi
        n=$(printf '%s' "$fields" | grep -c .)
        case "$f" in
            */in/*) rx=$((rx + n)) ;;
            */expected/*) tx=$((tx + n)) ;;
        esac

        # Malformed packets, except in the malformed scenario's inputs.
        case "$f" in malformed/in/* | vxlan-truncated/in/* | dhcp/in/vm2.pcap | ndisc/in/vm5.pcap) continue ;; esac
        bad=$(printf '%s\n' "$fields" | awk -F '\t' '$2 != "" { printf "%s ", $1 }')
        [ -z "$bad" ] || err "$f: malformed packet(s) (_ws.malformed), frame numbers: $bad"
        if tshark -r "$f" -V 2>/dev/null | grep -q "Malformed Packet"; then
            err "$f: tshark -V reports \"Malformed Packet\""
        fi
    done

    # Nothing but PORT.pcap and counters.json under expected/.
    for f in "$sc"/expected/*; do
        case "$f" in
            *.pcap | */counters.json) ;;
            *) err "$f: unexpected file in expected/" ;;
        esac
    done

    if [ -f "$sc/expected/counters.json" ]; then
        if ! msg=$(python3 - "$sc/expected/counters.json" "$rx" "$tx" <<'EOF'
import json, sys
path, rx, tx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = json.load(open(path))
errors = []
if set(c) != {"rx", "tx", "drops"}:
    errors.append(f"keys {sorted(c)} != rx, tx, drops")
if c.get("rx") != rx:
    errors.append(f"rx {c.get('rx')} != {rx} frames in in/")
if c.get("tx") != tx:
    errors.append(f"tx {c.get('tx')} != {tx} frames in expected/")
drops = c.get("drops", {})
if any(not isinstance(v, int) or v <= 0 for v in drops.values()):
    errors.append(f"drops must list non-zero counts only: {drops}")
if sum(drops.values()) > rx:
    errors.append(f"more drops than received frames")
if tx == 0 and sum(drops.values()) != rx:
    errors.append(f"nothing transmitted, but drops {sum(drops.values())} != rx {rx}")
print("; ".join(errors))
sys.exit(1 if errors else 0)
EOF
        ); then
            err "$sc/expected/counters.json: $msg"
        fi
    fi
    echo "$sc: rx $rx tx $tx ($(tr -d ' \n' <"$sc/expected/counters.json"))"
done

# Multi-node scenarios (vxlan-two-node/node-*/): each node folder has a topology and
# its VMs' pcaps; the underlay between the nodes is produced by the test. Check that
# tshark reads every pcap without a malformed packet.
for topo in */node-*/topology.toml; do
    [ -e "$topo" ] || continue
    node=${topo%/topology.toml}
    for f in "$node"/in/*.pcap "$node"/expected/*.pcap; do
        [ -e "$f" ] || continue
        files=$((files + 1))
        port=$(basename "$f" .pcap)
        grep -qx "name = \"$port\"" "$topo" || err "$f: no port \"$port\" in $topo"
        if ! fields=$(tshark -r "$f" -T fields -e frame.number -e _ws.malformed 2>"$errf"); then
            err "$f: tshark cannot read it: $(grep -v 'Running as user' "$errf")"
            continue
        fi
        bad=$(printf '%s\n' "$fields" | awk -F '\t' '$2 != "" { printf "%s ", $1 }')
        [ -z "$bad" ] || err "$f: malformed packet(s) (_ws.malformed), frame numbers: $bad"
    done
    echo "$node: $(ls "$node"/in "$node"/expected | grep -c pcap) pcaps"
done

if [ "$files" -eq 0 ]; then
    err "no pcap found (run generate.py first)"
fi
if [ "$fail" -ne 0 ]; then
    echo "validate: FAILED"
    exit 1
fi
echo "validate: OK ($files pcap files)"
