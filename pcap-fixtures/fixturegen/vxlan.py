"""VXLAN overlay scenarios, and the two-node scenario."""

from .model import *  # noqa: F401,F403
from .pcap import *  # noqa: F401,F403
from .scenario import *  # noqa: F401,F403
from .frames import *  # noqa: F401,F403


# ---------------------------------------------------------------------------
# VXLAN overlay
# ---------------------------------------------------------------------------

C2 = Chassis("compute-2", "192.0.2.12", "02:00:c0:00:02:0c")
C3 = Chassis("compute-3", "192.0.2.13", "02:00:c0:00:02:0d")
UNDERLAY_ROUTER_MAC = "02:00:c0:00:02:01"
# The outer UDP source port of what the dataplane encapsulates is its own choice
# (derived from the inner flow, within 49152-65535). Expected frames carry this
# placeholder instead; the fixture test puts the port the dataplane chose in its place
# after checking it is within 49152-65535, and dataplane/tests/vxlan.rs checks that
# every packet of a flow gets the same port. Every other byte is compared.
CHOSEN_SOURCE_PORT = 0


def vxlan_frame(inner, src_mac, dst_mac, src_ip, dst_ip, vni, sport, flags=0x08):
    """RFC 7348 over IPv4 (DF, ID 0, TTL 64, UDP checksum 0) or IPv6 (hop limit 64,
    traffic class and flow label 0, UDP checksum computed), UDP to 4789."""
    if ":" in src_ip:
        outer = (
            Ether(src=src_mac, dst=dst_mac, type=0x86DD)
            / IPv6(src=src_ip, dst=dst_ip, hlim=64, fl=0, tc=0, nh=17)
            / UDP(sport=sport, dport=4789)
        )
    else:
        outer = (
            Ether(src=src_mac, dst=dst_mac, type=0x0800)
            / IP(src=src_ip, dst=dst_ip, ttl=64, id=0, flags="DF", tos=0, proto=17)
            / UDP(sport=sport, dport=4789, chksum=0)
        )
    return bytes(outer / VXLAN(flags=flags, vni=vni) / Raw(inner))


def encapsulated(inner, chassis, vni, node=NODE):
    """(uplink, frame): `inner` as this node sends it to `chassis` over VXLAN, from
    node.uplink_mac / node.vtep_ip to the chassis' MAC and VTEP."""
    return (
        "uplink",
        vxlan_frame(inner, node["uplink_mac"], chassis.mac, node["vtep_ip"], chassis.vtep_ip, vni, CHOSEN_SOURCE_PORT),
    )


def from_chassis(inner, chassis, vni, sport=51000, flags=0x08, dst_ip=None, src_ip=None):
    """VXLAN as `chassis` sends `inner` to this node."""
    return vxlan_frame(
        inner,
        chassis.mac,
        NODE["uplink_mac"],
        src_ip or chassis.vtep_ip,
        dst_ip or NODE["vtep_ip"],
        vni,
        sport,
        flags,
    )


def frag_needed(frame, router_mac, gateway_ip, mtu):
    """ICMP type 3 code 4 (RFC 1191) for an untagged IPv4 frame: from the gateway's
    address and the router MAC to the sender, TTL 64, ID 0, no flags, quoting the
    IP header and the first 8 bytes of its payload (RFC 792)."""
    e = Ether(frame)
    ihl = e[IP].ihl * 4
    quote = frame[14 : 14 + ihl + 8]
    return bytes(
        Ether(src=router_mac, dst=e.src, type=0x0800)
        / IP(src=gateway_ip, dst=e[IP].src, ttl=64, id=0, flags=0, tos=0, proto=1)
        / ICMP(type=3, code=4, nexthopmtu=mtu)
        / Raw(quote)
    )


def packet_too_big(frame, router_mac, gateway_ip, mtu):
    """ICMPv6 packet too big (RFC 4443): hop limit 64, quoting as much of the packet
    as keeps the error within the IPv6 minimum MTU (1280)."""
    e = Ether(frame)
    quote = frame[14 : 14 + 1280 - 48]
    return bytes(
        Ether(src=router_mac, dst=e.src, type=0x86DD)
        / IPv6(src=gateway_ip, dst=e[IPv6].src, hlim=64, fl=0, tc=0, nh=58)
        / ICMPv6PacketTooBig(mtu=mtu)
        / Raw(quote)
    )


def ether_raw(src_mac, dst_mac, ethertype, payload):
    return bytes(Ether(src=src_mac, dst=dst_mac, type=ethertype) / Raw(payload))


def green_overlay_topology(vm_ports, logical_ports, chassis=(C2, C3), extra_networks=(), uplink_mtu=None):
    networks = [Network("green-net", "green", 1001, "10.0.0.0/24", "10.0.0.1")] + list(extra_networks)
    routers = [Router("green-router", "green", "02:00:0a:00:00:01", [n.name for n in networks if n.tenant == "green"])]
    return Topology(
        vm_ports=vm_ports,
        networks=networks,
        routers=routers,
        logical_ports=logical_ports,
        chassis=list(chassis),
        uplink_mtu=uplink_mtu,
    )


GREEN_VM1 = LP("green-vm1", "green-net", "fa:16:3e:00:01:01", "10.0.0.5", "vm1")
GREEN_VM3 = LP("green-vm3", "green-net", "fa:16:3e:00:01:03", "10.0.0.7", "vm3")
GREEN_WEB = remote_lp("green-web", "green-net", "fa:16:3e:00:01:09", "10.0.0.9", "compute-2")
GREEN_APP = remote_lp("green-app", "green-net", "fa:16:3e:00:01:0a", "10.0.0.10", "compute-3")
GREEN_DB_NET = Network("green-db-net", "green", 1003, "10.0.1.0/24", "10.0.1.1")
GREEN_DB = remote_lp("green-db", "green-db-net", "fa:16:3e:00:01:19", "10.0.1.9", "compute-3")
GREEN_ROUTER_MAC = "02:00:0a:00:00:01"


@register
def scenario_vxlan_encap_v4():
    topo = green_overlay_topology(
        ["vm1", "vm3"], [GREEN_VM1, GREEN_VM3, GREEN_WEB, GREEN_DB], extra_networks=[GREEN_DB_NET]
    )
    s = Scenario("vxlan-encap-v4", topo)
    vm1, vm3, web, db = GREEN_VM1, GREEN_VM3, GREEN_WEB, GREEN_DB
    # UDP to a port on compute-2: encapsulated to its VTEP with green's VNI; two
    # packets of one flow (same source port), then other flows.
    f = udp4(vm1.mac, web.mac, vm1.ip, web.ip, 40000, 40053, b"encap: udp 1", ident=0x501)
    s.rx("vm1", f, tx=[encapsulated(f, C2, 1001)])
    f = udp4(vm1.mac, web.mac, vm1.ip, web.ip, 40000, 40053, b"encap: udp 2 of the same flow", ident=0x502)
    s.rx("vm1", f, tx=[encapsulated(f, C2, 1001)])
    f = tcp4(vm1.mac, web.mac, vm1.ip, web.ip, 43210, 80, "S", seq=1000, ident=0x503)
    s.rx("vm1", f, tx=[encapsulated(f, C2, 1001)])
    f = icmp4_echo(vm1.mac, web.mac, vm1.ip, web.ip, ident=0x77, seq=1, ip_id=0x504)
    s.rx("vm1", f, tx=[encapsulated(f, C2, 1001)])
    f = udp4(vm3.mac, web.mac, vm3.ip, web.ip, 40000, 40053, b"encap: udp from vm3", ident=0x301)
    s.rx("vm3", f, tx=[encapsulated(f, C2, 1001)])
    # A non-IP frame (local experimental ethertype 0x88b5): its MACs give the port.
    f = ether_raw(vm1.mac, web.mac, 0x88B5, b"encap: not ip" + b"\x00" * 33)
    s.rx("vm1", f, tx=[encapsulated(f, C2, 1001)])
    # Routed by the local copy of the distributed router into green-db-net, whose
    # port lives on compute-3: TTL - 1, router MAC as source, green-db-net's VNI.
    f = udp4(vm1.mac, GREEN_ROUTER_MAC, vm1.ip, db.ip, 40000, 5432, b"encap: routed to db", ident=0x505)
    s.rx("vm1", f, tx=[encapsulated(routed(f, GREEN_ROUTER_MAC, db.mac), C3, 1003)])
    # ARP for the remote port's address is answered locally, nothing crosses.
    f = arp_request(vm1, web.ip)
    s.rx("vm1", f, tx=[out(vm1, arp_answer(f, web.mac))])
    return s


V6_NODE = dict(NODE, vtep_ip="2001:db8:100::11")
C2_V6 = Chassis("compute-2", "2001:db8:100::12", "02:00:c0:00:02:0c")


@register
def scenario_vxlan_encap_v6():
    v6net = Network("green-v6-net", "green", 1004, "fd00:1::/64", "fd00:1::1")
    vm5 = LP("green-v6-vm5", "green-v6-net", "fa:16:3e:00:03:05", "fd00:1::5", "vm5")
    web6 = remote_lp("green-v6-web", "green-v6-net", "fa:16:3e:00:03:09", "fd00:1::9", "compute-2")
    topo = green_overlay_topology(
        ["vm1", "vm5"], [GREEN_VM1, GREEN_WEB, vm5, web6], chassis=[C2_V6], extra_networks=[v6net]
    )
    topo.node = V6_NODE
    s = Scenario("vxlan-encap-v6", topo)
    vm1, web = GREEN_VM1, GREEN_WEB
    f = udp4(vm1.mac, web.mac, vm1.ip, web.ip, 40000, 40053, b"encap6: udp 1", ident=0x601)
    s.rx("vm1", f, tx=[encapsulated(f, C2_V6, 1001, node=V6_NODE)])
    f = udp4(vm1.mac, web.mac, vm1.ip, web.ip, 40000, 40053, b"encap6: udp 2 of the same flow", ident=0x602)
    s.rx("vm1", f, tx=[encapsulated(f, C2_V6, 1001, node=V6_NODE)])
    f = tcp4(vm1.mac, web.mac, vm1.ip, web.ip, 43210, 80, "S", seq=1000, ident=0x603)
    s.rx("vm1", f, tx=[encapsulated(f, C2_V6, 1001, node=V6_NODE)])
    f = udp6(vm5.mac, web6.mac, vm5.ip, web6.ip, 41000, 40053, b"encap6: inner ipv6 too")
    s.rx("vm5", f, tx=[encapsulated(f, C2_V6, 1004, node=V6_NODE)])
    return s


@register
def scenario_vxlan_decap():
    topo = green_overlay_topology(
        ["vm1", "vm3"], [GREEN_VM1, GREEN_VM3, GREEN_WEB, GREEN_APP, GREEN_DB], extra_networks=[GREEN_DB_NET]
    )
    s = Scenario("vxlan-decap", topo)
    vm1, vm3, web, app, db = GREEN_VM1, GREEN_VM3, GREEN_WEB, GREEN_APP, GREEN_DB
    # From green-web (on compute-2) to vm1: the inner frame is delivered unchanged.
    f = udp4(web.mac, vm1.mac, web.ip, vm1.ip, 40053, 40000, b"decap: udp web -> vm1", ident=0x901)
    s.rx("uplink", from_chassis(f, C2, 1001), tx=[out(vm1, f)])
    f = tcp4(web.mac, vm1.mac, web.ip, vm1.ip, 80, 43210, "SA", seq=9000, ack=1001, ident=0x902)
    s.rx("uplink", from_chassis(f, C2, 1001, sport=61234), tx=[out(vm1, f)])
    # A broadcast from the overlay goes to the local ports only: the sender already
    # replicated it to every chassis (green-app's compute-3 gets nothing from here).
    f = udp4(web.mac, BROADCAST, web.ip, "10.0.0.255", 40000, 40009, b"decap: broadcast", ident=0x903)
    s.rx("uplink", from_chassis(f, C2, 1001), tx=[out(vm1, f), out(vm3, f)])
    # Routed on compute-3 by its copy of the router (source = router MAC, the inner
    # IP source green-db's, bound to compute-3): delivered as is.
    f = routed(udp4(db.mac, GREEN_ROUTER_MAC, db.ip, vm1.ip, 5432, 40000, b"decap: routed from db", ident=0x904), GREEN_ROUTER_MAC, vm1.mac)
    s.rx("uplink", from_chassis(f, C3, 1001), tx=[out(vm1, f)])
    # Reserved flag bits beside the I flag are ignored (RFC 7348).
    f = udp4(web.mac, vm1.mac, web.ip, vm1.ip, 40053, 40000, b"decap: reserved flags", ident=0x905)
    s.rx("uplink", from_chassis(f, C2, 1001, flags=0x0C), tx=[out(vm1, f)])
    # Outer destination that is not this node's VTEP.
    f = udp4(web.mac, vm1.mac, web.ip, vm1.ip, 40053, 40000, b"decap: wrong vtep", ident=0x906)
    s.rx("uplink", from_chassis(f, C2, 1001, dst_ip="192.0.2.99"), drop="vxlan_wrong_destination")
    # No I flag.
    f = udp4(web.mac, vm1.mac, web.ip, vm1.ip, 40053, 40000, b"decap: no I flag", ident=0x907)
    s.rx("uplink", from_chassis(f, C2, 1001, flags=0x00), drop="vxlan_bad_flags")
    # The inner source MAC is a local port's (vm1), not one bound to compute-2.
    f = udp4(vm1.mac, vm3.mac, vm1.ip, vm3.ip, 40000, 40001, b"decap: spoofed local mac", ident=0x908)
    s.rx("uplink", from_chassis(f, C2, 1001), drop="vxlan_source_mismatch")
    # green-web's MAC, but from compute-3, where green-web is not.
    f = udp4(web.mac, vm1.mac, web.ip, vm1.ip, 40053, 40000, b"decap: web from compute-3", ident=0x909)
    s.rx("uplink", from_chassis(f, C3, 1001), drop="vxlan_source_mismatch")
    # From an address that is no chassis' VTEP.
    f = udp4(web.mac, vm1.mac, web.ip, vm1.ip, 40053, 40000, b"decap: unknown vtep", ident=0x90A)
    s.rx("uplink", from_chassis(f, C2, 1001, src_ip="198.51.100.7"), drop="vxlan_unknown_chassis")
    # To green-app, on compute-3: never relayed back into the overlay.
    f = udp4(web.mac, app.mac, web.ip, app.ip, 40053, 40000, b"decap: web -> app", ident=0x90B)
    s.rx("uplink", from_chassis(f, C2, 1001), drop="vxlan_transit")
    return s


@register
def scenario_vxlan_truncated():
    """Broken on purpose: tshark calls these malformed (validate.sh exempts the inputs)."""
    topo = green_overlay_topology(["vm1"], [GREEN_VM1, GREEN_WEB], chassis=[C2])
    s = Scenario("vxlan-truncated", topo)
    vm1 = GREEN_VM1
    # UDP to 4789 with 4 bytes: no room for the VXLAN header.
    short = bytes(
        Ether(src=C2.mac, dst=NODE["uplink_mac"], type=0x0800)
        / IP(src=C2.vtep_ip, dst=NODE["vtep_ip"], ttl=64, id=0, flags="DF", tos=0, proto=17)
        / UDP(sport=51000, dport=4789, chksum=0)
        / Raw(b"\x08\x00\x00\x00")
    )
    s.rx("uplink", short, drop="vxlan_truncated")
    # A VXLAN header followed by 6 bytes: no inner Ethernet header.
    s.rx("uplink", from_chassis(mac_bytes(vm1.mac), C2, 1001), drop="vxlan_truncated")
    return s


@register
def scenario_vxlan_unknown_vni():
    topo = green_overlay_topology(["vm1"], [GREEN_VM1, GREEN_WEB], chassis=[C2])
    s = Scenario("vxlan-unknown-vni", topo)
    vm1, web = GREEN_VM1, GREEN_WEB
    f = udp4(web.mac, vm1.mac, web.ip, vm1.ip, 40053, 40000, b"vni 4242", ident=0xA01)
    s.rx("uplink", from_chassis(f, C2, 4242), drop="vxlan_unknown_vni")
    f = udp4(web.mac, vm1.mac, web.ip, vm1.ip, 40053, 40000, b"vni 0", ident=0xA02)
    s.rx("uplink", from_chassis(f, C2, 0), drop="vxlan_unknown_vni")
    # The same frame with green's VNI is delivered.
    f = udp4(web.mac, vm1.mac, web.ip, vm1.ip, 40053, 40000, b"vni 1001", ident=0xA03)
    s.rx("uplink", from_chassis(f, C2, 1001), tx=[out(vm1, f)])
    return s


@register
def scenario_vxlan_overlap():
    networks, routers = green_orange_base()
    g1 = LP("green-vm1", "green-net", "fa:16:3e:00:01:01", "10.0.0.5", "vm1")
    o2 = LP("orange-vm2", "orange-net", "fa:16:3e:00:02:01", "10.0.0.5", "vm2")
    gw = remote_lp("green-web", "green-net", "fa:16:3e:00:01:09", "10.0.0.9", "compute-2")
    ow = remote_lp("orange-web", "orange-net", "fa:16:3e:00:02:09", "10.0.0.9", "compute-2")
    topo = Topology(["vm1", "vm2"], networks, routers, [g1, o2, gw, ow], chassis=[C2])
    s = Scenario("vxlan-overlap", topo)
    # Identical inner addresses and ports, two tenants: two VNIs.
    f = udp4(g1.mac, gw.mac, g1.ip, gw.ip, 40000, 40053, b"overlap: green", ident=0xB01)
    s.rx("vm1", f, tx=[encapsulated(f, C2, 1001)])
    f = udp4(o2.mac, ow.mac, o2.ip, ow.ip, 40000, 40053, b"overlap: orange", ident=0xB02)
    s.rx("vm2", f, tx=[encapsulated(f, C2, 1002)])
    # And back: the VNI picks the tenant.
    f = udp4(gw.mac, g1.mac, gw.ip, g1.ip, 40053, 40000, b"overlap: green back", ident=0xB03)
    s.rx("uplink", from_chassis(f, C2, 1001), tx=[out(g1, f)])
    f = udp4(ow.mac, o2.mac, ow.ip, o2.ip, 40053, 40000, b"overlap: orange back", ident=0xB04)
    s.rx("uplink", from_chassis(f, C2, 1002), tx=[out(o2, f)])
    # Green's port under orange's VNI: not an orange port of compute-2.
    f = udp4(gw.mac, o2.mac, gw.ip, o2.ip, 40053, 40000, b"overlap: green into orange", ident=0xB05)
    s.rx("uplink", from_chassis(f, C2, 1002), drop="vxlan_source_mismatch")
    # Under green's VNI, orange vm2's MAC is unknown: flooded in green only (vm1).
    f = udp4(gw.mac, o2.mac, gw.ip, o2.ip, 40053, 40000, b"overlap: orange mac in green", ident=0xB06)
    s.rx("uplink", from_chassis(f, C2, 1001), tx=[out(g1, f)])
    return s


@register
def scenario_vxlan_bum():
    networks, routers = green_orange_base()
    web2 = remote_lp("green-web2", "green-net", "fa:16:3e:00:01:0b", "10.0.0.11", "compute-2")
    o2 = LP("orange-vm2", "orange-net", "fa:16:3e:00:02:01", "10.0.0.5", "vm2")
    oapp = remote_lp("orange-app", "orange-net", "fa:16:3e:00:02:0a", "10.0.0.10", "compute-3")
    topo = Topology(
        ["vm1", "vm2", "vm3"],
        networks,
        routers,
        [GREEN_VM1, GREEN_VM3, GREEN_WEB, web2, GREEN_APP, o2, oapp],
        chassis=[C2, C3],
    )
    s = Scenario("vxlan-bum", topo)
    vm1, vm3, web = GREEN_VM1, GREEN_VM3, GREEN_WEB
    # Broadcast, multicast, unknown unicast and an ARP request nobody local can
    # answer: the other local port, then one copy per chassis hosting green ports
    # (compute-2 hosts two, it gets one copy), in chassis order.
    for f in [
        udp4(vm1.mac, BROADCAST, vm1.ip, "10.0.0.255", 40000, 40009, b"bum: broadcast", ident=0xC01),
        mdns_query(vm1.mac, vm1.ip, "_http._tcp.local."),
        udp4(vm1.mac, "fa:16:3e:00:01:99", vm1.ip, "10.0.0.99", 40000, 40010, b"bum: unknown unicast", ident=0xC02),
        arp_request(vm1, "10.0.0.99"),
    ]:
        s.rx("vm1", f, tx=[out(vm3, f), encapsulated(f, C2, 1001), encapsulated(f, C3, 1001)])
    # Orange: no other local port, one remote on compute-3.
    f = udp4(o2.mac, BROADCAST, o2.ip, "10.0.0.255", 40000, 40009, b"bum: orange broadcast", ident=0xC03)
    s.rx("vm2", f, tx=[encapsulated(f, C3, 1002)])
    # A broadcast from the overlay: local ports only, never replicated again.
    f = udp4(web.mac, BROADCAST, web.ip, "10.0.0.255", 40000, 40009, b"bum: from compute-2", ident=0xC04)
    s.rx("uplink", from_chassis(f, C2, 1001), tx=[out(vm1, f), out(vm3, f)])
    return s


@register
def scenario_vxlan_mtu():
    v6net = Network("green-v6-net", "green", 1004, "fd00:1::/64", "fd00:1::1")
    vm5 = LP("green-v6-vm5", "green-v6-net", "fa:16:3e:00:03:05", "fd00:1::5", "vm5")
    web6 = remote_lp("green-v6-web", "green-v6-net", "fa:16:3e:00:03:09", "fd00:1::9", "compute-2")
    topo = green_overlay_topology(
        ["vm1", "vm5"], [GREEN_VM1, GREEN_WEB, vm5, web6], chassis=[C2], extra_networks=[v6net], uplink_mtu=1400
    )
    s = Scenario("vxlan-mtu", topo)
    vm1, web = GREEN_VM1, GREEN_WEB
    # Uplink MTU 1400: an inner IP packet of 1350 bytes fits (1350 + 14 inner
    # Ethernet + 8 VXLAN + 8 UDP + 20 IPv4 = 1400), 1351 does not.
    udp_overhead = 20 + 8
    f = udp4(vm1.mac, web.mac, vm1.ip, web.ip, 40000, 40053, b"m" * (1350 - udp_overhead), ident=0xD01)
    s.rx("vm1", f, tx=[encapsulated(f, C2, 1001)])
    f = udp4(vm1.mac, web.mac, vm1.ip, web.ip, 40000, 40053, b"M" * (1351 - udp_overhead), ident=0xD02)
    s.rx("vm1", f, drop="mtu_exceeded", answered_by=[out(vm1, frag_needed(f, GREEN_ROUTER_MAC, "10.0.0.1", 1350))])
    # Without DF: dropped, no error (no fragmentation of the outer packet).
    f = bytearray(udp4(vm1.mac, web.mac, vm1.ip, web.ip, 40000, 40053, b"N" * (1351 - udp_overhead), ident=0xD03))
    f[20] = 0
    f[24:26] = b"\x00\x00"
    f[24:26] = struct.pack("!H", inet_checksum(bytes(f[14:34])))
    s.rx("vm1", bytes(f), drop="mtu_exceeded")
    # IPv6: packet too big, quoting up to 1232 bytes of the packet.
    f = udp6(vm5.mac, web6.mac, vm5.ip, web6.ip, 41000, 40053, b"6" * (1351 - 48))
    s.rx("vm5", f, drop="mtu_exceeded", answered_by=[out(vm5, packet_too_big(f, GREEN_ROUTER_MAC, "fd00:1::1", 1350))])
    f = udp6(vm5.mac, web6.mac, vm5.ip, web6.ip, 41000, 40053, b"6" * (1350 - 48))
    s.rx("vm5", f, tx=[encapsulated(f, C2, 1004)])
    # A broadcast too large for the overlay: no other local port, its copy to
    # compute-2 is dropped and no error goes back for a broadcast.
    f = udp4(vm1.mac, BROADCAST, vm1.ip, "10.0.0.255", 40000, 40009, b"B" * (1351 - udp_overhead), ident=0xD04)
    s.rx("vm1", f, drop="mtu_exceeded")
    return s


@register
def scenario_vxlan_arp():
    topo = green_overlay_topology(["vm1"], [GREEN_VM1, GREEN_WEB], chassis=[C2])
    s = Scenario("vxlan-arp", topo)
    asker = ("02:00:c0:00:02:01", "192.0.2.1")
    # Requests for the node's VTEP and external addresses are answered on the uplink
    # with node.uplink_mac.
    for target in [NODE["vtep_ip"], NODE["external_ip"]]:
        f = arp(1, asker[0], BROADCAST, asker[0], asker[1], "00:00:00:00:00:00", target)
        s.rx("uplink", f, tx=[("uplink", arp_answer(f, NODE["uplink_mac"]))])
    # Another address, and a reply: not for this node.
    f = arp(1, asker[0], BROADCAST, asker[0], asker[1], "00:00:00:00:00:00", "192.0.2.99")
    s.rx("uplink", f, drop="no_logical_port")
    f = arp(2, asker[0], NODE["uplink_mac"], asker[0], asker[1], NODE["uplink_mac"], NODE["vtep_ip"])
    s.rx("uplink", f, drop="no_logical_port")
    return s


def neighbour_solicitation(src_mac, src_ip, target, hlim=255):
    """ICMPv6 NS for `target` to its solicited-node multicast group, with the
    source link-layer address option (none from the unspecified address)."""
    group = "ff02::1:ff" + "%02x:%02x%02x" % tuple(ipaddress.IPv6Address(target).packed[13:])
    mac = "33:33:" + ":".join("%02x" % b for b in ipaddress.IPv6Address(group).packed[12:])
    ns = IPv6(src=src_ip, dst=group, hlim=hlim, fl=0, tc=0) / ICMPv6ND_NS(tgt=target)
    if src_ip != "::":
        ns = ns / ICMPv6NDOptSrcLLAddr(lladdr=src_mac)
    return bytes(Ether(src=src_mac, dst=mac, type=0x86DD) / ns)


def neighbour_advertisement(ns_frame, mac):
    """The node's answer: from the target address and `mac`, to the asker (or all
    nodes for a DAD probe from ::), hop limit 255, solicited (not for DAD) and
    override, with the target link-layer address option."""
    ns = Ether(ns_frame)
    dad = ns[IPv6].src == "::"
    dst, dst_mac = ("ff02::1", "33:33:00:00:00:01") if dad else (ns[IPv6].src, ns.src)
    tgt = ns[ICMPv6ND_NS].tgt
    return bytes(
        Ether(src=mac, dst=dst_mac, type=0x86DD)
        / IPv6(src=tgt, dst=dst, hlim=255, fl=0, tc=0)
        / ICMPv6ND_NA(R=0, S=0 if dad else 1, O=1, tgt=tgt)
        / ICMPv6NDOptDstLLAddr(lladdr=mac)
    )


@register
def scenario_vxlan_ns():
    # compute-2 listed without MAC: resolved by neighbour discovery.
    topo = green_overlay_topology(["vm1"], [GREEN_VM1, GREEN_WEB], chassis=[Chassis(C2_V6.name, C2_V6.vtep_ip, None)])
    topo.node = V6_NODE
    s = Scenario("vxlan-ns", topo)
    asker_mac, asker = "02:00:c0:00:02:01", "2001:db8:100::1"
    # IPv6 underlay: a solicitation for the VTEP address is answered on the uplink.
    f = neighbour_solicitation(asker_mac, asker, V6_NODE["vtep_ip"])
    s.rx("uplink", f, tx=[("uplink", neighbour_advertisement(f, V6_NODE["uplink_mac"]))])
    # Duplicate address detection from :: gets an unsolicited answer to all nodes.
    f = neighbour_solicitation(asker_mac, "::", V6_NODE["vtep_ip"])
    s.rx("uplink", f, tx=[("uplink", neighbour_advertisement(f, V6_NODE["uplink_mac"]))])
    # Another address, or a solicitation that crossed a router (hop limit 254).
    f = neighbour_solicitation(asker_mac, asker, "2001:db8:100::99")
    s.rx("uplink", f, drop="no_logical_port")
    f = neighbour_solicitation(asker_mac, asker, V6_NODE["vtep_ip"], hlim=254)
    s.rx("uplink", f, drop="no_logical_port")
    # The first frame to compute-2 waits; a solicitation for its VTEP goes out.
    vm1, web = GREEN_VM1, GREEN_WEB
    f1 = udp4(vm1.mac, web.mac, vm1.ip, web.ip, 40000, 40053, b"ns: first", ident=0x1301)
    s.rx("vm1", f1, tx=[("uplink", neighbour_solicitation(V6_NODE["uplink_mac"], V6_NODE["vtep_ip"], C2_V6.vtep_ip))])
    # An advertisement for another address teaches nothing.
    def advertisement(mac, ip):
        return bytes(
            Ether(src=mac, dst=V6_NODE["uplink_mac"], type=0x86DD)
            / IPv6(src=ip, dst=V6_NODE["vtep_ip"], hlim=255, fl=0, tc=0)
            / ICMPv6ND_NA(R=0, S=1, O=1, tgt=ip)
            / ICMPv6NDOptDstLLAddr(lladdr=mac)
        )

    s.rx("uplink", advertisement("02:00:c0:00:02:77", "2001:db8:100::77"), drop="no_logical_port")
    # compute-2's advertisement releases the frame, encapsulated over IPv6.
    s.rx(
        "uplink",
        advertisement(C2_V6.mac, C2_V6.vtep_ip),
        drop="neighbour_learned",
        answered_by=[encapsulated(f1, C2_V6, 1001, node=V6_NODE)],
    )
    f2 = udp4(vm1.mac, web.mac, vm1.ip, web.ip, 40000, 40053, b"ns: second", ident=0x1302)
    s.rx("vm1", f2, tx=[encapsulated(f2, C2_V6, 1001, node=V6_NODE)])
    return s


@register
def scenario_vxlan_resolve():
    # compute-2 and compute-3 without their MAC: resolved by ARP on the uplink.
    c2 = Chassis(C2.name, C2.vtep_ip, None)
    c3 = Chassis(C3.name, C3.vtep_ip, None)
    topo = green_overlay_topology(["vm1"], [GREEN_VM1, GREEN_WEB, GREEN_APP], chassis=[c2, c3])
    s = Scenario("vxlan-resolve", topo)
    vm1, web, app = GREEN_VM1, GREEN_WEB, GREEN_APP

    def who_has(ip):
        return arp(1, NODE["uplink_mac"], BROADCAST, NODE["uplink_mac"], NODE["vtep_ip"], "00:00:00:00:00:00", ip)

    # The first frame to compute-2 waits, and an ARP request goes out on the uplink.
    f1 = udp4(vm1.mac, web.mac, vm1.ip, web.ip, 40000, 40053, b"resolve: first", ident=0x1101)
    s.rx("vm1", f1, tx=[("uplink", who_has(C2.vtep_ip))])
    # The second waits too, without a second request.
    f2 = udp4(vm1.mac, web.mac, vm1.ip, web.ip, 40000, 40053, b"resolve: second", ident=0x1102)
    s.rx("vm1", f2, held=True)
    # compute-2 answers: both leave, in order, at the time of the answer.
    reply = arp(2, C2.mac, NODE["uplink_mac"], C2.mac, C2.vtep_ip, NODE["uplink_mac"], NODE["vtep_ip"])
    s.rx("uplink", reply, drop="neighbour_learned", answered_by=[encapsulated(f1, C2, 1001), encapsulated(f2, C2, 1001)])
    # From now on compute-2's MAC is known.
    f3 = udp4(vm1.mac, web.mac, vm1.ip, web.ip, 40000, 40053, b"resolve: third", ident=0x1103)
    s.rx("vm1", f3, tx=[encapsulated(f3, C2, 1001)])
    # An answer nobody asked for teaches nothing.
    f = arp(2, "02:00:c0:00:02:77", NODE["uplink_mac"], "02:00:c0:00:02:77", "192.0.2.77", NODE["uplink_mac"], NODE["vtep_ip"])
    s.rx("uplink", f, drop="no_logical_port")
    # compute-3 never answers: one request, then 15 more frames wait (16 in all),
    # and the next one finds the queue full.
    for k in range(17):
        f = udp4(vm1.mac, app.mac, vm1.ip, app.ip, 40000, 40054, b"resolve: to compute-3 %d" % k, ident=0x1200 + k)
        if k == 0:
            s.rx("vm1", f, tx=[("uplink", who_has(C3.vtep_ip))])
        elif k < 16:
            s.rx("vm1", f, held=True)
        else:
            s.rx("vm1", f, drop="resolve_queue_full")
    # Nobody answers before the capture ends: the 16 waiting frames are dropped then.
    s.held_at_end(16)
    return s


def write_vxlan_two_node():
    """Two nodes, each the other's chassis: node-a/ (compute-1, green-vm1 on port
    vm1) and node-b/ (compute-2, green-web on port web). Each has a topology, the
    frames its VM sends (in/), and what its VM must receive (expected/); the
    underlay between them is the other node's uplink output, so the test
    (dataplane/tests/vxlan.rs) replays A, then B with A's uplink output, then A
    with B's. Not a one-node scenario: fixtures.rs and validate.sh skip it."""
    root = HERE / "vxlan-two-node"
    if root.exists():
        shutil.rmtree(root)
    node_b = dict(NODE, name="compute-2", vtep_ip=C2.vtep_ip, uplink_mac=C2.mac, external_ip="203.0.113.12")
    c1 = Chassis("compute-1", NODE["vtep_ip"], NODE["uplink_mac"])
    vm1 = GREEN_VM1
    web_here = LP("green-web", "green-net", GREEN_WEB.mac, GREEN_WEB.ip, "web")
    vm1_there = remote_lp("green-vm1", "green-net", vm1.mac, vm1.ip, "compute-1")
    topo_a = green_overlay_topology(["vm1"], [vm1, GREEN_WEB], chassis=[C2])
    topo_b = green_overlay_topology(["web"], [vm1_there, web_here], chassis=[c1])
    topo_b.node = node_b
    requests = [
        udp4(vm1.mac, GREEN_WEB.mac, vm1.ip, GREEN_WEB.ip, 40000, 40053, b"two-node: request", ident=0xE01),
        icmp4_echo(vm1.mac, GREEN_WEB.mac, vm1.ip, GREEN_WEB.ip, ident=0x99, seq=1, ip_id=0xE02),
    ]
    replies = [
        udp4(GREEN_WEB.mac, vm1.mac, GREEN_WEB.ip, vm1.ip, 40053, 40000, b"two-node: reply", ident=0xF01),
        icmp4_echo(GREEN_WEB.mac, vm1.mac, GREEN_WEB.ip, vm1.ip, ident=0x99, seq=1, reply=True, ip_id=0xF02),
    ]
    t_requests = [T0_US + k * STEP_US for k in range(len(requests))]
    t_replies = [T0_US + (100 + k) * STEP_US for k in range(len(replies))]
    for name, topo, sent, t_sent, received, t_received, port in [
        ("node-a", topo_a, requests, t_requests, replies, t_replies, "vm1"),
        ("node-b", topo_b, replies, t_replies, requests, t_requests, "web"),
    ]:
        topo.check()
        d = root / name
        (d / "in").mkdir(parents=True)
        (d / "expected").mkdir(parents=True)
        (d / "topology.toml").write_text(topo.to_toml(f"vxlan-two-node/{name}"))
        write_pcap(d / "in" / f"{port}.pcap", list(zip(t_sent, sent)))
        write_pcap(d / "expected" / f"{port}.pcap", list(zip(t_received, received)))
    print("vxlan-two-node: node-a, node-b")
