#!/usr/bin/env bash
# Throughput testpmd -> dataplane -> testpmd over two vhost-user ports (L2).
#
# testpmd (virtio-user, no huge pages) holds both VMs' ports in io mode on CPU 0:
# whatever vm2 receives leaves by vm1 and the reverse, with BURSTS bursts of 32
# frames (64 bytes) per port put in flight at the start; the dataplane runs one
# worker pinned to CPU 1. The rate is the dataplane's receive counter over both
# ports (each frame crosses the dataplane once), read with dpctl over DURATION s.
#
# usage: bench/vhost-user/run.sh [BURSTS] [DURATION]   (needs dpdk-testpmd, root)
set -euo pipefail
cd "$(dirname "$0")/../.."
BURSTS=${1:-8}
DURATION=${2:-10}
work=$(mktemp -d)
prefix="dpvh-bench-$$"
cleanup() {
  [ -n "${tp_pid:-}" ] && kill -9 "$tp_pid" 2>/dev/null || true
  [ -n "${dp_pid:-}" ] && kill "$dp_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work" "/var/run/dpdk/$prefix"
}
trap cleanup EXIT

cargo build --release -q -p dataplane
cat > "$work/topology.toml" <<TOML
[node]
name = "bench"

[[ports]]
name = "vm1"
driver = "vhost-user"
socket = "$work/vm1.sock"

[[ports]]
name = "vm2"
driver = "vhost-user"
socket = "$work/vm2.sock"

[[networks]]
name = "net"
tenant = "t"
vni = 1
cidr = "10.0.0.0/24"

[[logical_ports]]
name = "lp1"
network = "net"
mac = "fa:16:3e:00:01:01"
ip = "10.0.0.5"
port = "vm1"
port_security = false

[[logical_ports]]
name = "lp2"
network = "net"
mac = "fa:16:3e:00:01:02"
ip = "10.0.0.6"
port = "vm2"
port_security = false
TOML

target/release/dataplane run --config "$work/topology.toml" --workers 1 --cores 1 --busy-poll \
  --control-socket "$work/control.sock" 2>"$work/dataplane.log" &
dp_pid=$!
while [ ! -S "$work/vm2.sock" ]; do sleep 0.1; done

mkfifo "$work/cmd"
stdbuf -o0 dpdk-testpmd --lcores '0@0,1@0' --no-pci --no-huge -m 512 --file-prefix "$prefix" \
  --vdev "net_virtio_user0,path=$work/vm1.sock,mac=fa:16:3e:00:01:01" \
  --vdev "net_virtio_user1,path=$work/vm2.sock,mac=fa:16:3e:00:01:02" \
  -- -i --total-num-mbufs=16384 --eth-peer=0,fa:16:3e:00:01:02 --eth-peer=1,fa:16:3e:00:01:01 \
  --tx-ip=10.0.0.5,10.0.0.6 <"$work/cmd" >"$work/testpmd.log" 2>&1 &
tp_pid=$!
exec 3>"$work/cmd"
until grep -q "link up port=vm2" "$work/dataplane.log" && grep -q "link up port=vm1" "$work/dataplane.log"; do
  sleep 0.1
done
echo "set fwd io" >&3
echo "start tx_first $BURSTS" >&3
sleep 2

rx_total() {
  target/release/dpctl --socket "$work/control.sock" port show -o json |
    python3 -c 'import json,sys; print(sum(int(p.get("rx_packets", 0)) for p in json.load(sys.stdin)))'
}
start=$(rx_total); t0=$(date +%s.%N)
sleep "$DURATION"
end=$(rx_total); t1=$(date +%s.%N)
echo "stop" >&3
python3 - "$start" "$end" "$t0" "$t1" <<PY
import sys
start, end, t0, t1 = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
mpps = (end - start) / (t1 - t0) / 1e6
print(f"frames through the dataplane: {end - start} in {t1 - t0:.1f} s = {mpps:.3f} Mpps on 1 worker core")
PY
echo "quit" >&3
