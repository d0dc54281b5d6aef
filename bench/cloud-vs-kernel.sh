#!/usr/bin/env bash
# The namespace test cloud (scripts/cloud-netns.sh) on the dataplane and on the Linux
# kernel's own datapath, measured with the same iperf3 runs: TCP and 64-byte UDP, one
# and eight streams, over three paths (VM to VM across the nodes over VXLAN; the same
# through the service function chain; VM to the internet through SNAT). Writes the
# table and the ratios to bench/results/cloud-vs-kernel.md.
#
#   bench/cloud-vs-kernel.sh [SECONDS-PER-RUN]     (root; default 5 s)
#   MODES=kernel bench/cloud-vs-kernel.sh           one side only
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_RUN=${1:-5}
P=cvk$$
WORK=$(mktemp -d /tmp/cloud-vs-kernel.XXXXXX)
OUT=bench/results/cloud-vs-kernel.md
RESULTS=$WORK/results.tsv
MODES=${MODES:-kernel kernel-no-offload dataplane}

cleanup() {
  scripts/cloud-netns.sh down "$P"
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$P-probe" 2>/dev/null || {
  echo "cannot create network namespaces (not root?): nothing measured" >&2
  exit 2
}
ip netns del "$P-probe"

if [[ " $MODES " = *" dataplane "* ]]; then
  echo "== building the dataplane (release, af-packet)"
  cargo build -q --release -p dataplane --features af-packet
fi
DATAPLANE=$ROOT/target/release/dataplane
DPCTL=$ROOT/target/release/dpctl

nx() { ip netns exec "$P-$1" "${@:2}"; }

# Waits until every address answers a ping from the namespace (ARP, chassis and gateway
# resolution happen on the first packets).
reach() { # reach NS ADDRESS...
  local ns=$1 address
  shift
  for address in "$@"; do
    for _ in $(seq 50); do
      nx "$ns" busybox ping -c1 -W1 "$address" >/dev/null 2>&1 && continue 2
      sleep 0.2
    done
    echo "$ns cannot reach $address" >&2
    return 1
  done
}

start_dataplane() {
  for node in 1 2; do
    nx "c$node" "$DATAPLANE" run --config "$WORK/compute-$node.toml" --workers 1 \
      --control-socket "$WORK/c$node.sock" >"$WORK/dataplane-$node.log" 2>&1 &
  done
  for node in 1 2; do
    for _ in $(seq 100); do
      "$DPCTL" --socket "$WORK/c$node.sock" stats >/dev/null 2>&1 && continue 2
      sleep 0.1
    done
    echo "dataplane on compute-$node did not start:" >&2
    cat "$WORK/dataplane-$node.log" >&2
    return 1
  done
}

# One iperf3 run from green-vm1; prints "bits/s packets/s" as the receiver counted them.
iperf() { # iperf SERVER-NS ADDRESS PORT ARGS...
  local server=$1 address=$2 port=$3
  shift 3
  nx "$server" iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
  local server_pid=$!
  for _ in $(seq 50); do
    nx "$server" ss -Hltn "sport = :$port" | grep -q . && break
    sleep 0.1
  done
  nx g1 iperf3 -c "$address" -p "$port" -t "$SECONDS_PER_RUN" -J "$@" >"$WORK/run.json" || true
  wait "$server_pid" || true
  python3 - "$WORK/run.json" <<'EOF'
import json, sys
run = json.load(open(sys.argv[1]))
if "error" in run:
    print("error error")
    sys.exit()
end = run["end"]
received = end["sum_received"]
if run["start"]["test_start"]["protocol"] == "TCP":
    print(f'{received["bits_per_second"]:.0f} -')
else:
    packets = received["packets"] - received["lost_packets"]
    seconds = received["seconds"]
    print(f'{received["bytes"] * 8 / seconds:.0f} {packets / seconds:.0f}')
EOF
}

measure() { # measure MODE
  local mode=$1
  for path in "east-west g2 10.0.0.9 5201" "chain g2 10.0.0.9 80" "snat inet 198.51.100.10 5201"; do
    set -- $path
    for test in tcp-1 tcp-8 udp64-1 udp64-8; do
      local args=()
      case $test in
        tcp-1) args=() ;;
        tcp-8) args=(-P 8) ;;
        udp64-1) args=(-u -l 64 -b 0) ;;
        udp64-8) args=(-u -l 64 -b 0 -P 8) ;;
      esac
      # The chain steers TCP to port 80 only.
      [ "$1" = chain ] && [ "${test%%-*}" = udp64 ] && continue
      local figures
      figures=$(iperf "$2" "$3" "$4" "${args[@]}")
      echo "$mode $1 $test $figures" | tee -a "$RESULTS"
    done
  done
}

: >"$RESULTS"
for mode in $MODES; do
  echo "== $mode"
  scripts/cloud-netns.sh up "$P" "$WORK" "$mode"
  [ "$mode" = dataplane ] && start_dataplane
  reach g1 10.0.0.9 198.51.100.10
  measure "$mode"
  scripts/cloud-netns.sh down "$P"
done

python3 - "$RESULTS" "$SECONDS_PER_RUN" >"$OUT" <<'EOF'
import sys, collections, platform, os
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    mode, path, test, bps, pps = line.split()
    rows.setdefault((path, test), {})[mode] = (bps, pps)

def figure(bps, pps):
    if bps == "error":
        return "failed"
    text = f"{float(bps) / 1e9:.2f} Gbit/s"
    if pps != "-":
        text += f", {float(pps) / 1e3:.0f} kpps"
    return text

def ratio(k, d):
    if "error" in (k[0], d[0]):
        return "-"
    i = 1 if k[1] != "-" else 0
    return f"{float(d[i]) / float(k[i]):.2f}"

def side(modes, mode):
    return modes.get(mode, ("error", "-"))

print("# The namespace cloud: dataplane vs the Linux kernel's datapath\n")
print("Written by `bench/cloud-vs-kernel.sh` (the cloud: `scripts/cloud-netns.sh`). "
      f"iperf3 from green-vm1 on compute-1, {sys.argv[2]} s per run, what the receiver "
      "counted. Paths: **east-west** to green-vm2 on compute-2 (VXLAN); **chain** the same "
      "to port 80, steered through the service function namespace (which forwards "
      "IP in its kernel); **snat** to the internet namespace through the node's SNAT and "
      "the external gateway. Ratios: dataplane / kernel (TCP: bits per second; UDP: received packets per second).\n")
print(f"Machine: {os.cpu_count()} cores, kernel {platform.release()}; shared with other builds "
      f"(load average {os.getloadavg()[0]:.1f} when written: the figures are noisy).\n")
print("| path | run | kernel | kernel, offloads off | dataplane | ratio to kernel | "
      "ratio to kernel, offloads off |")
print("|---|---|---|---|---|---|---|")
for (path, test), modes in rows.items():
    k, n, d = (side(modes, m) for m in ("kernel", "kernel-no-offload", "dataplane"))
    print(f"| {path} | {test} | {figure(*k)} | {figure(*n)} | {figure(*d)} | "
          f"{ratio(k, d)} | {ratio(n, d)} |")
print("""
How each side runs:

- **kernel**: per tenant a Linux bridge with the VM's veth and a VXLAN device (the
  router's MAC and gateway address on the bridge), policy routing per tenant, nftables
  SNAT with conntrack zones, the chain by an nftables netdev rule on the VM's port.
  Offloads at their defaults (checksum offload, GSO/GRO: the kernel's own strength), and
  again with them off on every veth as the dataplane has them ("offloads off"); VM MTU
  1450 (a bridge cannot send the ICMP too-big a 1500-byte VM would need).
- **dataplane**: two `dataplane run --workers 1` (one per node, not busy-polling: the
  idle backoff sleeps), every port AF_PACKET on a veth; checksum and segmentation
  offloads off on the veths (AF_PACKET frames must be complete); VM MTU 1500, the
  dataplane's ICMP too-big brings TCP to the overlay's 1450.
- Both on the same 2 cores as the iperf3 client and server.
""")
EOF
echo "== written $OUT"
cat "$OUT"
