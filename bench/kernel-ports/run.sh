#!/usr/bin/env bash
# iperf3 between two network namespaces joined by the dataplane's kernel-interface
# ports (af-packet, af-xdp, tap), and by a Linux bridge for comparison. Prints a
# Markdown table of the figures. Needs root, iperf3, iproute2, ethtool and a release
# build with the drivers: cargo build --release -p dataplane --all-features
#
#   bench/kernel-ports/run.sh [SECONDS] > bench/results/kernel-ports.md
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-10}
DATAPLANE=${DATAPLANE:-target/release/dataplane}
WORK=$(mktemp -d)
RUN=0
MAC_A=02:00:00:5b:00:01 MAC_B=02:00:00:5b:00:02 IP_A=10.95.0.1 IP_B=10.95.0.2
DP_PID=

cleanup() {
  [ -n "$DP_PID" ] && kill "$DP_PID" 2>/dev/null && wait "$DP_PID" 2>/dev/null || true
  DP_PID=
  ip link del "${P}ah" 2>/dev/null || true
  ip link del "${P}bh" 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  ip link del "${P}br" 2>/dev/null || true
}
P=kpb$$r0 A= B=
trap 'cleanup; rm -rf "$WORK"' EXIT

# The namespaces' ends: MAC, address, up; offloads off when asked (the dataplane's
# ports need whole frames with their checksums, as from a wire).
configure() { # NS IFNAME MAC IP OFFLOADS(on|off)
  ip -n "$1" link set lo up
  ip -n "$1" link set "$2" address "$3"
  ip -n "$1" addr add "$4/24" dev "$2"
  [ "$5" = off ] && ip netns exec "$1" ethtool -K "$2" tx off >/dev/null
  ip -n "$1" link set "$2" up
}

veths() { # OFFLOADS
  for side in a b; do
    ip netns add "$P$side"
    ip link add "$P${side}h" type veth peer name "$P${side}p" netns "$P$side"
    sysctl -qw "net.ipv6.conf.$P${side}h.disable_ipv6=1"
    ip link set "$P${side}h" up
  done
  configure "$A" "${P}ap" $MAC_A $IP_A "$1"
  configure "$B" "${P}bp" $MAC_B $IP_B "$1"
}

topology() { # DRIVER IFNAME_A IFNAME_B
  cat > "$WORK/topology.toml" <<TOML
[node]
name = "bench"
[[ports]]
name = "a"
driver = "$1"
ifname = "$2"
[[ports]]
name = "b"
driver = "$1"
ifname = "$3"
[[networks]]
name = "net"
tenant = "t"
vni = 100
cidr = "10.95.0.0/24"
[[logical_ports]]
name = "lp-a"
network = "net"
mac = "$MAC_A"
ip = "$IP_A"
port = "a"
[[logical_ports]]
name = "lp-b"
network = "net"
mac = "$MAC_B"
ip = "$IP_B"
port = "b"
TOML
}

start_dataplane() {
  "$DATAPLANE" run --json --no-control --workers 1 --config "$WORK/topology.toml" \
    >"$WORK/dataplane.json" 2>"$WORK/dataplane.err" &
  DP_PID=$!
}

# Stops the dataplane; prints the frames its port b transmitted (toward B).
stop_dataplane() {
  kill -TERM "$DP_PID"; wait "$DP_PID" || true; DP_PID=
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ports"]["b"]["tx"])' \
    "$WORK/dataplane.json"
}

wait_ping() {
  for _ in $(seq 50); do
    ip netns exec "$A" busybox ping -c 1 -W 1 $IP_B >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "no ping through: $(cat "$WORK/dataplane.err")" >&2
  return 1
}

setup() { # MODE
  case $1 in
    bridge|bridge-offloads-off)
      veths "$([ "$1" = bridge ] && echo on || echo off)"
      ip link add "${P}br" type bridge
      ip link set "${P}ah" master "${P}br"
      ip link set "${P}bh" master "${P}br"
      ip link set "${P}br" up ;;
    af-packet|af-xdp)
      veths off
      topology "$1" "${P}ah" "${P}bh"
      start_dataplane ;;
    tap)
      ip netns add "$A"; ip netns add "$B"
      topology tap "${P}at" "${P}bt"
      start_dataplane
      for _ in $(seq 100); do [ -e "/sys/class/net/${P}bt" ] && break; sleep 0.05; done
      ip link set "${P}at" netns "$A"; ip link set "${P}bt" netns "$B"
      configure "$A" "${P}at" $MAC_A $IP_A on
      configure "$B" "${P}bt" $MAC_B $IP_B on ;;
  esac
  wait_ping
}

iperf() { # ARGS...: prints the iperf3 JSON of a client run from A to B
  ip netns exec "$B" iperf3 -s -1 -D --pidfile "$WORK/iperf.pid" >/dev/null
  sleep 0.3
  ip netns exec "$A" iperf3 -c $IP_B -t "$SECONDS_EACH" -J "$@"
  sleep 0.3
}

measure() { # MODE
  # A prefix of our own for namespaces and interfaces, new for each path.
  RUN=$((RUN + 1)); P=kpb$$r$RUN; A=${P}a; B=${P}b
  setup "$1"
  local tcp udp forwarded=-
  tcp=$(iperf)
  # All anew for the UDP run, so that the dataplane's counters are that run's.
  cleanup
  setup "$1"
  udp=$(iperf -u -l 18 -b 0)
  [ -n "$DP_PID" ] && forwarded=$(stop_dataplane)
  python3 - "$1" "$tcp" "$udp" "$forwarded" <<'PY'
import json, sys
mode, tcp, udp = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
gbps = tcp["end"]["sum_received"]["bits_per_second"] / 1e9
s = udp["end"]["sum"]
seconds = s["seconds"]
sent = s["packets"] / seconds
got = (s["packets"] - s["lost_packets"]) / seconds
fwd = "-" if sys.argv[4] == "-" else f"{int(sys.argv[4]) / seconds / 1e3:.0f}"
print(f"| {mode} | {gbps:.2f} | {sent/1e3:.0f} | {fwd} | {got/1e3:.0f} | {s['lost_percent']:.1f} |")
PY
  cleanup
}

echo "| path | TCP Gbit/s | UDP 64-byte frames sent by A, kpps | forwarded by the dataplane, kpps | received by B's socket, kpps | lost % |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for mode in ${MODES:-bridge bridge-offloads-off af-packet af-xdp tap}; do
  measure "$mode"
done
