"""Scenarios of the node's local services: the DHCPv4 responder and IPv6
neighbour and router discovery. (The router's ICMP is in switching's routing
scenario.) Every answer is written here field by field from the RFCs and the
topology; the DHCP options in the order the responder documents: message type,
server identifier, router, subnet mask, lease time, then DNS servers, interface
MTU, domain, classless routes, renewal (T1) and rebinding (T2) times, then the
port's extra options in file order."""

import ipaddress
import struct

from .model import *  # noqa: F401,F403
from .pcap import *  # noqa: F401,F403
from .scenario import *  # noqa: F401,F403
from .frames import *  # noqa: F401,F403

R = "02:00:0a:00:00:01"
GW = "10.0.0.1"
COOKIE = b"\x63\x82\x53\x63"


def ip4(text):
    return ipaddress.IPv4Address(text).packed


def opt(code, data):
    return bytes([code, len(data)]) + data


def msg_type(kind):
    return opt(53, bytes([kind]))


DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8


def dhcp_client(mac, xid, options, src="0.0.0.0", dst="255.255.255.255", op=1, flags=0, ciaddr="0.0.0.0", end=True):
    """A client's message: BOOTP header by scapy, the options as given (then the end
    option unless `end` is False)."""
    return bytes(
        Ether(src=mac, dst=BROADCAST, type=0x0800)
        / IP(src=src, dst=dst, ttl=64, id=0, flags=0, tos=0x10)
        / UDP(sport=68, dport=67)
        / BOOTP(op=op, htype=1, hlen=6, hops=0, xid=xid, secs=3, flags=flags, ciaddr=ciaddr, chaddr=mac2str(mac) + b"\x00" * 10)
        / Raw(COOKIE + options + (b"\xff" if end else b""))
    )


def dhcp_server(dst_mac, dst_ip, mac, xid, options, yiaddr="0.0.0.0", ciaddr="0.0.0.0", siaddr="0.0.0.0", flags=0):
    """The responder's answer (RFC 2131): from the gateway and the router's MAC,
    op 2, secs 0, the client's xid, chaddr and broadcast flag; options then the end
    option, the message padded with zeros to 300 bytes (RFC 1542)."""
    bootp = bytes(
        BOOTP(op=2, htype=1, hlen=6, hops=0, xid=xid, secs=0, flags=flags, ciaddr=ciaddr, yiaddr=yiaddr, siaddr=siaddr, giaddr="0.0.0.0", chaddr=mac2str(mac) + b"\x00" * 10)
    )
    assert len(bootp) == 236
    message = bootp + COOKIE + options + b"\xff"
    message += b"\x00" * max(0, 300 - len(message))
    return bytes(
        Ether(src=R, dst=dst_mac, type=0x0800)
        / IP(src=GW, dst=dst_ip, ttl=64, id=0, flags="DF", tos=0, proto=17)
        / UDP(sport=67, dport=68)
        / Raw(message)
    )


@register
def scenario_dhcp():
    networks = [
        Network(
            "green-net",
            "green",
            1001,
            "10.0.0.0/24",
            GW,
            services={
                "dns_servers": ["10.0.0.2", "192.0.2.53"],
                "domain": "green.example",
                "lease_time": 3600,
                "host_routes": [{"destination": "192.168.50.0/24", "nexthop": "10.0.0.254"}],
                "mtu": 1500,
            },
        ),
        Network("orange-net", "orange", 1002, "10.0.0.0/24", GW, services={"dhcp": False}),
    ]
    routers = [Router("green-router", "green", R, ["green-net"]), Router("orange-router", "orange", "02:00:0a:00:00:02", ["orange-net"])]
    topo = Topology(
        vm_ports=["vm1", "vm2", "vm3", "vm4", "vm5"],
        networks=networks,
        routers=routers,
        chassis=[Chassis("compute-2", "192.0.2.12", "02:00:c0:00:02:0c")],
        logical_ports=[
            LP(
                "green-vm1",
                "green-net",
                "fa:16:3e:00:01:01",
                "10.0.0.5",
                "vm1",
                extra_dhcp_opts=[("bootfile-name", "pxelinux.0"), ("tftp-server", "10.0.0.10"), ("server-ip-address", "10.0.0.10")],
            ),
            LP("green-vm2", "green-net", "fa:16:3e:00:01:02", "10.0.0.6", "vm2"),
            LP("green-vm3", "green-net", "fa:16:3e:00:01:03", None, "vm3"),
            LP("orange-vm4", "orange-net", "fa:16:3e:00:02:04", "10.0.0.8", "vm4"),
            LP("orange-vm5", "orange-net", "fa:16:3e:00:02:05", "10.0.0.9", "vm5"),
            # Hosted on compute-2: green-net spans chassis, so its VMs' MTU is the
            # network's 1500 less VXLAN over IPv4's 50.
            remote_lp("green-web", "green-net", "fa:16:3e:00:01:09", "10.0.0.9", "compute-2"),
        ],
    )
    s = Scenario("dhcp", topo)
    vm1, vm2, vm3 = topo.lp("green-vm1"), topo.lp("green-vm2"), topo.lp("green-vm3")
    vm4, vm5 = topo.lp("orange-vm4"), topo.lp("orange-vm5")
    asks = opt(55, bytes([1, 3, 6, 15, 26, 121]))

    def configuration(lease=True):
        """The network's options after lease time (its T1 = 1800 and T2 = 3150
        only with a lease)."""
        routes = bytes([24, 192, 168, 50]) + ip4("10.0.0.254") + bytes([0]) + ip4(GW)
        return (
            opt(6, ip4("10.0.0.2") + ip4("192.0.2.53"))
            + opt(26, struct.pack("!H", 1450))
            + opt(15, b"green.example")
            + opt(121, routes)
            + ((opt(58, struct.pack("!I", 1800)) + opt(59, struct.pack("!I", 3150))) if lease else b"")
        )

    def offer_or_ack(kind, lease=True):
        head = msg_type(kind) + opt(54, ip4(GW)) + opt(3, ip4(GW)) + opt(1, ip4("255.255.255.0"))
        return head + (opt(51, struct.pack("!I", 3600)) if lease else b"") + configuration(lease)

    pxe = opt(67, b"pxelinux.0") + opt(66, b"10.0.0.10")

    # vm1: DISCOVER -> OFFER of its fixed address, with the PXE options of its port
    # (bootfile and TFTP server options, next-server field).
    f = dhcp_client(vm1.mac, 0x1001, msg_type(DISCOVER) + asks)
    s.rx("vm1", f, tx=[out(vm1, dhcp_server(vm1.mac, vm1.ip, vm1.mac, 0x1001, offer_or_ack(OFFER) + pxe, yiaddr=vm1.ip, siaddr="10.0.0.10"))])
    # REQUEST of that address for this server -> ACK.
    f = dhcp_client(vm1.mac, 0x1001, msg_type(REQUEST) + opt(50, ip4(vm1.ip)) + opt(54, ip4(GW)) + asks)
    s.rx("vm1", f, tx=[out(vm1, dhcp_server(vm1.mac, vm1.ip, vm1.mac, 0x1001, offer_or_ack(ACK) + pxe, yiaddr=vm1.ip, siaddr="10.0.0.10"))])
    # vm2: DISCOVER with the broadcast flag -> OFFER to 255.255.255.255 and
    # ff:ff:ff:ff:ff:ff, flag kept.
    f = dhcp_client(vm2.mac, 0x2001, msg_type(DISCOVER) + asks, flags=0x8000)
    s.rx("vm2", f, tx=[out(vm2, dhcp_server(BROADCAST, "255.255.255.255", vm2.mac, 0x2001, offer_or_ack(OFFER), yiaddr=vm2.ip, flags=0x8000))])
    # A renewal (unicast, ciaddr set, no requested-address option) -> ACK to ciaddr.
    f = dhcp_client(vm2.mac, 0x2002, msg_type(REQUEST) + asks, src=vm2.ip, dst=GW, ciaddr=vm2.ip)
    s.rx("vm2", f, tx=[out(vm2, dhcp_server(vm2.mac, vm2.ip, vm2.mac, 0x2002, offer_or_ack(ACK), yiaddr=vm2.ip, ciaddr=vm2.ip))])
    # REQUEST for an address that is not the port's -> NAK, broadcast, no yiaddr.
    f = dhcp_client(vm2.mac, 0x2003, msg_type(REQUEST) + opt(50, ip4("10.0.0.99")) + asks)
    s.rx("vm2", f, tx=[out(vm2, dhcp_server(BROADCAST, "255.255.255.255", vm2.mac, 0x2003, msg_type(NAK) + opt(54, ip4(GW))))])
    # REQUEST naming another server: the client took another offer, nothing to say.
    f = dhcp_client(vm2.mac, 0x2004, msg_type(REQUEST) + opt(50, ip4(vm2.ip)) + opt(54, ip4("10.0.0.3")))
    s.rx("vm2", f, drop="dhcp_no_reply")
    # INFORM from a configured client -> ACK to it, configuration without a lease.
    f = dhcp_client(vm2.mac, 0x2005, msg_type(INFORM) + asks, src=vm2.ip, dst=GW, ciaddr=vm2.ip)
    s.rx("vm2", f, tx=[out(vm2, dhcp_server(vm2.mac, vm2.ip, vm2.mac, 0x2005, offer_or_ack(ACK, lease=False), ciaddr=vm2.ip))])
    # RELEASE and DECLINE are taken note of, never answered.
    f = dhcp_client(vm2.mac, 0x2006, msg_type(RELEASE) + opt(54, ip4(GW)), src=vm2.ip, dst=GW, ciaddr=vm2.ip)
    s.rx("vm2", f, drop="dhcp_no_reply")
    f = dhcp_client(vm2.mac, 0x2007, msg_type(DECLINE) + opt(50, ip4(vm2.ip)) + opt(54, ip4(GW)))
    s.rx("vm2", f, drop="dhcp_no_reply")
    # vm3 has no fixed address: nothing to lease.
    f = dhcp_client(vm3.mac, 0x3001, msg_type(DISCOVER) + asks)
    s.rx("vm3", f, drop="dhcp_no_lease")

    # Hostile or broken client messages: dropped and counted.
    # A server's messages sent by a VM (OFFER, ACK with op 2).
    f = dhcp_client(vm2.mac, 0x2101, msg_type(OFFER) + opt(54, ip4("10.0.0.6")), op=2)
    s.rx("vm2", f, drop="dhcp_server_message")
    f = dhcp_client(vm2.mac, 0x2102, msg_type(ACK) + opt(54, ip4("10.0.0.6")), op=2)
    s.rx("vm2", f, drop="dhcp_server_message")
    # An option whose length runs past the end of the message (no end option).
    f = dhcp_client(vm2.mac, 0x2103, msg_type(DISCOVER) + bytes([12, 40]) + b"host", end=False)
    s.rx("vm2", f, drop="dhcp_malformed")
    # Option overload (52): options said to continue in sname/file; not followed.
    f = dhcp_client(vm2.mac, 0x2104, msg_type(DISCOVER) + opt(52, bytes([3])))
    s.rx("vm2", f, drop="dhcp_malformed")
    # No message type option.
    f = dhcp_client(vm2.mac, 0x2105, asks)
    s.rx("vm2", f, drop="dhcp_malformed")
    # The message type does not match op (a DISCOVER with op 2).
    f = dhcp_client(vm2.mac, 0x2106, msg_type(DISCOVER), op=2)
    s.rx("vm2", f, drop="dhcp_malformed")
    # A wrong magic cookie.
    f = bytearray(dhcp_client(vm2.mac, 0x2107, msg_type(DISCOVER)))
    f[14 + 20 + 8 + 236] ^= 0xFF
    s.rx("vm2", bytes(f), drop="dhcp_malformed")
    # The BOOTP header cut short (IP and UDP lengths say so).
    f = bytes(
        Ether(src=vm2.mac, dst=BROADCAST, type=0x0800)
        / IP(src="0.0.0.0", dst="255.255.255.255", ttl=64, id=0, flags=0, tos=0x10)
        / UDP(sport=68, dport=67)
        / Raw(bytes(BOOTP(op=1, xid=0x2108, chaddr=mac2str(vm2.mac) + b"\x00" * 10))[:100])
    )
    s.rx("vm2", f, drop="dhcp_malformed")

    # dhcp = false (orange-net): no responder, the discover is an ordinary
    # broadcast, flooded to the network's other port.
    f = dhcp_client(vm4.mac, 0x4001, msg_type(DISCOVER) + asks)
    s.rx("vm4", f, tx=[out(vm5, f)])
    return s


def solicited_node(target):
    group = "ff02::1:ff" + "%02x:%02x%02x" % tuple(ipaddress.IPv6Address(target).packed[13:])
    mac = "33:33:" + ":".join("%02x" % b for b in ipaddress.IPv6Address(group).packed[12:])
    return group, mac


def ns(src_mac, src_ip, target, hlim=255, options=True):
    """A neighbour solicitation for `target` to its solicited-node group, with the
    source link-layer option unless from the unspecified address."""
    group, mac = solicited_node(target)
    pkt = IPv6(src=src_ip, dst=group, hlim=hlim, fl=0, tc=0) / ICMPv6ND_NS(tgt=target)
    if options and src_ip != "::":
        pkt = pkt / ICMPv6NDOptSrcLLAddr(lladdr=src_mac)
    return bytes(Ether(src=src_mac, dst=mac, type=0x86DD) / pkt)


def na(dst_mac, dst_ip, owner_mac, target, router=False, solicited=True):
    """RFC 4861 7.2.4: from the target address and its owner's MAC, hop limit 255,
    override set, solicited unless answering a probe, router for the router's
    addresses, with the target link-layer option."""
    return bytes(
        Ether(src=owner_mac, dst=dst_mac, type=0x86DD)
        / IPv6(src=target, dst=dst_ip, hlim=255, fl=0, tc=0)
        / ICMPv6ND_NA(R=int(router), S=int(solicited), O=1, tgt=target)
        / ICMPv6NDOptDstLLAddr(lladdr=owner_mac)
    )


def rs(src_mac, src_ip):
    pkt = IPv6(src=src_ip, dst="ff02::2", hlim=255, fl=0, tc=0) / ICMPv6ND_RS()
    if src_ip != "::":
        pkt = pkt / ICMPv6NDOptSrcLLAddr(lladdr=src_mac)
    return bytes(Ether(src=src_mac, dst="33:33:00:00:00:02", type=0x86DD) / pkt)


def ra(dst_mac, dst_ip, prefix, mtu, managed=False, other=False, autonomous=True):
    """The router's advertisement (radvd's defaults): from its link-local address,
    hop limit 255; current hop limit 64, router lifetime 1800 s, reachable and
    retransmit times unspecified; source link-layer, MTU and prefix options (on-link,
    autonomous unless DHCPv6-stateful; valid 30 days, preferred 7)."""
    return bytes(
        Ether(src=R, dst=dst_mac, type=0x86DD)
        / IPv6(src=eui64_link_local(R), dst=dst_ip, hlim=255, fl=0, tc=0)
        / ICMPv6ND_RA(chlim=64, M=int(managed), O=int(other), H=0, prf=0, P=0, res=0, routerlifetime=1800, reachabletime=0, retranstimer=0)
        / ICMPv6NDOptSrcLLAddr(lladdr=R)
        / ICMPv6NDOptMTU(mtu=mtu)
        / ICMPv6NDOptPrefixInfo(prefixlen=64, L=1, A=int(autonomous), R=0, validlifetime=2592000, preferredlifetime=604800, prefix=prefix)
    )


@register
def scenario_ndisc():
    networks = [
        Network("v6-a", "green", 1101, "fd00:1::/64", "fd00:1::1"),
        Network("v6-b", "green", 1102, "fd00:2::/64", "fd00:2::1", services={"ipv6_ra_mode": "dhcpv6-stateful", "mtu": 9000}),
    ]
    topo = Topology(
        vm_ports=["vm5", "vm6", "vm7", "vm8"],
        networks=networks,
        routers=[Router("green-router", "green", R, ["v6-a", "v6-b"])],
        chassis=[Chassis("compute-2", "192.0.2.12", "02:00:c0:00:02:0c")],
        logical_ports=[
            LP("vm5", "v6-a", "fa:16:3e:00:06:05", "fd00:1::5", "vm5"),
            LP("vm6", "v6-a", "fa:16:3e:00:06:06", "fd00:1::6", "vm6"),
            # v6-a spans chassis: its advertised MTU is 1500 less VXLAN's 50.
            remote_lp("web", "v6-a", "fa:16:3e:00:06:09", "fd00:1::9", "compute-2"),
            LP("vm7", "v6-b", "fa:16:3e:00:07:07", "fd00:2::7", "vm7"),
            LP("vm8", "v6-b", "fa:16:3e:00:07:08", "fd00:2::8", "vm8"),
        ],
    )
    s = Scenario("ndisc", topo)
    vm5, vm6, web, vm7, vm8 = (topo.lp(n) for n in ["vm5", "vm6", "web", "vm7", "vm8"])
    ll5 = eui64_link_local(vm5.mac)
    router_ll = eui64_link_local(R)

    # Solicitations answered locally: for the gateway and the router's link-local
    # address (router flag), a local port's and a remote port's address.
    f = ns(vm5.mac, vm5.ip, "fd00:1::1")
    s.rx("vm5", f, tx=[out(vm5, na(vm5.mac, vm5.ip, R, "fd00:1::1", router=True))])
    f = ns(vm5.mac, ll5, router_ll)
    s.rx("vm5", f, tx=[out(vm5, na(vm5.mac, ll5, R, router_ll, router=True))])
    f = ns(vm5.mac, vm5.ip, vm6.ip)
    s.rx("vm5", f, tx=[out(vm5, na(vm5.mac, vm5.ip, vm6.mac, vm6.ip))])
    f = ns(vm5.mac, vm5.ip, web.ip)
    s.rx("vm5", f, tx=[out(vm5, na(vm5.mac, vm5.ip, web.mac, web.ip))])
    f = ns(vm5.mac, vm5.ip, eui64_link_local(vm6.mac))
    s.rx("vm5", f, tx=[out(vm5, na(vm5.mac, vm5.ip, vm6.mac, eui64_link_local(vm6.mac)))])
    # A duplicate address probe (from ::) for another port's address is defended:
    # the answer goes to all nodes, not solicited.
    f = ns(vm7.mac, "::", vm8.ip)
    s.rx("vm7", f, tx=[out(vm7, na("33:33:00:00:00:01", "ff02::1", vm8.mac, vm8.ip, solicited=False))])
    # A probe for its own address, and a solicitation for an address nobody has,
    # are not the node's to answer: flooded as before.
    f = ns(vm7.mac, "::", vm7.ip)
    s.rx("vm7", f, tx=[out(vm8, f)])
    f = ns(vm7.mac, vm7.ip, "fd00:2::77")
    s.rx("vm7", f, tx=[out(vm8, f)])

    # Router solicitations: the advertisement to the asker, its prefix for SLAAC
    # and the network's MTU.
    f = rs(vm5.mac, ll5)
    s.rx("vm5", f, tx=[out(vm5, ra(vm5.mac, ll5, "fd00:1::", 1450))])
    # From :: to all nodes; v6-b is DHCPv6-stateful (managed and other flags, no
    # autonomous prefix) and does not span chassis (MTU 9000 as configured).
    f = rs(vm7.mac, "::")
    s.rx("vm7", f, tx=[out(vm7, ra(vm7.mac, "ff02::1", "fd00:2::", 9000, managed=True, other=True, autonomous=False))])

    # RFC 4861 says to ignore: a hop limit other than 255, a bad checksum, an
    # option of length zero (which would loop), a message cut short.
    f = ns(vm5.mac, vm5.ip, "fd00:1::1", hlim=254)
    s.rx("vm5", f, drop="ndisc_malformed")
    f = bytearray(ns(vm5.mac, vm5.ip, "fd00:1::1"))
    f[14 + 40 + 2] ^= 0xFF
    s.rx("vm5", bytes(f), drop="ndisc_malformed")
    f = bytearray(ns(vm5.mac, vm5.ip, "fd00:1::1"))
    f[14 + 40 + 24 + 1] = 0  # the source link-layer option's length
    csum = 14 + 40 + 2
    f[csum : csum + 2] = b"\x00\x00"
    body = bytes(f[14 + 40 :])
    pseudo = ipaddress.IPv6Address(vm5.ip).packed + bytes(f[14 + 24 : 14 + 40]) + struct.pack("!IxxxB", len(body), 58)
    f[csum : csum + 2] = struct.pack("!H", inet_checksum(pseudo + body))
    s.rx("vm5", bytes(f), drop="ndisc_malformed")
    group, mac = solicited_node("fd00:1::1")
    short = bytes(Ether(src=vm5.mac, dst=mac, type=0x86DD) / IPv6(src=vm5.ip, dst=group, hlim=255, fl=0, tc=0, nh=58) / Raw(bytes([135, 0, 0, 0]) + b"\x00" * 8))
    s.rx("vm5", short, drop="ndisc_malformed")
    return s
