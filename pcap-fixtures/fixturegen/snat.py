"""Distributed SNAT scenarios."""

from .model import *  # noqa: F401,F403
from .pcap import *  # noqa: F401,F403
from .scenario import *  # noqa: F401,F403
from .frames import *  # noqa: F401,F403


# ---------------------------------------------------------------------------
# Distributed SNAT scenarios
# ---------------------------------------------------------------------------
#
# Contract (shared/DESIGN.md, "Distributed SNAT"): a routed packet from a tenant whose
# router has snat = true, to a destination outside the router's networks, leaves on
# the uplink with Ethernet src = node.uplink_mac, dst = node.external_gateway_mac,
# IPv4 src = the router's external_ip (else node.external_ip), TTL - 1, and source
# port (ICMP echo: identifier) = the tenant's own when free, else the next free one.
# "Next free" (README, SNAT section): the next higher port of the worker's slice that
# gives a distinct reply tuple, wrapping at the slice end; replay runs one worker
# whose slice is the whole snat_port_range. Replies are translated back: IPv4 dst and
# port = the tenant's, TTL - 1, Ethernet src = router MAC, dst = VM MAC. Checksums
# below are recomputed from scratch by scapy, independently of the dataplane's
# incremental updates.

SERVER = "198.51.100.7"
SERVER2 = "198.51.100.8"
HOP = "198.51.100.1"  # a router on the way out that sends ICMP errors
GW_MAC = NODE["external_gateway_mac"]
UPLINK_MAC = NODE["uplink_mac"]
EXT_IP = NODE["external_ip"]


def _retranslate(frame, eth_src, eth_dst, src=None, dst=None, sport=None, dport=None):
    """The IPv4 frame with new MACs, TTL - 1, addresses/ports replaced (ICMP echo:
    the identifier is the port) and every checksum recomputed by scapy."""
    p = Ether(frame)
    p.src, p.dst = eth_src, eth_dst
    ip = p[IP]
    assert ip.ttl > 1
    ip.ttl -= 1
    if src is not None:
        ip.src = src
    if dst is not None:
        ip.dst = dst
    del ip.chksum
    l4 = ip.payload
    if isinstance(l4, (TCP, UDP)):
        if sport is not None:
            l4.sport = sport
        if dport is not None:
            l4.dport = dport
        del l4.chksum
    elif isinstance(l4, ICMP):
        port = sport if sport is not None else dport
        if port is not None:
            l4.id = port
        del l4.chksum
    return bytes(p)


def snat_out(frame, ext_port, ext_ip=EXT_IP):
    """(uplink, frame) as SNAT sends a tenant's routed frame to the outside."""
    return ("uplink", _retranslate(frame, UPLINK_MAC, GW_MAC, src=ext_ip, sport=ext_port))


def snat_in(frame, lp, router_mac, port):
    """(port, frame) as a reply arriving on the uplink is delivered to `lp`."""
    return out(lp, _retranslate(frame, router_mac, lp.mac, dst=lp.ip, dport=port))


def from_outside(src_ip, dst_ip, l4, ttl=60, ip_id=0x3001):
    """A frame arriving on the uplink from the external gateway."""
    return bytes(Ether(src=GW_MAC, dst=UPLINK_MAC, type=0x0800) / IP(src=src_ip, dst=dst_ip, ttl=ttl, id=ip_id, flags="DF", tos=0) / l4)


def snat_topology(node=None, conntrack=None, green_ip=None, orange_snat=True):
    networks, routers = green_orange_base()
    routers[0].snat = True
    routers[0].external_ip = green_ip
    routers[1].snat = orange_snat
    return Topology(
        vm_ports=["vm1", "vm2"],
        networks=networks,
        routers=routers,
        logical_ports=[
            LP("green-vm1", "green-net", "fa:16:3e:00:01:01", "10.0.0.5", "vm1"),
            LP("orange-vm2", "orange-net", "fa:16:3e:00:02:01", "10.0.0.5", "vm2"),
        ],
        node=node or {},
        conntrack=conntrack or {},
    )


@register
def scenario_snat_basic():
    topo = snat_topology(orange_snat=False)
    # An IPv6 network on the green router: its north-south traffic is not translated.
    topo.networks.append(Network("green-net6", "green", 1003, "fd00:1::/64", "fd00:1::1"))
    topo.routers[0].networks.append("green-net6")
    topo.vm_ports.append("vm3")
    topo.logical_ports.append(LP("green-vm6", "green-net6", "fa:16:3e:00:01:06", "fd00:1::5", "vm3"))
    s = Scenario("snat-basic", topo)
    vm = topo.lp("green-vm1")
    orange = topo.lp("orange-vm2")
    R = topo.routers[0].mac

    def tcp_out(flags, seq, ack, payload=b""):
        return tcp4(vm.mac, R, vm.ip, SERVER, 40000, 80, flags, seq, ack, payload, ident=0x100 + seq % 256)

    def tcp_in(flags, seq, ack, payload=b""):
        l4 = TCP(sport=80, dport=40000, flags=flags, seq=seq, ack=ack, window=65535)
        return from_outside(SERVER, EXT_IP, l4 / Raw(payload) if payload else l4)

    # TCP: handshake, data both ways, FIN teardown; the tenant's port 40000 is kept.
    f = tcp_out("S", 1000, 0)
    s.rx("vm1", f, tx=[snat_out(f, 40000)])
    f = tcp_in("SA", 5000, 1001)
    s.rx("uplink", f, tx=[snat_in(f, vm, R, 40000)])
    f = tcp_out("A", 1001, 5001)
    s.rx("vm1", f, tx=[snat_out(f, 40000)])
    f = tcp_out("PA", 1001, 5001, b"GET / HTTP/1.0\r\n\r\n")
    s.rx("vm1", f, tx=[snat_out(f, 40000)])
    f = tcp_in("PA", 5001, 1019, b"HTTP/1.0 200 OK\r\n\r\n")
    s.rx("uplink", f, tx=[snat_in(f, vm, R, 40000)])
    f = tcp_out("FA", 1019, 5020)
    s.rx("vm1", f, tx=[snat_out(f, 40000)])
    f = tcp_in("FA", 5020, 1020)
    s.rx("uplink", f, tx=[snat_in(f, vm, R, 40000)])
    f = tcp_out("A", 1020, 5021)
    s.rx("vm1", f, tx=[snat_out(f, 40000)])
    # A TCP segment other than a SYN opens nothing.
    f = tcp4(vm.mac, R, vm.ip, SERVER, 40001, 80, "A", 1, 1, ident=0x1F0)
    s.rx("vm1", f, drop="snat_tcp_not_syn")
    # UDP query and its answer.
    f = udp4(vm.mac, R, vm.ip, SERVER, 45353, 9053, b"snat-basic: query", ident=0x201)
    s.rx("vm1", f, tx=[snat_out(f, 45353)])
    f = from_outside(SERVER, EXT_IP, UDP(sport=9053, dport=45353) / Raw(b"snat-basic: answer"))
    s.rx("uplink", f, tx=[snat_in(f, vm, R, 45353)])
    # Ping and its echo reply.
    f = icmp4_echo(vm.mac, R, vm.ip, SERVER, ident=0x1234, seq=1, ip_id=0x202)
    s.rx("vm1", f, tx=[snat_out(f, 0x1234)])
    f = from_outside(SERVER, EXT_IP, ICMP(type=0, code=0, id=0x1234, seq=1) / Raw(b"ping"))
    s.rx("uplink", f, tx=[snat_in(f, vm, R, 0x1234)])
    # Unsolicited inbound: UDP and TCP SYN to the external address, a ping of it, an
    # echo reply for an identifier nobody used, a reply from another server.
    f = from_outside(SERVER, EXT_IP, UDP(sport=9053, dport=45354) / Raw(b"unsolicited"))
    s.rx("uplink", f, drop="snat_no_connection")
    f = from_outside(SERVER, EXT_IP, TCP(sport=5555, dport=22, flags="S", seq=1, window=1024))
    s.rx("uplink", f, drop="snat_no_connection")
    f = from_outside(SERVER, EXT_IP, ICMP(type=8, code=0, id=0x1234, seq=9) / Raw(b"ping"))
    s.rx("uplink", f, drop="snat_no_connection")
    f = from_outside(SERVER, EXT_IP, ICMP(type=0, code=0, id=0x4321, seq=1) / Raw(b"ping"))
    s.rx("uplink", f, drop="snat_no_connection")
    f = from_outside(SERVER2, EXT_IP, UDP(sport=9053, dport=45353) / Raw(b"other server"))
    s.rx("uplink", f, drop="snat_no_connection")
    # A fragment (first of two) is not translated.
    f = bytes(Ether(src=vm.mac, dst=R) / IP(src=vm.ip, dst=SERVER, ttl=64, id=0x203, flags="MF", tos=0) / UDP(sport=45353, dport=9053) / Raw(b"fragment"))
    s.rx("vm1", f, drop="snat_fragment")
    # GRE (47) has no ports to translate.
    f = bytes(Ether(src=vm.mac, dst=R) / IP(src=vm.ip, dst=SERVER, ttl=64, id=0x204, flags="DF", tos=0, proto=47) / Raw(b"\x00\x00\x08\x00"))
    s.rx("vm1", f, drop="snat_unsupported")
    # TTL 1 towards the outside: expired at the router (which says so), no
    # connection made.
    f = udp4(vm.mac, R, vm.ip, SERVER, 5400, 9053, b"ttl 1", ttl=1, ident=0x205)
    s.rx("vm1", f, tx=[out(vm, icmp4_error(f, R, gateway_of(topo, vm), 11, 0))])
    # A router without snat: the outside is no route (network unreachable).
    orange_r = topo.routers[1].mac
    f = udp4(orange.mac, orange_r, orange.ip, SERVER, 45353, 9053, b"orange: no snat", ident=0x301)
    s.rx("vm2", f, tx=[out(orange, icmp4_error(f, orange_r, gateway_of(topo, orange), 3, 0))])
    # IPv6 to the outside from an SNAT router: no NAT66, so no route (decided by
    # the SNAT stage, which sends no error).
    vm6 = topo.lp("green-vm6")
    f = udp6(vm6.mac, R, vm6.ip, "2001:db8::7", 45353, 9053, b"v6 north-south")
    s.rx("vm3", f, drop="no_route")
    return s


@register
def scenario_snat_overlap():
    topo = snat_topology()
    s = Scenario("snat-overlap", topo)
    green, orange = topo.lp("green-vm1"), topo.lp("orange-vm2")
    RG, RO = topo.routers[0].mac, topo.routers[1].mac
    # Same private address and port, same server, same time: green keeps 40000,
    # orange gets the next free port, 40001. Both replies reach their own VM.
    fg = udp4(green.mac, RG, green.ip, SERVER, 40000, 9053, b"green query", ident=0x401)
    s.rx("vm1", fg, tx=[snat_out(fg, 40000)])
    fo = udp4(orange.mac, RO, orange.ip, SERVER, 40000, 9053, b"orange query", ident=0x501)
    s.rx("vm2", fo, tx=[snat_out(fo, 40001)])
    f = from_outside(SERVER, EXT_IP, UDP(sport=9053, dport=40001) / Raw(b"answer for orange"))
    s.rx("uplink", f, tx=[snat_in(f, orange, RO, 40000)])
    f = from_outside(SERVER, EXT_IP, UDP(sport=9053, dport=40000) / Raw(b"answer for green"))
    s.rx("uplink", f, tx=[snat_in(f, green, RG, 40000)])
    # The same for TCP connections (orange first this time) and for pings.
    fo = tcp4(orange.mac, RO, orange.ip, SERVER, 41000, 443, "S", 7000, ident=0x502)
    s.rx("vm2", fo, tx=[snat_out(fo, 41000)])
    fg = tcp4(green.mac, RG, green.ip, SERVER, 41000, 443, "S", 8000, ident=0x402)
    s.rx("vm1", fg, tx=[snat_out(fg, 41001)])
    f = from_outside(SERVER, EXT_IP, TCP(sport=443, dport=41001, flags="SA", seq=1, ack=8001, window=65535))
    s.rx("uplink", f, tx=[snat_in(f, green, RG, 41000)])
    f = from_outside(SERVER, EXT_IP, TCP(sport=443, dport=41000, flags="SA", seq=2, ack=7001, window=65535))
    s.rx("uplink", f, tx=[snat_in(f, orange, RO, 41000)])
    fg = icmp4_echo(green.mac, RG, green.ip, SERVER, ident=0x0777, seq=1, ip_id=0x403)
    s.rx("vm1", fg, tx=[snat_out(fg, 0x0777)])
    fo = icmp4_echo(orange.mac, RO, orange.ip, SERVER, ident=0x0777, seq=1, ip_id=0x503)
    s.rx("vm2", fo, tx=[snat_out(fo, 0x0778)])
    f = from_outside(SERVER, EXT_IP, ICMP(type=0, code=0, id=0x0778, seq=1) / Raw(b"ping"))
    s.rx("uplink", f, tx=[snat_in(f, orange, RO, 0x0777)])
    f = from_outside(SERVER, EXT_IP, ICMP(type=0, code=0, id=0x0777, seq=1) / Raw(b"ping"))
    s.rx("uplink", f, tx=[snat_in(f, green, RG, 0x0777)])
    return s


def icmp_error_about(sent, typ, code, src, ttl_seen):
    """An ICMP error from `src` to the external address quoting the IP packet of
    frame `sent` (as it left the uplink) with the TTL the erroring host saw."""
    quoted = IP(Ether(sent)[IP].build())
    quoted.ttl = ttl_seen
    del quoted.chksum
    return from_outside(src, EXT_IP, ICMP(type=typ, code=code) / Raw(bytes(quoted)), ip_id=0x3333)


def translated_error(error, lp, router_mac, tenant_frame, ttl_seen):
    """The ICMP error as delivered to `lp`: outer dst = tenant IP, TTL - 1, MACs;
    the quote = the tenant's packet (its address and port back) with the TTL seen."""
    p = Ether(error)
    quoted = IP(Ether(tenant_frame)[IP].build())
    quoted.ttl = ttl_seen
    del quoted.chksum
    p[ICMP].remove_payload()
    p[ICMP].add_payload(Raw(bytes(quoted)))
    del p[ICMP].chksum
    return _retranslate(bytes(p), router_mac, lp.mac, dst=lp.ip)


@register
def scenario_snat_icmp_error():
    topo = snat_topology()
    s = Scenario("snat-icmp-error", topo)
    green, orange = topo.lp("green-vm1"), topo.lp("orange-vm2")
    RG, RO = topo.routers[0].mac, topo.routers[1].mac
    # Two overlapping UDP flows (green 40000 -> 40000, orange 40000 -> 40001); the
    # server says port unreachable about orange's: it reaches orange, quote restored.
    fg = udp4(green.mac, RG, green.ip, SERVER, 40000, 9999, b"green datagram", ident=0x601)
    s.rx("vm1", fg, tx=[snat_out(fg, 40000)])
    fo = udp4(orange.mac, RO, orange.ip, SERVER, 40000, 9999, b"orange datagram", ident=0x701)
    sent = snat_out(fo, 40001)
    s.rx("vm2", fo, tx=[sent])
    e = icmp_error_about(sent[1], 3, 3, SERVER, ttl_seen=55)
    s.rx("uplink", e, tx=[out(orange, translated_error(e, orange, RO, fo, 55))])
    # Time exceeded from a router on the way, about green's ping (identifier 0x0900).
    fg = icmp4_echo(green.mac, RG, green.ip, SERVER, ident=0x0900, seq=1, ip_id=0x602)
    sent = snat_out(fg, 0x0900)
    s.rx("vm1", fg, tx=[sent])
    e = icmp_error_about(sent[1], 11, 0, HOP, ttl_seen=1)
    s.rx("uplink", e, tx=[out(green, translated_error(e, green, RG, fg, 1))])
    # Fragmentation needed about green's TCP SYN (parameter problem would do alike).
    fg = tcp4(green.mac, RG, green.ip, SERVER, 42000, 80, "S", 100, ident=0x603)
    sent = snat_out(fg, 42000)
    s.rx("vm1", fg, tx=[sent])
    e = icmp_error_about(sent[1], 3, 4, HOP, ttl_seen=60)
    s.rx("uplink", e, tx=[out(green, translated_error(e, green, RG, fg, 60))])
    # An error quoting a flow that was never translated: dropped.
    never = udp4(UPLINK_MAC, GW_MAC, EXT_IP, SERVER, 43000, 9999, b"never sent", ident=0x604)
    e = icmp_error_about(never, 3, 3, SERVER, ttl_seen=50)
    s.rx("uplink", e, drop="snat_no_connection")
    return s


@register
def scenario_snat_expiry():
    topo = snat_topology()
    s = Scenario("snat-expiry", topo)
    green, orange = topo.lp("green-vm1"), topo.lp("orange-vm2")
    RG, RO = topo.routers[0].mac, topo.routers[1].mac
    # Unreplied UDP lives 30 s, replied UDP 120 s (Linux's defaults).
    fg = udp4(green.mac, RG, green.ip, SERVER, 40000, 9053, b"green, unreplied", ident=0x801)
    s.rx("vm1", fg, tx=[snat_out(fg, 40000)])
    fo = udp4(orange.mac, RO, orange.ip, SERVER, 40000, 9053, b"orange, unreplied", ident=0x901)
    s.rx("vm2", fo, tx=[snat_out(fo, 40001)])
    fg = udp4(green.mac, RG, green.ip, SERVER, 41000, 9053, b"green, replied", ident=0x802)
    s.rx("vm1", fg, tx=[snat_out(fg, 41000)])
    f = from_outside(SERVER, EXT_IP, UDP(sport=9053, dport=41000) / Raw(b"reply 1"))
    s.rx("uplink", f, tx=[snat_in(f, green, RG, 41000)])
    s.advance(31)
    # 31 s later: the unreplied connections are gone, the replied one lives.
    f = from_outside(SERVER, EXT_IP, UDP(sport=9053, dport=40001) / Raw(b"too late for orange"))
    s.rx("uplink", f, drop="snat_no_connection")
    f = from_outside(SERVER, EXT_IP, UDP(sport=9053, dport=41000) / Raw(b"reply 2"))
    s.rx("uplink", f, tx=[snat_in(f, green, RG, 41000)])
    # Port 40000 is free again: orange's new connection keeps its own port now.
    fo = udp4(orange.mac, RO, orange.ip, SERVER, 40000, 9053, b"orange, again", ident=0x902)
    s.rx("vm2", fo, tx=[snat_out(fo, 40000)])
    f = from_outside(SERVER, EXT_IP, UDP(sport=9053, dport=40000) / Raw(b"answer for orange"))
    s.rx("uplink", f, tx=[snat_in(f, orange, RO, 40000)])
    # TCP: a RST closes the connection (close timeout 10 s) ...
    fg = tcp4(green.mac, RG, green.ip, SERVER, 42000, 80, "S", 100, ident=0x803)
    s.rx("vm1", fg, tx=[snat_out(fg, 42000)])
    f = from_outside(SERVER, EXT_IP, TCP(sport=80, dport=42000, flags="RA", seq=0, ack=101, window=0))
    s.rx("uplink", f, tx=[snat_in(f, green, RG, 42000)])
    s.advance(11)
    # ... and 11 s later it is gone, where an established one would have lived 5 days.
    f = from_outside(SERVER, EXT_IP, TCP(sport=80, dport=42000, flags="A", seq=1, ack=101, window=0))
    s.rx("uplink", f, drop="snat_no_connection")
    return s


@register
def scenario_snat_exhaustion():
    # Two external ports and room for three connections.
    topo = snat_topology(node={"snat_port_range": [20000, 20001]}, conntrack={"max_connections": 3})
    s = Scenario("snat-exhaustion", topo)
    green, orange = topo.lp("green-vm1"), topo.lp("orange-vm2")
    RG, RO = topo.routers[0].mac, topo.routers[1].mac
    fg = udp4(green.mac, RG, green.ip, SERVER, 20000, 9053, b"green 1", ident=0xA01)
    s.rx("vm1", fg, tx=[snat_out(fg, 20000)])
    fo = udp4(orange.mac, RO, orange.ip, SERVER, 20000, 9053, b"orange 1", ident=0xB01)
    s.rx("vm2", fo, tx=[snat_out(fo, 20001)])
    # Both ports are taken towards SERVER:9053: a third connection there is refused.
    fg = udp4(green.mac, RG, green.ip, SERVER, 30000, 9053, b"green 2: no port", ident=0xA02)
    s.rx("vm1", fg, drop="snat_ports_exhausted")
    # The live connections still get their replies (nothing was evicted).
    f = from_outside(SERVER, EXT_IP, UDP(sport=9053, dport=20000) / Raw(b"for green"))
    s.rx("uplink", f, tx=[snat_in(f, green, RG, 20000)])
    f = from_outside(SERVER, EXT_IP, UDP(sport=9053, dport=20001) / Raw(b"for orange"))
    s.rx("uplink", f, tx=[snat_in(f, orange, RO, 20000)])
    # Towards another server the ports are free again (address-and-port-dependent
    # mapping): 30000 is outside the range, the search starts at
    # 20000 + 30000 % 2 = 20000.
    fg = udp4(green.mac, RG, green.ip, SERVER2, 30000, 9053, b"green 3", ident=0xA03)
    s.rx("vm1", fg, tx=[snat_out(fg, 20000)])
    # The table holds three connections: a fourth is refused.
    fo = udp4(orange.mac, RO, orange.ip, SERVER2, 30001, 9053, b"orange 2: table full", ident=0xB02)
    s.rx("vm2", fo, drop="snat_table_full")
    f = from_outside(SERVER2, EXT_IP, UDP(sport=9053, dport=20000) / Raw(b"for green 3"))
    s.rx("uplink", f, tx=[snat_in(f, green, RG, 30000)])
    return s


@register
def scenario_snat_resolve():
    """No external_gateway_mac in the topology: the gateway is resolved by ARP on the
    uplink, from the external address. Translated frames wait for the answer and leave,
    in order, at the time of the answer (the behaviour of a chassis resolution)."""
    topo = snat_topology(node={"external_gateway_mac": None}, orange_snat=False)
    s = Scenario("snat-resolve", topo)
    vm = topo.lp("green-vm1")
    R = topo.routers[0].mac
    gateway_ip = NODE["external_gateway_ip"]
    who_has = arp(1, UPLINK_MAC, BROADCAST, UPLINK_MAC, EXT_IP, "00:00:00:00:00:00", gateway_ip)
    f1 = udp4(vm.mac, R, vm.ip, SERVER, 40000, 9053, b"resolve: first", ident=0xE01)
    s.rx("vm1", f1, tx=[("uplink", who_has)])
    f2 = udp4(vm.mac, R, vm.ip, SERVER, 40000, 9053, b"resolve: second", ident=0xE02)
    s.rx("vm1", f2, held=True)
    answer = arp(2, GW_MAC, UPLINK_MAC, GW_MAC, gateway_ip, UPLINK_MAC, EXT_IP)
    s.rx("uplink", answer, drop="neighbour_learned", answered_by=[snat_out(f1, 40000), snat_out(f2, 40000)])
    f3 = udp4(vm.mac, R, vm.ip, SERVER, 40000, 9053, b"resolve: third", ident=0xE03)
    s.rx("vm1", f3, tx=[snat_out(f3, 40000)])
    f = from_outside(SERVER, EXT_IP, UDP(sport=9053, dport=40000) / Raw(b"answer"))
    s.rx("uplink", f, tx=[snat_in(f, vm, R, 40000)])
    return s


@register
def scenario_snat_router_ip():
    # Green's router has its own external address on this node; orange uses the node's.
    green_ext = "203.0.113.21"
    topo = snat_topology(green_ip=green_ext)
    s = Scenario("snat-router-ip", topo)
    green, orange = topo.lp("green-vm1"), topo.lp("orange-vm2")
    RG, RO = topo.routers[0].mac, topo.routers[1].mac
    # Different external addresses: both keep port 40000.
    fg = udp4(green.mac, RG, green.ip, SERVER, 40000, 9053, b"green via router ip", ident=0xC01)
    s.rx("vm1", fg, tx=[snat_out(fg, 40000, ext_ip=green_ext)])
    fo = udp4(orange.mac, RO, orange.ip, SERVER, 40000, 9053, b"orange via node ip", ident=0xD01)
    s.rx("vm2", fo, tx=[snat_out(fo, 40000)])
    f = from_outside(SERVER, green_ext, UDP(sport=9053, dport=40000) / Raw(b"for green"))
    s.rx("uplink", f, tx=[snat_in(f, green, RG, 40000)])
    f = from_outside(SERVER, EXT_IP, UDP(sport=9053, dport=40000) / Raw(b"for orange"))
    s.rx("uplink", f, tx=[snat_in(f, orange, RO, 40000)])
    fg = tcp4(green.mac, RG, green.ip, SERVER, 44000, 443, "S", 1, ident=0xC02)
    s.rx("vm1", fg, tx=[snat_out(fg, 44000, ext_ip=green_ext)])
    f = from_outside(SERVER, green_ext, TCP(sport=443, dport=44000, flags="SA", seq=9, ack=2, window=65535))
    s.rx("uplink", f, tx=[snat_in(f, green, RG, 44000)])
    # Green's connection is not reachable through the node's address.
    f = from_outside(SERVER, EXT_IP, TCP(sport=443, dport=44000, flags="SA", seq=9, ack=2, window=65535))
    s.rx("uplink", f, drop="snat_no_connection")
    return s
