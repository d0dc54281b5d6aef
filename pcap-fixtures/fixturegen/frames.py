"""Frame builders (every field set explicitly), the transformations used to write
expected frames, and raw builders for broken frames."""

import logging
import struct

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.all import (  # noqa: E402
    ARP,
    BOOTP,
    DHCP,
    DNS,
    DNSQR,
    ICMP,
    IP,
    TCP,
    UDP,
    Ether,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6DestUnreach,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo,
    ICMPv6PacketTooBig,
    ICMPv6TimeExceeded,
    IPOption_Router_Alert,
    IPv6,
    Raw,
    mac2str,
)
from scapy.layers.vxlan import VXLAN  # noqa: E402

from .model import *  # noqa: F401,F403,E402

# ---------------------------------------------------------------------------
# Frame builders (all return bytes; every field set explicitly)
# ---------------------------------------------------------------------------


def udp4(src_mac, dst_mac, src_ip, dst_ip, sport, dport, payload, ttl=64, ident=1, options=None):
    ip = IP(src=src_ip, dst=dst_ip, ttl=ttl, id=ident, flags="DF", tos=0, proto=17)
    if options is not None:
        ip.options = options
    return bytes(Ether(src=src_mac, dst=dst_mac, type=0x0800) / ip / UDP(sport=sport, dport=dport) / Raw(payload))


def tcp4(src_mac, dst_mac, src_ip, dst_ip, sport, dport, flags, seq, ack=0, payload=b"", ident=1, ttl=64):
    opts = [("MSS", 1460)] if "S" in flags else []
    pkt = (
        Ether(src=src_mac, dst=dst_mac, type=0x0800)
        / IP(src=src_ip, dst=dst_ip, ttl=ttl, id=ident, flags="DF", tos=0)
        / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=64240, options=opts)
    )
    if payload:
        pkt = pkt / Raw(payload)
    return bytes(pkt)


def icmp4_echo(src_mac, dst_mac, src_ip, dst_ip, ident, seq, reply=False, ttl=64, ip_id=1, payload=b"ping"):
    return bytes(
        Ether(src=src_mac, dst=dst_mac, type=0x0800)
        / IP(src=src_ip, dst=dst_ip, ttl=ttl, id=ip_id, flags="DF", tos=0)
        / ICMP(type=0 if reply else 8, code=0, id=ident, seq=seq)
        / Raw(payload)
    )


def udp6(src_mac, dst_mac, src_ip, dst_ip, sport, dport, payload, hlim=64):
    return bytes(
        Ether(src=src_mac, dst=dst_mac, type=0x86DD)
        / IPv6(src=src_ip, dst=dst_ip, hlim=hlim, fl=0, tc=0)
        / UDP(sport=sport, dport=dport)
        / Raw(payload)
    )


def icmp6_echo(src_mac, dst_mac, src_ip, dst_ip, ident, seq, reply=False, hlim=64, payload=b"ping6"):
    echo = ICMPv6EchoReply if reply else ICMPv6EchoRequest
    return bytes(
        Ether(src=src_mac, dst=dst_mac, type=0x86DD)
        / IPv6(src=src_ip, dst=dst_ip, hlim=hlim, fl=0, tc=0)
        / echo(id=ident, seq=seq, data=payload)
    )


def arp(op, eth_src, eth_dst, hwsrc, psrc, hwdst, pdst):
    f = bytes(
        Ether(src=eth_src, dst=eth_dst, type=0x0806)
        / ARP(hwtype=1, ptype=0x0800, hwlen=6, plen=4, op=op, hwsrc=hwsrc, psrc=psrc, hwdst=hwdst, pdst=pdst)
    )
    assert len(f) == 42
    return f


def arp_request(lp, target_ip, eth_dst=BROADCAST, psrc=None, hwsrc=None, eth_src=None):
    """ARP request from logical port `lp` (no padding: 42 bytes)."""
    return arp(
        1,
        eth_src or lp.mac,
        eth_dst,
        hwsrc or lp.mac,
        lp.ip if psrc is None else psrc,
        "00:00:00:00:00:00",
        target_ip,
    )


def dhcp_discover(mac, xid, sport=68):
    return bytes(
        Ether(src=mac, dst=BROADCAST, type=0x0800)
        / IP(src="0.0.0.0", dst="255.255.255.255", ttl=64, id=0, flags=0, tos=0x10)
        / UDP(sport=sport, dport=67)
        / BOOTP(op=1, htype=1, hlen=6, hops=0, xid=xid, secs=0, flags=0, chaddr=mac2str(mac) + b"\x00" * 10)
        / DHCP(options=[("message-type", "discover"), ("param_req_list", [1, 3, 6]), "end"])
    )


def mdns_query(src_mac, src_ip, name):
    return bytes(
        Ether(src=src_mac, dst="01:00:5e:00:00:fb", type=0x0800)
        / IP(src=src_ip, dst="224.0.0.251", ttl=255, id=0, flags="DF", tos=0)
        / UDP(sport=5353, dport=5353)
        / DNS(id=0, qr=0, rd=0, qd=DNSQR(qname=name, qtype="PTR", qclass="IN"))
    )


# ---------------------------------------------------------------------------
# Transformations used to write expected frames
# ---------------------------------------------------------------------------


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def vlan_tag(frame, vid, pcp=0, dei=0, tpid=0x8100):
    """Insert a VLAN tag after the MAC addresses."""
    assert 0 <= vid < 4096
    tci = (pcp << 13) | (dei << 12) | vid
    return frame[:12] + struct.pack("!HH", tpid, tci) + frame[12:]


def out(lp, frame):
    """(port, frame) as the dataplane transmits `frame` to logical port `lp`:
    untagged for an untagged logical port, 802.1Q tag (TPID 0x8100, PCP 0, DEI 0,
    VID = sub-port vlan) for a trunk sub-port."""
    return (lp.port, frame if lp.vlan is None else vlan_tag(frame, lp.vlan))


def inet_checksum(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4_header_valid(hdr):
    return inet_checksum(hdr) == 0


def routed(frame, router_mac, dst_mac):
    """The frame as the distributed router forwards it: Ethernet src = router MAC,
    Ethernet dst = destination port's MAC, IPv4 TTL - 1 with the header checksum
    recomputed over the whole header (options included), or IPv6 hop limit - 1.
    Everything else untouched. Works on an untagged frame."""
    f = bytearray(frame)
    f[0:6] = mac_bytes(dst_mac)
    f[6:12] = mac_bytes(router_mac)
    ethertype = struct.unpack("!H", f[12:14])[0]
    if ethertype == 0x0800:
        ihl = (f[14] & 0x0F) * 4
        assert f[14 + 8] > 1
        f[14 + 8] -= 1
        f[14 + 10 : 14 + 12] = b"\x00\x00"
        f[14 + 10 : 14 + 12] = struct.pack("!H", inet_checksum(bytes(f[14 : 14 + ihl])))
        assert ipv4_header_valid(bytes(f[14 : 14 + ihl]))
    elif ethertype == 0x86DD:
        assert f[14 + 7] > 1
        f[14 + 7] -= 1
    else:
        raise ValueError("not IP")
    return bytes(f)


def arp_answer(request, answered_mac):
    """The local ARP responder's reply: the request rewritten in place (same
    length): Ethernet dst = request's Ethernet src, Ethernet src = answered MAC,
    op 2, hwsrc = answered MAC, psrc = requested target IP, hwdst = request's
    hwsrc, pdst = request's psrc. Works on an untagged request."""
    req = Ether(request)
    a = req[ARP]
    assert a.op == 1
    reply = arp(2, answered_mac, req.src, answered_mac, a.pdst, a.hwsrc, a.psrc)
    assert len(reply) == len(request)
    return reply


# ---------------------------------------------------------------------------
# Raw builders for broken frames (malformed scenario)
# ---------------------------------------------------------------------------


def eth_header(src_mac, dst_mac, ethertype):
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ethertype)


def ipv4_raw(src, dst, proto, total_len, payload, version=4, ihl=5, ttl=64, ident=1, bad_checksum=False):
    """A 20-byte IPv4 header written field by field (+ payload). The header
    checksum is correct over the 20 bytes written unless bad_checksum."""
    hdr = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s",
            (version << 4) | ihl,
            0,
            total_len,
            ident,
            0x4000,
            ttl,
            proto,
            0,
            bytes(int(x) for x in src.split(".")),
            bytes(int(x) for x in dst.split(".")),
        )
    )
    ck = inet_checksum(bytes(hdr))
    if bad_checksum:
        ck ^= 0x0101
    hdr[10:12] = struct.pack("!H", ck)
    return bytes(hdr) + payload


def udp_raw(sport, dport, length, payload):
    return struct.pack("!HHHH", sport, dport, length, 0) + payload  # checksum 0: none


def tcp_raw(sport, dport, data_offset, flags=0x02, seq=1000):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 0, data_offset << 4, flags, 64240, 0, 0)


def ipv6_raw(src, dst, next_header, payload_len, payload, version=6, hlim=64):
    import ipaddress

    return (
        struct.pack("!IHBB", version << 28, payload_len, next_header, hlim)
        + ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + payload
    )


# ---------------------------------------------------------------------------
# What the router answers itself (local services)
# ---------------------------------------------------------------------------


def eui64_link_local(mac):
    """fe80::/64 with the modified EUI-64 interface identifier of `mac` (RFC 4291)."""
    import ipaddress

    m = mac_bytes(mac)
    iid = bytes([m[0] ^ 0x02, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + b"\x00" * 6 + iid))


def icmp4_echo_answer(request, router_mac):
    """The router's echo reply: addresses swapped (from the address asked), TTL 64,
    the request's IP identification, flags and payload kept, type 0."""
    req = Ether(request)
    ip, icmp = req[IP], req[ICMP]
    return bytes(
        Ether(src=router_mac, dst=req.src, type=0x0800)
        / IP(src=ip.dst, dst=ip.src, ttl=64, id=ip.id, flags=ip.flags, tos=ip.tos)
        / ICMP(type=0, code=0, id=icmp.id, seq=icmp.seq)
        / Raw(bytes(icmp.payload))
    )


def icmp6_echo_answer(request, router_mac):
    req = Ether(request)
    ip, echo = req[IPv6], req[ICMPv6EchoRequest]
    return bytes(
        Ether(src=router_mac, dst=req.src, type=0x86DD)
        / IPv6(src=ip.dst, dst=ip.src, hlim=64, fl=ip.fl, tc=ip.tc)
        / ICMPv6EchoReply(id=echo.id, seq=echo.seq, data=echo.data)
    )


def gateway_of(topo, lp):
    """The gateway address of logical port `lp`'s network."""
    return next(n.gateway_ip for n in topo.networks if n.name == lp.network)


def icmp4_error(frame, router_mac, gateway, icmp_type, code):
    """RFC 792/1812: the router's ICMP error about `frame` (untagged), from the
    gateway of the network it came from, to its source: IP id 0, DF, TTL 64, the
    original IP packet quoted (Ethernet padding dropped) up to 576 bytes in all."""
    req = Ether(frame)
    original = bytes(req[IP])[: req[IP].len]
    return bytes(
        Ether(src=router_mac, dst=req.src, type=0x0800)
        / IP(src=gateway, dst=req[IP].src, ttl=64, id=0, flags="DF", tos=0, proto=1)
        / ICMP(type=icmp_type, code=code, unused=0)
        / Raw(original[: 576 - 28])
    )


def icmp6_error(frame, router_mac, gateway, layer, code):
    """RFC 4443: the ICMPv6 error (`layer`: ICMPv6TimeExceeded, ICMPv6DestUnreach)
    about `frame`, hop limit 64, quoting the original up to 1280 bytes in all."""
    req = Ether(frame)
    original = bytes(req[IPv6])[: 40 + req[IPv6].plen]
    return bytes(
        Ether(src=router_mac, dst=req.src, type=0x86DD)
        / IPv6(src=gateway, dst=req[IPv6].src, hlim=64, fl=0, tc=0)
        / layer(code=code)
        / Raw(original[: 1280 - 48])
    )
