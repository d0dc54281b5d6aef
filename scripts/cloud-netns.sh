#!/usr/bin/env bash
# A two-node test cloud in network namespaces, built on the dataplane or on the Linux
# kernel's own datapath (the same namespaces, addresses and MACs either way).
#
#   cloud-netns.sh up PREFIX DIR MODE   build it; MODE:
#     dataplane          DIR/compute-N.toml are the nodes' topologies (AF_PACKET ports);
#                        the caller starts the daemons in PREFIX-c1 and PREFIX-c2
#     kernel             the kernel's datapath in PREFIX-c1 and PREFIX-c2
#     kernel-no-offload  the same with the veths' offloads off, as the dataplane has them
#   cloud-netns.sh down PREFIX                      stop what runs in it and delete it
#
# Namespaces (all named PREFIX-*, so parallel runs never collide):
#   under      the underlay segment: bridge br0 joining c1, c2 and gw
#   c1, c2     compute-1 and compute-2: ports uplink, vm1 (green), vm2 (orange); c1 also
#              fwin1, fwout1, fwin2, fwout2 (the service function's)
#   g1, o1     green and orange VMs on compute-1, both 10.0.0.5
#   g2, o2     green and orange VMs on compute-2, both 10.0.0.9
#   sf         a service function on compute-1 forwarding IP: in1 -> out1 (pair fw1) and
#              in2 -> out2 (pair fw2), by policy routing
#   gw         the external gateway 203.0.113.1, routing to
#   inet       "the internet": 198.51.100.10
set -Eeuo pipefail

usage() {
  echo "usage: $0 up PREFIX DIR dataplane|kernel|kernel-no-offload | down PREFIX" >&2
  exit 2
}

ns() { echo "$P-$1"; }
# ip in a namespace / any command in a namespace
nip() { ip -n "$(ns "$1")" "${@:2}"; }
nx() { ip netns exec "$(ns "$1")" "${@:2}"; }

# The addresses of the cloud (DESIGN.md's example, both nodes).
ROUTER_MAC_GREEN=02:00:0a:00:00:01
ROUTER_MAC_ORANGE=02:00:0a:00:00:02
UPLINK_MAC_1=02:00:c0:00:02:0b
UPLINK_MAC_2=02:00:c0:00:02:0c
GW_MAC=02:00:cb:00:71:01
declare -A VM_MAC=([g1]=fa:16:3e:00:01:01 [o1]=fa:16:3e:00:02:01 [g2]=fa:16:3e:00:01:09 [o2]=fa:16:3e:00:02:09)
declare -A VM_IP=([g1]=10.0.0.5 [o1]=10.0.0.5 [g2]=10.0.0.9 [o2]=10.0.0.9)
declare -A SF_MAC=([in1]=fa:16:3e:00:0f:01 [out1]=fa:16:3e:00:0f:02 [in2]=fa:16:3e:00:0f:03 [out2]=fa:16:3e:00:0f:04)
declare -A SF_IP=([in1]=10.0.0.201 [out1]=10.0.0.202 [in2]=10.0.0.203 [out2]=10.0.0.204)

new_ns() {
  local name
  name=$(ns "$1")
  ip netns add "$name"
  # IPv4 only: the scenarios are IPv4, and IPv6 autoconfiguration would only add noise.
  nx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  nip "$1" link set lo up
}

# veth A:IFA <-> B:IFB, created inside the namespaces (no name ever lives in the root one).
veth() {
  nip "$1" link add "$2" type veth peer name "$4" netns "$(ns "$3")"
}

# A dataplane port reads frames with AF_PACKET: they must carry complete checksums and
# be no larger than the MTU, so the kernel ends facing it do no checksum or segmentation
# offload (as with OVS-DPDK's af_packet ports).
no_offload() {
  nx "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
}

vm() { # vm NS NODE PORT MTU
  veth "$2" "$3" "$1" eth0
  nip "$1" link set eth0 address "${VM_MAC[$1]}" mtu "$4" up
  nip "$1" addr add "${VM_IP[$1]}/24" dev eth0
  nip "$1" route add default via 10.0.0.1
  nip "$2" link set "$3" mtu 1500 up
}

common() {
  local mode=$1 vm_mtu=1500
  for n in under c1 c2 g1 o1 g2 o2 sf gw inet; do new_ns "$n"; done

  nip under link add br0 type bridge
  nip under link set br0 up
  for n in c1 c2 gw; do
    local peer=eth0
    [ "$n" = gw ] || peer=uplink
    veth under "$n" "$n" "$peer"
    nip under link set "$n" master br0 up
  done
  nip c1 link set uplink address $UPLINK_MAC_1 mtu 1500 up
  nip c2 link set uplink address $UPLINK_MAC_2 mtu 1500 up

  # The kernel's VXLAN bridge cannot send a VM the ICMP too-big it would need, so a
  # kernel cloud gives its VMs the overlay's MTU (as Neutron does over DHCP).
  [ "$mode" = dataplane ] || vm_mtu=1450
  vm g1 c1 vm1 $vm_mtu
  vm o1 c1 vm2 $vm_mtu
  vm g2 c2 vm1 $vm_mtu
  vm o2 c2 vm2 $vm_mtu

  # The service function: each pair's ingress and egress on a port of its own (this
  # machine's kernel has no 802.1Q devices for trunk sub-ports); what enters a pair's
  # ingress leaves by its egress (policy routing), ARP asks the network for the next hop.
  nx sf sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0
  for side in in1 out1 in2 out2; do
    veth c1 "fw$side" sf "$side"
    nip c1 link set "fw$side" mtu 1500 up
    nip sf link set "$side" address "${SF_MAC[$side]}" mtu 1500 up
    nip sf addr add "${SF_IP[$side]}/24" dev "$side"
    nx sf sysctl -qw "net.ipv4.conf.$side.rp_filter=0"
  done
  for pair in 1 2; do
    nip sf rule add iif "in$pair" lookup "10$pair"
    nip sf route add default dev "out$pair" table "10$pair"
  done

  # The external gateway and the internet behind it.
  nip gw link set eth0 address $GW_MAC mtu 1500 up
  nip gw addr add 203.0.113.1/24 dev eth0
  veth gw eth1 inet eth0
  nip gw link set eth1 up
  nip gw addr add 198.51.100.1/24 dev eth1
  nx gw sysctl -qw net.ipv4.ip_forward=1
  nip inet link set eth0 up
  nip inet addr add 198.51.100.10/24 dev eth0
  nip inet route add default via 198.51.100.1
}

no_offloads() {
  for pair in "c1 uplink" "c2 uplink" "c1 vm1" "c1 vm2" "c2 vm1" "c2 vm2" "g1 eth0" \
    "o1 eth0" "g2 eth0" "o2 eth0" "gw eth0" "under c1" "under c2" "under gw"; do
    no_offload $pair
  done
  for side in in1 out1 in2 out2; do
    no_offload c1 "fw$side"
    no_offload sf "$side"
  done
}

topology() { # topology NODE-NUMBER
  local me=$1 other=$((3 - $1))
  local mac_var="UPLINK_MAC_$me"
  cat <<EOF
# compute-$me of the namespace test cloud, written by scripts/cloud-netns.sh.
[node]
name = "compute-$me"
vtep_ip = "192.0.2.1$me"
uplink = "uplink"
uplink_mac = "${!mac_var}"
external_ip = "203.0.113.1$me"
external_gateway_ip = "203.0.113.1"
snat_port_range = [1024, 65535]

[[chassis]]                 # its MAC is resolved by ARP on the uplink
name = "compute-$other"
vtep_ip = "192.0.2.1$other"

[[ports]]
name = "uplink"
driver = "af-packet"
ifname = "uplink"

[[ports]]
name = "vm1"
driver = "af-packet"
ifname = "vm1"

[[ports]]
name = "vm2"
driver = "af-packet"
ifname = "vm2"
EOF
  if [ "$me" = 1 ]; then
    for side in in1 out1 in2 out2; do
      printf '\n[[ports]]\nname = "fw%s"\ndriver = "af-packet"\nifname = "fw%s"\n' "$side" "$side"
    done
  fi
  cat <<EOF

[[networks]]
name = "green-net"
tenant = "green"
vni = 1001
cidr = "10.0.0.0/24"
gateway_ip = "10.0.0.1"

[[networks]]
name = "orange-net"
tenant = "orange"
vni = 1002
cidr = "10.0.0.0/24"
gateway_ip = "10.0.0.1"

[[routers]]
name = "green-router"
tenant = "green"
mac = "$ROUTER_MAC_GREEN"
networks = ["green-net"]
snat = true

[[routers]]
name = "orange-router"
tenant = "orange"
mac = "$ROUTER_MAC_ORANGE"
networks = ["orange-net"]
snat = true
EOF
  for tenant in green orange; do
    for n in 1 2; do
      local vm="${tenant:0:1}$n" port=vm1
      [ "$tenant" = orange ] && port=vm2
      local binding="port = \"$port\""
      [ "$n" = "$me" ] || binding="chassis = \"compute-$n\""
      cat <<EOF

[[logical_ports]]
name = "$tenant-vm$n"
network = "$tenant-net"
mac = "${VM_MAC[$vm]}"
ip = "${VM_IP[$vm]}"
$binding
EOF
    done
  done
  [ "$me" = 1 ] || return 0
  for fw in 1 2; do
    cat <<EOF

[[logical_ports]]
name = "fw$fw-in"
network = "green-net"
mac = "${SF_MAC[in$fw]}"
ip = "${SF_IP[in$fw]}"
port = "fwin$fw"

[[logical_ports]]
name = "fw$fw-out"
network = "green-net"
mac = "${SF_MAC[out$fw]}"
ip = "${SF_IP[out$fw]}"
port = "fwout$fw"

[[port_pairs]]
name = "fw$fw"
ingress = "fw$fw-in"
egress = "fw$fw-out"
correlation = "none"
EOF
  done
  cat <<EOF

[[port_pair_groups]]
name = "firewalls"
port_pairs = ["fw1"]

[[flow_classifiers]]
name = "green-web-traffic"
ethertype = "IPv4"
protocol = "tcp"
destination_port_range = [80, 80]
logical_source_port = "green-vm1"
destination_ip_prefix = "10.0.0.9/32"

[[port_chains]]
name = "green-web-chain"
chain_id = 7
port_pair_groups = ["firewalls"]
flow_classifiers = ["green-web-traffic"]
EOF
}

# The same cloud on the kernel's datapath. Per tenant a bridge holding the VM's port and
# a VXLAN device to the other node, with the router's MAC and the gateway address (the
# distributed router). This kernel has no VRF devices, so tenants' overlapping networks
# are kept apart as a VRF would: policy routing, a table per tenant chosen by the
# incoming bridge, or for replies by the connection's mark. SNAT by nftables to the
# node's external address, tenants kept apart by conntrack zones of the original
# direction. The web chain: nftables on the VM's port sends port-80 frames to the
# function's ingress (its MAC), and the function's egress is a port of the bridge.
kernel_node() { # kernel_node NODE-NUMBER
  local me=$1 other=$((3 - $1)) c="c$1"
  nip $c addr add "192.0.2.1$me/24" dev uplink
  nip $c addr add "203.0.113.1$me/24" dev uplink
  nx $c sysctl -qw net.ipv4.ip_forward=1
  local table=1001 mark=1
  for tenant in green orange; do
    local port=vm1 rmac=$ROUTER_MAC_GREEN br=br-g
    if [ $tenant = orange ]; then port=vm2 rmac=$ROUTER_MAC_ORANGE br=br-o; fi
    nip $c link add $br type bridge
    nip $c link set $br address $rmac up
    nip $c addr add 10.0.0.1/24 dev $br noprefixroute
    nip $c link add "vx$table" type vxlan id $table local "192.0.2.1$me" \
      remote "192.0.2.1$other" dstport 4789
    nip $c link set "vx$table" master $br up
    nip $c link set $port master $br
    nip $c route add 10.0.0.0/24 dev $br table $table
    nip $c route add default via 203.0.113.1 dev uplink table $table
    nip $c rule add iif $br lookup $table pref 100
    nip $c rule add fwmark $mark lookup $table pref 101
    table=$((table + 1)) mark=$((mark + 1))
  done
  nx $c nft -f - <<EOF
table ip cloud {
  chain zones {
    type filter hook prerouting priority raw;
    iifname "br-g" ct original zone set 1
    iifname "br-o" ct original zone set 2
  }
  chain tenant_marks {
    type filter hook prerouting priority mangle;
    iifname "br-g" ct mark set 1
    iifname "br-o" ct mark set 2
    iifname "uplink" meta mark set ct mark
  }
  chain to_external {
    type nat hook postrouting priority srcnat;
    oifname "uplink" ip saddr 10.0.0.0/24 snat to 203.0.113.1$me
  }
}
EOF
  [ "$me" = 1 ] || return 0
  for pair in 1 2; do
    nip $c link set "fwout$pair" master br-g
    # The function's ingress sends nothing for the bridge to learn its MAC from.
    nip $c link set "fwin$pair" master br-g
    nx $c bridge fdb add "${SF_MAC[in$pair]}" dev "fwin$pair" master static
  done
  nx $c nft -f - <<EOF
table netdev web_chain {
  chain steer {
    type filter hook ingress device "vm1" priority 0;
    ip daddr 10.0.0.9 tcp dport 80 ether daddr set ${SF_MAC[in1]} fwd to "fwin1"
  }
}
EOF
}

up() {
  local dir=$1 mode=$2
  common "$mode"
  case $mode in
    dataplane)
      no_offloads
      mkdir -p "$dir"
      topology 1 >"$dir/compute-1.toml"
      topology 2 >"$dir/compute-2.toml"
      ;;
    kernel | kernel-no-offload)
      kernel_node 1
      kernel_node 2
      [ "$mode" = kernel ] || no_offloads
      ;;
    *) usage ;;
  esac
}

down() {
  local name
  for name in $(ip netns list | awk '{print $1}' | grep -E "^$P-[a-z0-9]+$" || true); do
    # Whatever the run left in its namespaces (daemons, servers) goes with them.
    for pid in $(ip netns pids "$name" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$name" 2>/dev/null || true
  done
}

[ $# -ge 2 ] || usage
P=$2
case $1 in
  up)
    [ $# -eq 4 ] || usage
    trap 'down' ERR
    up "$3" "$4"
    ;;
  down) down ;;
  *) usage ;;
esac
