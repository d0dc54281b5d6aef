#!/usr/bin/env bash
# Our dataplane on DPDK ports beside OVS-DPDK, on the same DPDK virtual-device I/O and
# the same input: the peer's own generator (../shared/peers/ovs-dpdk/gen_traffic.py:
# 64-byte UDP frames, one per flow, replayed round robin) read by net_pcap with
# infinite_rx, sent to net_null. One worker pinned to core 1, as the peer's PMD.
#
#   sudo bench/dpdk-vs-ovs.sh             # ours, then the peer's run.sh; ~10 minutes
#   RUNS=2 SCENARIOS="l2 snat" FLOW_COUNTS=65536 PEER=0 bench/dpdk-vs-ovs.sh
#
# Scenarios (ours; the peer's closest in brackets):
#   l2          L2 forwarding to a logical port on the tx port     [fwd, fwd_l3]
#   snat        distributed SNAT out of the uplink (routed: TTL-1,  [snat]
#               gateway MAC; the peer's rewrites the source only)
#   vxlan       L2 to a logical port on another chassis: VXLAN     [vxlan]
#   snat_vxlan  not measured: our SNAT leaves by the uplink unencapsulated; the
#               design has no path that translates and then tunnels [snat_vxlan]
#
# Figures: Mpps is the tx port's counter over the window by wall clock; cycles/pkt
# is the worker's TSC cycles (busy + idle, from the metrics endpoint) per packet it
# received over the same window; with --busy-poll on its own core it never sleeps.
# Writes bench/results/dpdk-vs-ovs.md. Knobs: RUNS WARMUP WINDOW FLOW_COUNTS
# SCENARIOS PEER(0: skip the peer) PEER_SCENARIOS WORK SKIP_BUILD(1: use target/release as is).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEER_DIR=${PEER_DIR:-$ROOT/../shared/peers/ovs-dpdk}
[[ -d $PEER_DIR ]] || PEER_DIR=/work/shared/peers/ovs-dpdk
RUNS=${RUNS:-1}
WARMUP=${WARMUP:-3}
WINDOW=${WINDOW:-10}
FLOW_COUNTS=${FLOW_COUNTS:-"1 65536"}
SCENARIOS=${SCENARIOS:-"l2 snat vxlan"}
PEER=${PEER:-1}
PEER_SCENARIOS=${PEER_SCENARIOS:-"raw fwd fwd_l3 snat vxlan snat_vxlan"}
WORK=${WORK:-${TMPDIR:-/tmp}/dpdk-vs-ovs}
HUGEPAGES=1024
HUGEDIR=/dev/hugepages
METRICS_PORT=${METRICS_PORT:-19181}
OUT=$ROOT/bench/results/dpdk-vs-ovs.md
BIN=$ROOT/target/release/dataplane

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

ORIG_HUGEPAGES=""; MOUNTED_HUGEDIR=0; DP_PID=""
cleanup() {
    set +e
    if [[ -n $DP_PID ]]; then kill -TERM "$DP_PID" 2>/dev/null; wait "$DP_PID" 2>/dev/null; fi
    ((MOUNTED_HUGEDIR)) && umount "$HUGEDIR"
    [[ -n $ORIG_HUGEPAGES ]] && echo "$ORIG_HUGEPAGES" > /proc/sys/vm/nr_hugepages
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $(id -u) -eq 0 ]] || die "must run as root (hugepages)"
(( $(nproc --all) >= 2 )) || die "needs 2 CPUs: core 0 control, core 1 the worker"
mkdir -p "$WORK" "$ROOT/bench/results"

if [[ -z ${SKIP_BUILD:-} ]]; then
    log "building the dataplane with DPDK ports (release)"
    (cd "$ROOT" && cargo build --release -q -p dataplane --features dpdk)
fi
[[ -x $BIN ]] || die "$BIN missing: build with cargo build --release -p dataplane --features dpdk"


cur=$(cat /proc/sys/vm/nr_hugepages)
if (( cur < HUGEPAGES )); then ORIG_HUGEPAGES=$cur; echo "$HUGEPAGES" > /proc/sys/vm/nr_hugepages; fi
if ! mountpoint -q "$HUGEDIR"; then
    mkdir -p "$HUGEDIR"; mount -t hugetlbfs -o pagesize=2M nodev "$HUGEDIR"; MOUNTED_HUGEDIR=1
fi

for n in $FLOW_COUNTS; do
    [[ -s $WORK/flows$n.pcap ]] || python3 "$PEER_DIR/gen_traffic.py" --flows "$n" --out "$WORK/flows$n.pcap"
done
[[ -s $WORK/validate.pcap ]] ||
    python3 "$PEER_DIR/gen_traffic.py" --flows 65536 --primer 20000 --out "$WORK/validate.pcap"

# topology SCENARIO RX_DEVARGS TX_DEVARGS: the peer's addresses (clients 10.0.0.0/16
# behind MAC 02:00:00:00:00:01, server 198.51.100.10 behind 02:00:00:00:00:02, VTEP
# 192.0.2.1 -> 192.0.2.12 with MAC 02:00:00:00:02:02, VNI 100, SNAT to 203.0.113.11).
topology() {
    local scn=$1 rx=$2 tx=$3 server router=false
    case $scn in
    l2)    server='port = "out"' ;;
    vxlan) server='chassis = "compute-2"' ;;
    snat)  server=""; router=true ;;
    *) die "unknown scenario $scn" ;;
    esac
    # The uplink hosts no logical port: in l2 the tx port is a VM's, and there is none.
    if [[ $scn == l2 ]]; then
        printf '[node]\nname = "bench"\n'
    else
        cat <<EOF
[node]
name = "bench"
vtep_ip = "192.0.2.1"
uplink = "out"
uplink_mac = "02:00:00:00:01:01"
external_ip = "203.0.113.11"
external_gateway_ip = "203.0.113.1"
external_gateway_mac = "02:00:cb:00:71:01"
snat_port_range = [1024, 65535]

[[chassis]]
name = "compute-2"
vtep_ip = "192.0.2.12"
mac = "02:00:00:00:02:02"
EOF
    fi
    cat <<EOF

[conntrack]
max_connections = 131072

[dpdk]
lcores = "0"
memory_mb = 1024
mbufs = 262143
mbuf_cache = 256
args = ["--log-level=lib.eal:warning"]

[[ports]]
name = "in"
driver = "dpdk"
devargs = "$rx"

[[ports]]
name = "out"
driver = "dpdk"
devargs = "$tx"

[[networks]]
name = "net"
tenant = "t"
vni = 100
cidr = "10.0.0.0/16"
gateway_ip = "10.0.255.254"

[[logical_ports]]
name = "clients"
network = "net"
mac = "02:00:00:00:00:01"
port = "in"
port_security = false
EOF
    if [[ $router == true ]]; then
        printf '\n[[routers]]\nname = "r"\ntenant = "t"\nmac = "02:00:00:00:00:02"\nnetworks = ["net"]\nsnat = true\n'
    else
        printf '\n[[logical_ports]]\nname = "server"\nnetwork = "net"\nmac = "02:00:00:00:00:02"\n%s\nport_security = false\n' "$server"
    fi
}

# Starts the dataplane on a topology; it runs until stop_dataplane.
start_dataplane() {  # start_dataplane TOPOLOGY LOG
    rm -f "$WORK/ctl.sock"
    taskset -c 0,1 "$BIN" run --config "$1" --workers 1 --cores 1 --busy-poll \
        --control-socket "$WORK/ctl.sock" --metrics "127.0.0.1:$METRICS_PORT" \
        > "$2" 2>&1 &
    DP_PID=$!
    local i
    for i in $(seq 300); do
        curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" > /dev/null 2>&1 && return 0
        kill -0 "$DP_PID" 2>/dev/null || die "dataplane died, see $2"
        sleep 0.1
    done
    die "dataplane did not come up, see $2"
}

stop_dataplane() {
    kill -TERM "$DP_PID" 2>/dev/null || true
    wait "$DP_PID" 2>/dev/null || true
    DP_PID=""
}

# "time tx_packets_of_out worker_cycles worker_rx worker_cpu_ns": the metrics endpoint
# and the worker thread's CPU time (/proc schedstat), which tells how much of its core
# it had on this shared machine.
sample() {
    local now cpu=0 task
    now=$(date +%s.%N)
    for task in /proc/"$DP_PID"/task/*; do
        [[ $(cat "$task/comm" 2>/dev/null) == worker-0 ]] && cpu=$(awk '{ print $1 }' "$task/schedstat")
    done
    curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v now="$now" -v cpu="$cpu" '
        /^dataplane_port_tx_packets_total\{port="out"\}/ { tx = $2 }
        /^dataplane_worker_busy_cycles_total\{worker="0"\}/ { busy = $2 }
        /^dataplane_worker_idle_cycles_total\{worker="0"\}/ { idle = $2 }
        /^dataplane_worker_rx_packets_total\{worker="0"\}/ { rx = $2 }
        END { printf "%s %s %s %s %s\n", now, tx, busy + idle, rx, cpu }'
}

# One-shot validation: the primer + 65,536 flows once, tx into a pcap, checked by
# the peer's own check_output.py (which expects the peer's SNAT: see RESULTS).
validate() {  # validate SCENARIO
    local scn=$1 cap=$WORK/validate-$1.pcap prev=-1 cur i
    rm -f "$cap"
    topology "$scn" "net_pcap0,rx_pcap=$WORK/validate.pcap" "net_pcap1,tx_pcap=$cap" > "$WORK/validate-$scn.toml"
    start_dataplane "$WORK/validate-$scn.toml" "$WORK/validate-$scn.log"
    for i in $(seq 150); do
        sleep 0.2
        cur=$(sample | awk '{ print $2 }')
        [[ $cur == "$prev" && ${cur:-0} != 0 ]] && break
        prev=$cur
    done
    stop_dataplane
    local peer_name=$scn; [[ $scn == l2 ]] && peer_name=fwd
    echo "$scn: $(python3 "$PEER_DIR/check_output.py" "$peer_name" "$WORK/validate.pcap" "$cap" 2>&1 | tail -1)" >> "$WORK/validate.txt"
    log "validate $scn: $(tail -1 "$WORK/validate.txt")"
}

measure() {  # measure SCENARIO FLOWS RUN
    local scn=$1 n=$2 r=$3 t=$WORK/$1-$2.toml s0 s1
    topology "$scn" "net_pcap0,rx_pcap=$WORK/flows$n.pcap,infinite_rx=1" "net_null1,no-rx=1" > "$t"
    start_dataplane "$t" "$WORK/$scn-$n-r$r.log"
    sleep "$WARMUP"
    s0=$(sample); sleep "$WINDOW"; s1=$(sample)
    stop_dataplane
    # Columns: run scenario flows Mpps(wall) cycles/pkt(wall) Mpps(per CPU second)
    #          cycles/pkt(CPU) core_share; the TSC rate is the worker's cycles over wall time.
    echo "$r $scn $n $s0 $s1" | awk '{
        dt = $9 - $4; tx = $10 - $5; cyc = $11 - $6; rx = $12 - $7; cpu = ($13 - $8) / 1e9
        hz = cyc / dt
        printf "%s\t%s\t%s\t%.3f\t%.0f\t%.3f\t%.0f\t%.2f\n", $1, $2, $3, tx / dt / 1e6,
            (rx > 0 ? cyc / rx : 0), (cpu > 0 ? tx / cpu / 1e6 : 0),
            (rx > 0 ? cpu * hz / rx : 0), cpu / dt
    }' >> "$WORK/ours.tsv"
    log "ours $scn flows=$n run=$r: $(tail -1 "$WORK/ours.tsv" | cut -f4-8 | tr '\t' ' ') (Mpps, cycles/pkt; per CPU: Mpps, cycles/pkt; core share)"
}

started=$SECONDS
rm -f "$WORK/ours.tsv" "$WORK/validate.txt"
for s in $SCENARIOS; do validate "$s"; done
for r in $(seq "$RUNS"); do
    for s in $SCENARIOS; do
        for n in $FLOW_COUNTS; do measure "$s" "$n" "$r"; done
    done
done
ours_time=$((SECONDS - started))

peer_time=0
if ((PEER)); then
    log "the peer: $PEER_DIR/run.sh"
    # Our hugepage mount and reservation stay until we exit; the peer sees them taken.
    started=$SECONDS
    WORK="$WORK/ovs" RUNS="$RUNS" WARMUP="$WARMUP" WINDOW="$WINDOW" FLOW_COUNTS="$FLOW_COUNTS" \
        SCENARIOS="$PEER_SCENARIOS" bash "$PEER_DIR/run.sh" > "$WORK/peer.log" 2>&1 ||
        log "the peer's run.sh failed: see $WORK/peer.log"
    peer_time=$((SECONDS - started))
fi

python3 - "$WORK/ours.tsv" "$WORK/ovs/results/results.tsv" "$WORK/validate.txt" \
    "$OUT" "$RUNS" "$WARMUP" "$WINDOW" "$ours_time" "$peer_time" "$(cd "$ROOT" && git rev-parse --short HEAD)" <<'EOF'
import collections, os, statistics, subprocess, sys, time
ours_tsv, peer_tsv, validate_txt, out, runs, warmup, window, ours_time, peer_time, commit = sys.argv[1:]
def rows(path, key_cols, val_cols):
    table = collections.defaultdict(list)
    if not os.path.exists(path):
        return table
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if f[0] == "run":
            continue
        table[tuple(f[c] for c in key_cols)].append(tuple(f[c] for c in val_cols))
    return table
ours = rows(ours_tsv, (1, 2), (3, 4, 5, 6, 7))
peer = rows(peer_tsv, (1, 2), (3, 7))
def fig(values, i):
    xs = [float(v[i]) for v in values if v[i] not in ("-", "")]
    return statistics.mean(xs) if xs else None
fmt = lambda x, spec: "-" if x is None else format(x, spec)
pairs = [("l2", "fwd"), ("l2", "fwd_l3"), ("snat", "snat"), ("vxlan", "vxlan"), (None, "snat_vxlan")]
flows = sorted({k[1] for k in list(ours) + list(peer)}, key=int)
load = open("/proc/loadavg").read().split()[:3]
lines = [
    "# Our dataplane on DPDK ports beside OVS-DPDK",
    "",
    f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at commit {commit} by `sudo bench/dpdk-vs-ovs.sh` "
    f"(ours {ours_time} s, the peer's run.sh {peer_time} s). {runs} run(s) per cell, {warmup} s warm-up, {window} s window; "
    "the mean of the runs is shown.",
    "",
    "Same I/O for both: net_pcap reading the peer's pcap in a loop (`infinite_rx=1`: the PMD allocates an mbuf and copies each "
    "frame), net_null (`no-rx=1`) freeing what is sent; 64-byte UDP frames from gen_traffic.py, one per flow, round robin. "
    "One worker (ours) or PMD (OVS) busy-polling on core 1; everything else on core 0. Ours: Mpps from the tx port's counter "
    "over the window by wall clock; cycles/pkt is the worker's TSC cycles per received packet (it never sleeps), "
    "so both count the time the worker waited for its core; 'per CPU s' and 'CPU cycles/pkt' divide by the worker "
    "thread's own CPU time (/proc schedstat) instead, and 'core share' is how much of its core it had. "
    "OVS: the peer's own figures (tx counter; `pmd-perf-show` cycles). `raw` is dpdk-testpmd io forwarding on the same I/O, "
    "the limit of this I/O.",
    "",
    f"Machine: {os.cpu_count()} vCPUs, load average at the end {' '.join(load)}. It is a shared VM where other builds run "
    "at the same time: read differences below about 20 % as noise.",
    "",
    "| scenario (ours / OVS) | flows | ours Mpps | ours cycles/pkt | ours Mpps per CPU s | ours CPU cycles/pkt | ours core share | OVS Mpps | OVS cycles/pkt | ours / OVS (Mpps) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for n in flows:
    raw = peer.get(("raw", n), [])
    if raw:
        lines.append(f"| raw (testpmd io) | {int(n):,} | | | | | | {fmt(fig(raw, 0), '.2f')} | {fmt(fig(raw, 1), '.0f')} | |")
    for mine, theirs in pairs:
        o = ours.get((mine, n), []) if mine else []
        p = peer.get((theirs, n), [])
        om, pm = fig(o, 0), fig(p, 0)
        ratio = f"{om / pm:.2f}" if om and pm else "-"
        name = f"{mine or 'not measured'} / {theirs}"
        lines.append(f"| {name} | {int(n):,} | {fmt(om, '.2f')} | {fmt(fig(o, 1), '.0f')} | {fmt(fig(o, 2), '.2f')} | {fmt(fig(o, 3), '.0f')} | {fmt(fig(o, 4), '.2f')} | {fmt(pm, '.2f')} | {fmt(fig(p, 1), '.0f')} | {ratio} |")
lines += ["", "Validation (one pass of the primer and 65,536 flows, checked by the peer's check_output.py):", ""]
if os.path.exists(validate_txt):
    lines += [f"- {l.strip()}" for l in open(validate_txt) if l.strip()]
lines += [
    "",
    "Differences in what is measured:",
    "",
    "- `l2` is our L2 forwarding (ingress parse, logical port and network lookup, MAC table); OVS's `fwd` matches only "
    "`in_port` (its simple-match table), `fwd_l3` one more field (EMC and megaflow path).",
    "- `snat` is our distributed SNAT: routed (TTL decremented, the uplink's and the gateway's MACs), connection tracked "
    "per worker; the peer's check_output.py expects OVS's SNAT, which rewrites the source address and port only, so it "
    "reports our frames as changed beyond that.",
    "- `snat_vxlan` is not measured for ours: north-south traffic leaves the uplink unencapsulated by design.",
    "- Ours polls the tx port's queue too (net_null with no-rx receives nothing).",
]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
log "written $OUT"
