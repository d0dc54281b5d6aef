"""Service function chaining scenarios."""

from .model import *  # noqa: F401,F403
from .pcap import *  # noqa: F401,F403
from .scenario import *  # noqa: F401,F403
from .frames import *  # noqa: F401,F403


# ---------------------------------------------------------------------------
# SFC: service function chaining
# ---------------------------------------------------------------------------
#
# A service function (SF) is simulated by the input pcap of its port: the frame it
# "returns" is an input on its egress logical port, a later input than the frame the
# dataplane sent it. Expected frames to an SF: destination MAC = the SF's ingress
# logical port's MAC, source MAC kept from the frame being steered, tagged for its
# sub-port; MPLS: Ethernet / MPLS (label chain_id << 8 | SI, TC 0 IPv4 / 1 IPv6,
# S 1, TTL 255) / IP; NSH: Ethernet / NSH (MD type 2, no metadata, TTL 63, next
# protocol Ethernet, SPI chain_id, SI) / original frame; proxy: the plain frame.
# SI is 255 for the first group, one less per group; a symmetric chain's reverse
# direction continues below the forward SIs. After the last group the frame is as
# its source sent it (source's MAC, destination's MAC or the router's) and goes on
# through L2 or routing.

from scapy.contrib.mpls import MPLS  # noqa: E402
from scapy.contrib.nsh import NSH  # noqa: E402


def toml_sections(section, items):
    out = []
    for item in items:
        out.append(f"[[{section}]]")
        for k, v in item.items():
            out.append(f"{k} = {toml_value(v)}")
        out.append("")
    return out


def sfc_toml(pairs, groups, classifiers, chains):
    return "\n".join(
        toml_sections("port_pairs", pairs)
        + toml_sections("port_pair_groups", groups)
        + toml_sections("flow_classifiers", classifiers)
        + toml_sections("port_chains", chains)
    )


def pair(name, ingress, egress, correlation, weight=1):
    return {"name": name, "ingress": ingress, "egress": egress, "correlation": correlation, "weight": weight}


def src_mac_of(frame):
    return ":".join(f"{b:02x}" for b in frame[6:12])


def to_sf(frame, dst_mac):
    """The plain frame with the SF's MAC as destination (proxy)."""
    return mac_bytes(dst_mac) + frame[6:]


def with_macs(frame, dst_mac, src_mac):
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + frame[12:]


def mpls_encap(frame, chain_id, si, dst_mac, src_mac=None):
    """Ethernet / MPLS / IP from an untagged IP frame."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    assert ethertype in (0x0800, 0x86DD)
    tc = 1 if ethertype == 0x86DD else 0
    return bytes(
        Ether(dst=dst_mac, src=src_mac or src_mac_of(frame), type=0x8847)
        / MPLS(label=(chain_id << 8) | si, cos=tc, s=1, ttl=255)
        / Raw(frame[14:])
    )


def nsh_encap(frame, spi, si, dst_mac, src_mac=None, nextproto=3, ver=0):
    return bytes(
        Ether(dst=dst_mac, src=src_mac or src_mac_of(frame), type=0x894F)
        / NSH(ver=ver, oam=0, ttl=63, length=2, mdtype=2, nextproto=nextproto, spi=spi, si=si)
        / Raw(frame)
    )


def sfc_base(extra_ports, extra_lps, v6=False):
    """green-net (vm1 10.0.0.5, vm2 10.0.0.6) and green-net2 (vm3 10.0.1.5) on
    green-router; with v6, green-v6-net (vm5 fd00:1::5, vm6 fd00:1::6) too."""
    networks, routers = green_orange_base()
    networks = [networks[0], Network("green-net2", "green", 1004, "10.0.1.0/24", "10.0.1.1")]
    routers = [Router("green-router", "green", "02:00:0a:00:00:01", ["green-net", "green-net2"])]
    lps = [
        LP("green-vm1", "green-net", "fa:16:3e:00:01:01", "10.0.0.5", "vm1"),
        LP("green-vm2", "green-net", "fa:16:3e:00:01:02", "10.0.0.6", "vm2"),
        LP("green-vm3", "green-net2", "fa:16:3e:00:01:03", "10.0.1.5", "vm3"),
    ]
    ports = ["vm1", "vm2", "vm3"]
    if v6:
        networks.append(Network("green-v6-net", "green", 1003, "fd00:1::/64", "fd00:1::1"))
        routers[0].networks.append("green-v6-net")
        lps += [
            LP("green-vm5", "green-v6-net", "fa:16:3e:00:03:05", "fd00:1::5", "vm5"),
            LP("green-vm6", "green-v6-net", "fa:16:3e:00:03:06", "fd00:1::6", "vm6"),
        ]
        ports += ["vm5", "vm6"]
    return Topology(vm_ports=ports + extra_ports, networks=networks, routers=routers, logical_ports=lps + extra_lps)


def sf_ports(name, network, mac_base, ip_base, vlan_base, v6=False):
    """The two trunk sub-ports of SF `name` on dataplane port `name`: NAME-in (vlan
    vlan_base + 1, MAC mac_base:01) and NAME-out (vlan_base + 2, MAC mac_base:02)."""
    assert len(mac_base.split(":")) == 5
    ip = (lambda k: f"fd00:1::{ip_base + k:x}") if v6 else (lambda k: f"10.0.0.{ip_base + k}")
    return [
        LP(f"{name}-in", network, f"{mac_base}:01", ip(0), name, vlan=vlan_base + 1),
        LP(f"{name}-out", network, f"{mac_base}:02", ip(1), name, vlan=vlan_base + 2),
    ]


@register
def scenario_sfc_mpls():
    """Two groups of MPLS-aware SFs (chain 7), IPv6 through a chain (chain 8), traffic
    that matches no classifier, a routed chained flow, and refused labels."""
    extra = (
        sf_ports("sf1", "green-net", "fa:16:3e:0f:01", 201, 100)
        + sf_ports("sf2", "green-net", "fa:16:3e:0f:02", 203, 200)
        + sf_ports("sf3", "green-v6-net", "fa:16:3e:0f:03", 0x201, 300, v6=True)
    )
    topo = sfc_base(["sf1", "sf2", "sf3"], extra, v6=True)
    topo.extra = sfc_toml(
        [pair("sf1", "sf1-in", "sf1-out", "mpls"), pair("sf2", "sf2-in", "sf2-out", "mpls"), pair("sf3", "sf3-in", "sf3-out", "mpls")],
        [{"name": "g1", "port_pairs": ["sf1"]}, {"name": "g2", "port_pairs": ["sf2"]}, {"name": "g3", "port_pairs": ["sf3"]}],
        [
            {"name": "web", "ethertype": "IPv4", "protocol": "tcp", "destination_port_range": [80, 80], "logical_source_port": "green-vm1"},
            {"name": "v6-udp", "ethertype": "IPv6", "protocol": "udp", "destination_port_range": [5000, 5999], "destination_ip_prefix": "fd00:1::6/128"},
        ],
        [
            {"name": "web-chain", "chain_id": 7, "port_pair_groups": ["g1", "g2"], "flow_classifiers": ["web"], "correlation": "mpls", "symmetric": False},
            {"name": "v6-chain", "chain_id": 8, "port_pair_groups": ["g3"], "flow_classifiers": ["v6-udp"], "correlation": "mpls", "symmetric": False},
        ],
    )
    s = Scenario("sfc-mpls", topo)
    vm1, vm2, vm3, vm5, vm6 = (topo.lp(n) for n in ["green-vm1", "green-vm2", "green-vm3", "green-vm5", "green-vm6"])
    sf1i, sf1o, sf2i, sf2o, sf3i, sf3o = (topo.lp(n) for n in ["sf1-in", "sf1-out", "sf2-in", "sf2-out", "sf3-in", "sf3-out"])
    router = "02:00:0a:00:00:01"

    # vm1 -> vm2 TCP 80: classified into chain 7. Hop 1: sf1 gets label 7/255.
    f = tcp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40000, 80, "S", seq=100, ident=0x701)
    s.rx("vm1", f, tx=[out(sf1i, mpls_encap(f, 7, 255, sf1i.mac))])
    # sf1 returns it (its own MAC as source, label unchanged): hop 2, sf2, label 7/254,
    # the source MAC of the returned frame kept.
    back = vlan_tag(mpls_encap(f, 7, 255, sf1i.mac, src_mac=sf1o.mac), sf1o.vlan)
    s.rx("sf1", back, tx=[out(sf2i, mpls_encap(f, 7, 254, sf2i.mac, src_mac=sf1o.mac))])
    # sf2 returns it: end of chain, the label removed, the frame as vm1 sent it to vm2.
    back = vlan_tag(mpls_encap(f, 7, 254, "02:00:00:00:00:99", src_mac=sf2o.mac), sf2o.vlan)
    s.rx("sf2", back, tx=[out(vm2, f)])
    # The reply vm2 -> vm1 matches no classifier (logical source vm2): switched directly.
    f = tcp4(vm2.mac, vm1.mac, vm2.ip, vm1.ip, 80, 40000, "SA", seq=900, ack=101, ident=0x702)
    s.rx("vm2", f, tx=[out(vm1, f)])
    # Unmatched traffic bypasses the chain: UDP, and TCP to another port.
    f = udp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40001, 40053, b"sfc-mpls: bypass udp", ident=0x703)
    s.rx("vm1", f, tx=[out(vm2, f)])
    f = tcp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40002, 81, "S", seq=200, ident=0x704)
    s.rx("vm1", f, tx=[out(vm2, f)])
    # A routed flow vm1 -> vm3 (other network) TCP 80 goes through the chain, then is
    # routed (router MAC as source, TTL - 1) at the end.
    f = tcp4(vm1.mac, router, vm1.ip, vm3.ip, 40003, 80, "S", seq=300, ident=0x705)
    s.rx("vm1", f, tx=[out(sf1i, mpls_encap(f, 7, 255, sf1i.mac))])
    back = vlan_tag(mpls_encap(f, 7, 255, sf1i.mac), sf1o.vlan)
    s.rx("sf1", back, tx=[out(sf2i, mpls_encap(f, 7, 254, sf2i.mac))])
    back = vlan_tag(mpls_encap(f, 7, 254, sf2i.mac), sf2o.vlan)
    s.rx("sf2", back, tx=[out(vm3, routed(f, router, vm3.mac))])
    # IPv6 UDP to fd00:1::6 port 5001: chain 8 (one group), TC 1.
    f = udp6(vm5.mac, vm6.mac, vm5.ip, vm6.ip, 41000, 5001, b"sfc-mpls: ipv6 chained")
    s.rx("vm5", f, tx=[out(sf3i, mpls_encap(f, 8, 255, sf3i.mac))])
    back = vlan_tag(mpls_encap(f, 8, 255, sf3i.mac, src_mac=sf3o.mac), sf3o.vlan)
    s.rx("sf3", back, tx=[out(vm6, f)])
    # IPv6 UDP to port 7000: bypass.
    f = udp6(vm5.mac, vm6.mac, vm5.ip, vm6.ip, 41000, 7000, b"sfc-mpls: ipv6 bypass")
    s.rx("vm5", f, tx=[out(vm6, f)])
    # Refused labels: an unknown chain (9), an SI beyond chain 7 (250), and 7/254 on
    # sf1-out (that hop returns on sf2-out).
    f = tcp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40000, 80, "A", seq=101, ack=901, ident=0x706)
    for chain_id, si, lp in [(9, 255, sf1o), (7, 250, sf1o), (7, 254, sf1o)]:
        s.rx("sf1", vlan_tag(mpls_encap(f, chain_id, si, sf1i.mac, src_mac=sf1o.mac), lp.vlan), drop="sfc_unknown_label")
    return s


@register
def scenario_sfc_proxy():
    """Functions that see plain frames (correlation none). fw1 is the contract
    example's firewall (port_security left to its default on fw1-out); fw2-out is the
    egress of two pairs (fw2a in chain 10, fw2b in chain 11), so what returns there is
    re-associated by its 5-tuple."""
    extra = sf_ports("fw1", "green-net", "fa:16:3e:0f:00", 201, 100) + [
        LP("fw2-in-a", "green-net", "fa:16:3e:00:0e:01", "10.0.0.211", "fw2", vlan=201),
        LP("fw2-in-b", "green-net", "fa:16:3e:00:0e:02", "10.0.0.212", "fw2", vlan=202),
        LP("fw2-out", "green-net", "fa:16:3e:00:0e:03", "10.0.0.213", "fw2", vlan=203),
    ]
    topo = sfc_base(["fw1", "fw2"], extra)
    topo.extra = sfc_toml(
        [pair("fw1", "fw1-in", "fw1-out", "none"), pair("fw2a", "fw2-in-a", "fw2-out", "none"), pair("fw2b", "fw2-in-b", "fw2-out", "none")],
        [{"name": "firewalls", "port_pairs": ["fw1"]}, {"name": "fw2a-group", "port_pairs": ["fw2a"]}, {"name": "fw2b-group", "port_pairs": ["fw2b"]}],
        [
            {"name": "web", "ethertype": "IPv4", "protocol": "tcp", "destination_port_range": [80, 80], "logical_source_port": "green-vm1", "destination_ip_prefix": "10.0.0.6/32"},
            {"name": "dns", "ethertype": "IPv4", "protocol": "udp", "destination_port_range": [53, 53], "logical_source_port": "green-vm1"},
        ],
        [
            {"name": "web-chain", "chain_id": 10, "port_pair_groups": ["firewalls", "fw2a-group"], "flow_classifiers": ["web"], "correlation": "mpls", "symmetric": False},
            {"name": "dns-chain", "chain_id": 11, "port_pair_groups": ["fw2b-group"], "flow_classifiers": ["dns"], "correlation": "mpls", "symmetric": False},
        ],
    )
    s = Scenario("sfc-proxy", topo)
    vm1, vm2 = topo.lp("green-vm1"), topo.lp("green-vm2")
    fw1i, fw1o, fw2a, fw2b, fw2o = (topo.lp(n) for n in ["fw1-in", "fw1-out", "fw2-in-a", "fw2-in-b", "fw2-out"])

    # vm1 -> vm2 TCP 80 (chain 10): the plain frame to fw1-in's MAC.
    f = tcp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40000, 80, "S", seq=100, ident=0xa01)
    s.rx("vm1", f, tx=[out(fw1i, to_sf(f, fw1i.mac))])
    # fw1 re-emits it from fw1-out as it received it (vm1's MAC and IP as source: no
    # port security on an SF egress). fw1-out serves one hop: next group, fw2a.
    s.rx("fw1", vlan_tag(to_sf(f, fw1i.mac), fw1o.vlan), tx=[out(fw2a, to_sf(f, fw2a.mac))])
    # fw2 re-emits it on fw2-out: found by its 5-tuple, end of chain 10 -> vm2.
    s.rx("fw2", vlan_tag(to_sf(f, fw2a.mac), fw2o.vlan), tx=[out(vm2, f)])
    # vm1 -> vm2 UDP 53 (chain 11): fw2b, back on fw2-out, end -> vm2.
    dns = bytes(DNS(id=0xa02, qr=0, rd=1, qd=DNSQR(qname="example.org", qtype="A", qclass="IN")))
    g = udp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40001, 53, dns, ident=0xa02)
    s.rx("vm1", g, tx=[out(fw2b, to_sf(g, fw2b.mac))])
    s.rx("fw2", vlan_tag(to_sf(g, fw2b.mac), fw2o.vlan), tx=[out(vm2, g)])
    # A second packet of the web flow: the same path (fw2-out still knows it).
    f2 = tcp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40000, 80, "A", seq=101, ack=901, ident=0xa03)
    s.rx("vm1", f2, tx=[out(fw1i, to_sf(f2, fw1i.mac))])
    s.rx("fw1", vlan_tag(to_sf(f2, fw1i.mac), fw1o.vlan), tx=[out(fw2a, to_sf(f2, fw2a.mac))])
    s.rx("fw2", vlan_tag(to_sf(f2, fw2a.mac), fw2o.vlan), tx=[out(vm2, f2)])
    # fw2 emitting a flow nobody sent it: dropped.
    h = udp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40009, 9999, b"sfc-proxy: unknown flow", ident=0xa04)
    s.rx("fw2", vlan_tag(h, fw2o.vlan), drop="sfc_no_proxy_flow")
    # UDP 54 matches neither classifier: switched directly.
    h = udp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40001, 54, b"sfc-proxy: bypass", ident=0xa05)
    s.rx("vm1", h, tx=[out(vm2, h)])
    return s


@register
def scenario_sfc_mixed():
    """One chain (12, mpls) through a proxied firewall, then an MPLS-aware function."""
    extra = sf_ports("fw1", "green-net", "fa:16:3e:0f:00", 201, 100) + sf_ports("sf2", "green-net", "fa:16:3e:0f:02", 203, 200)
    topo = sfc_base(["fw1", "sf2"], extra)
    topo.extra = sfc_toml(
        [pair("fw1", "fw1-in", "fw1-out", "none"), pair("sf2", "sf2-in", "sf2-out", "mpls")],
        [{"name": "g1", "port_pairs": ["fw1"]}, {"name": "g2", "port_pairs": ["sf2"]}],
        [{"name": "web", "ethertype": "IPv4", "protocol": "tcp", "destination_port_range": [80, 89], "source_ip_prefix": "10.0.0.0/24"}],
        [{"name": "mixed-chain", "chain_id": 12, "port_pair_groups": ["g1", "g2"], "flow_classifiers": ["web"], "correlation": "mpls", "symmetric": False}],
    )
    s = Scenario("sfc-mixed", topo)
    vm1, vm2 = topo.lp("green-vm1"), topo.lp("green-vm2")
    fw1i, fw1o, sf2i, sf2o = (topo.lp(n) for n in ["fw1-in", "fw1-out", "sf2-in", "sf2-out"])
    for k, (src, dst, sport, dport) in enumerate([(vm1, vm2, 40000, 80), (vm2, vm1, 40100, 88)]):
        f = tcp4(src.mac, dst.mac, src.ip, dst.ip, sport, dport, "S", seq=100 + k, ident=0xc01 + k)
        s.rx(src.port, f, tx=[out(fw1i, to_sf(f, fw1i.mac))])
        # Back from the proxied group: the second group is MPLS, SI 254.
        s.rx("fw1", vlan_tag(to_sf(f, fw1i.mac), fw1o.vlan), tx=[out(sf2i, mpls_encap(f, 12, 254, sf2i.mac))])
        s.rx("sf2", vlan_tag(mpls_encap(f, 12, 254, sf2i.mac, src_mac=sf2o.mac), sf2o.vlan), tx=[out(dst, f)])
    # Port 90 is outside the range: bypass.
    f = tcp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40000, 90, "S", seq=1, ident=0xc10)
    s.rx("vm1", f, tx=[out(vm2, f)])
    # An MPLS frame for the proxied hop's SI (255) is refused on fw1-out: that hop
    # takes plain frames.
    s.rx("fw1", vlan_tag(mpls_encap(f, 12, 255, fw1i.mac), fw1o.vlan), drop="sfc_unknown_label")
    return s


@register
def scenario_sfc_nsh():
    """Chain 20 with NSH correlation: an NSH-aware function, then a proxied one."""
    extra = sf_ports("sfn", "green-net", "fa:16:3e:0f:05", 201, 100) + sf_ports("fw1", "green-net", "fa:16:3e:0f:00", 203, 200)
    topo = sfc_base(["sfn", "fw1"], extra)
    topo.extra = sfc_toml(
        [pair("sfn", "sfn-in", "sfn-out", "nsh"), pair("fw1", "fw1-in", "fw1-out", "none")],
        [{"name": "g1", "port_pairs": ["sfn"]}, {"name": "g2", "port_pairs": ["fw1"]}],
        [{"name": "tls", "ethertype": "IPv4", "protocol": "tcp", "destination_port_range": [443, 443], "logical_destination_port": "green-vm2"}],
        [{"name": "nsh-chain", "chain_id": 20, "port_pair_groups": ["g1", "g2"], "flow_classifiers": ["tls"], "correlation": "nsh", "symmetric": False}],
    )
    s = Scenario("sfc-nsh", topo)
    vm1, vm2, vm3 = topo.lp("green-vm1"), topo.lp("green-vm2"), topo.lp("green-vm3")
    sfni, sfno, fw1i, fw1o = (topo.lp(n) for n in ["sfn-in", "sfn-out", "fw1-in", "fw1-out"])
    f = tcp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40000, 443, "S", seq=100, ident=0xd01)
    # Hop 1: Ethernet / NSH (SPI 20, SI 255) / the frame vm1 sent.
    s.rx("vm1", f, tx=[out(sfni, nsh_encap(f, 20, 255, sfni.mac))])
    # sfn returns it with its own outer MACs and the same SPI/SI: the proxied fw1 gets
    # the inner frame, addressed to fw1-in.
    back = vlan_tag(nsh_encap(f, 20, 255, sfni.mac, src_mac=sfno.mac), sfno.vlan)
    s.rx("sfn", back, tx=[out(fw1i, to_sf(f, fw1i.mac))])
    s.rx("fw1", vlan_tag(to_sf(f, fw1i.mac), fw1o.vlan), tx=[out(vm2, f)])
    # Logical destination: vm3 is not vm2, so TCP 443 to vm3 (routed) bypasses.
    router = "02:00:0a:00:00:01"
    g = tcp4(vm1.mac, router, vm1.ip, vm3.ip, 40001, 443, "S", seq=1, ident=0xd02)
    s.rx("vm1", g, tx=[out(vm3, routed(g, router, vm3.mac))])
    # Unknown SPI (21) and an SI beyond the NSH hop on sfn-out (254 is fw1's hop).
    for spi, si in [(21, 255), (20, 254)]:
        s.rx("sfn", vlan_tag(nsh_encap(f, spi, si, sfni.mac, src_mac=sfno.mac), sfno.vlan), drop="sfc_unknown_path")
    # NSH carrying IPv4 directly (next protocol 1) is refused.
    bad = bytes(Ether(dst=sfni.mac, src=sfno.mac, type=0x894F) / NSH(ttl=63, length=2, mdtype=2, nextproto=1, spi=20, si=255) / Raw(f[14:]))
    s.rx("sfn", vlan_tag(bad, sfno.vlan), drop="sfc_bad_nsh")
    return s


@register
def scenario_sfc_symmetric():
    """Chain 30, symmetric: vm1 -> vm2 TCP 80 visits sf1 (MPLS) then fw1 (proxy); the
    replies vm2 -> vm1 visit fw1 then sf1, entering each function by its egress port
    and leaving by its ingress port, with SIs 253 and 252 (below the forward ones)."""
    extra = sf_ports("sf1", "green-net", "fa:16:3e:0f:01", 201, 100) + sf_ports("fw1", "green-net", "fa:16:3e:0f:00", 203, 200)
    topo = sfc_base(["sf1", "fw1"], extra)
    topo.extra = sfc_toml(
        [pair("sf1", "sf1-in", "sf1-out", "mpls"), pair("fw1", "fw1-in", "fw1-out", "none")],
        [{"name": "g1", "port_pairs": ["sf1"]}, {"name": "g2", "port_pairs": ["fw1"]}],
        [{"name": "web", "ethertype": "IPv4", "protocol": "tcp", "destination_port_range": [80, 80],
          "logical_source_port": "green-vm1", "logical_destination_port": "green-vm2"}],
        [{"name": "sym-chain", "chain_id": 30, "port_pair_groups": ["g1", "g2"], "flow_classifiers": ["web"], "correlation": "mpls", "symmetric": True}],
    )
    s = Scenario("sfc-symmetric", topo)
    vm1, vm2 = topo.lp("green-vm1"), topo.lp("green-vm2")
    sf1i, sf1o, fw1i, fw1o = (topo.lp(n) for n in ["sf1-in", "sf1-out", "fw1-in", "fw1-out"])
    for k in range(2):
        f = tcp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40000, 80, "S" if k == 0 else "A", seq=100 + k, ident=0xe01 + k)
        s.rx("vm1", f, tx=[out(sf1i, mpls_encap(f, 30, 255, sf1i.mac))])
        s.rx("sf1", vlan_tag(mpls_encap(f, 30, 255, sf1i.mac), sf1o.vlan), tx=[out(fw1i, to_sf(f, fw1i.mac))])
        s.rx("fw1", vlan_tag(to_sf(f, fw1i.mac), fw1o.vlan), tx=[out(vm2, f)])
        # The reply: fw1 first (sent to fw1-out, returned on fw1-in), then sf1 (to
        # sf1-out with SI 252, returned on sf1-in), then vm1.
        r = tcp4(vm2.mac, vm1.mac, vm2.ip, vm1.ip, 80, 40000, "SA" if k == 0 else "A", seq=900 + k, ack=101 + k, ident=0xe11 + k)
        s.rx("vm2", r, tx=[out(fw1o, to_sf(r, fw1o.mac))])
        s.rx("fw1", vlan_tag(to_sf(r, fw1o.mac), fw1i.vlan), tx=[out(sf1o, mpls_encap(r, 30, 252, sf1o.mac))])
        s.rx("sf1", vlan_tag(mpls_encap(r, 30, 252, sf1o.mac), sf1i.vlan), tx=[out(vm1, r)])
    # Replies of another flow (from port 81) match neither direction: bypass.
    r = tcp4(vm2.mac, vm1.mac, vm2.ip, vm1.ip, 81, 40000, "A", seq=1, ack=1, ident=0xe20)
    s.rx("vm2", r, tx=[out(vm1, r)])
    # The forward label (SI 255) returned on sf1-in, where only the reverse hop
    # returns, is refused.
    s.rx("sf1", vlan_tag(mpls_encap(r, 30, 255, sf1o.mac), sf1i.vlan), drop="sfc_unknown_label")
    return s
