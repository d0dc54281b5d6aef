"""Scenarios of one node's switching and routing: L2, ARP, routing, port
security, VLAN trunks, malformed frames."""

from .model import *  # noqa: F401,F403
from .pcap import *  # noqa: F401,F403
from .scenario import *  # noqa: F401,F403
from .frames import *  # noqa: F401,F403


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------


@register
def scenario_l2_local():
    networks, routers = green_orange_base()
    networks.append(Network("green-v6-net", "green", 1003, "fd00:1::/64", "fd00:1::1"))
    routers[0].networks.append("green-v6-net")
    topo = Topology(
        vm_ports=["vm1", "vm2", "vm3", "vm4", "vm5", "vm6"],
        networks=networks,
        routers=routers,
        logical_ports=[
            LP("green-vm1", "green-net", "fa:16:3e:00:01:01", "10.0.0.5", "vm1"),
            LP("green-vm2", "green-net", "fa:16:3e:00:01:02", "10.0.0.6", "vm2"),
            LP("green-vm3", "green-net", "fa:16:3e:00:01:03", "10.0.0.7", "vm3"),
            LP("orange-vm4", "orange-net", "fa:16:3e:00:02:01", "10.0.0.5", "vm4"),
            LP("green-v6-vm5", "green-v6-net", "fa:16:3e:00:03:05", "fd00:1::5", "vm5"),
            LP("green-v6-vm6", "green-v6-net", "fa:16:3e:00:03:06", "fd00:1::6", "vm6"),
        ],
    )
    s = Scenario("l2-local", topo)
    vm1, vm2, vm3 = topo.lp("green-vm1"), topo.lp("green-vm2"), topo.lp("green-vm3")
    vm4, vm5, vm6 = topo.lp("orange-vm4"), topo.lp("green-v6-vm5"), topo.lp("green-v6-vm6")

    # Known unicast, UDP, vm1 -> vm2: delivered unchanged.
    f = udp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40000, 40001, b"l2-local: udp vm1 -> vm2", ident=0x101)
    s.rx("vm1", f, tx=[out(vm2, f)])
    # TCP handshake vm2 -> vm1 (SYN), vm1 -> vm2 (SYN/ACK), vm2 -> vm1 (ACK + data).
    f = tcp4(vm2.mac, vm1.mac, vm2.ip, vm1.ip, 43210, 22, "S", seq=1000, ident=0x201)
    s.rx("vm2", f, tx=[out(vm1, f)])
    f = tcp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 22, 43210, "SA", seq=5000, ack=1001, ident=0x102)
    s.rx("vm1", f, tx=[out(vm2, f)])
    f = tcp4(vm2.mac, vm1.mac, vm2.ip, vm1.ip, 43210, 22, "PA", seq=1001, ack=5001, payload=b"SSH-2.0-x\r\n", ident=0x202)
    s.rx("vm2", f, tx=[out(vm1, f)])
    # IPv4 UDP broadcast from vm1: flooded to vm2 and vm3, never to orange's vm4.
    f = udp4(vm1.mac, BROADCAST, vm1.ip, "10.0.0.255", 40000, 40002, b"l2-local: broadcast", ident=0x103)
    s.rx("vm1", f, tx=[out(vm2, f), out(vm3, f)])
    # Unknown unicast (MAC nobody in green-net has): flooded to vm2 and vm3.
    f = udp4(vm1.mac, "fa:16:3e:00:01:99", vm1.ip, "10.0.0.99", 40000, 40003, b"l2-local: unknown unicast", ident=0x104)
    s.rx("vm1", f, tx=[out(vm2, f), out(vm3, f)])
    # vm4 (orange) to green vm1's MAC: unknown in orange-net, and orange has no other
    # local port -> no_destination (tenants are isolated).
    f = udp4(vm4.mac, vm1.mac, vm4.ip, "10.0.0.6", 40000, 40004, b"l2-local: orange to green mac", ident=0x401)
    s.rx("vm4", f, drop="no_destination")
    # Broadcast from vm4: no other local port in orange-net -> no_destination.
    f = udp4(vm4.mac, BROADCAST, vm4.ip, "10.0.0.255", 40000, 40005, b"l2-local: orange broadcast", ident=0x402)
    s.rx("vm4", f, drop="no_destination")
    # vm1 to its own MAC -> hairpin.
    f = udp4(vm1.mac, vm1.mac, vm1.ip, vm1.ip, 40000, 40006, b"l2-local: hairpin", ident=0x105)
    s.rx("vm1", f, drop="hairpin")
    # IPv4 multicast (mDNS, 01:00:5e:00:00:fb): flooded to vm2 and vm3.
    f = mdns_query(vm1.mac, vm1.ip, "_http._tcp.local.")
    s.rx("vm1", f, tx=[out(vm2, f), out(vm3, f)])
    # vm3 -> vm1 known unicast.
    f = udp4(vm3.mac, vm1.mac, vm3.ip, vm1.ip, 40010, 40000, b"l2-local: udp vm3 -> vm1", ident=0x301)
    s.rx("vm3", f, tx=[out(vm1, f)])
    # Ethernet padding (frame padded to 60 bytes beyond the IP total length) is
    # fine, and an L2-switched frame leaves unchanged, padding included.
    f = udp4(vm2.mac, vm1.mac, vm2.ip, vm1.ip, 40011, 40000, b"pad", ident=0x203)
    f = f + b"\x00" * (60 - len(f))
    assert len(f) == 60
    s.rx("vm2", f, tx=[out(vm1, f)])
    # IPv6 within green-v6-net (a separate network: nothing reaches the IPv4 ports).
    f = udp6(vm5.mac, vm6.mac, vm5.ip, vm6.ip, 41000, 41001, b"l2-local: udp6 vm5 -> vm6")
    s.rx("vm5", f, tx=[out(vm6, f)])
    f = udp6(vm6.mac, vm5.mac, vm6.ip, vm5.ip, 41001, 41000, b"l2-local: udp6 vm6 -> vm5")
    s.rx("vm6", f, tx=[out(vm5, f)])
    # IPv6 multicast to ff02::1 (33:33:00:00:00:01): flooded to vm6 only.
    f = udp6(vm5.mac, "33:33:00:00:00:01", vm5.ip, "ff02::1", 41000, 41002, b"l2-local: udp6 all-nodes")
    s.rx("vm5", f, tx=[out(vm6, f)])
    return s


@register
def scenario_arp_local():
    networks, routers = green_orange_base()
    topo = Topology(
        vm_ports=["vm1", "vm2", "vm3", "vm4"],
        networks=networks,
        routers=routers,
        logical_ports=[
            LP("green-vm1", "green-net", "fa:16:3e:00:01:01", "10.0.0.5", "vm1"),
            LP("green-vm2", "green-net", "fa:16:3e:00:01:02", "10.0.0.6", "vm2"),
            LP("green-vm3", "green-net", "fa:16:3e:00:01:03", "10.0.0.7", "vm3"),
            LP("orange-vm4", "orange-net", "fa:16:3e:00:02:01", "10.0.0.8", "vm4"),
        ],
    )
    s = Scenario("arp-local", topo)
    vm1, vm2, vm3, vm4 = (topo.lp(n) for n in ("green-vm1", "green-vm2", "green-vm3", "orange-vm4"))
    green_router_mac = "02:00:0a:00:00:01"
    orange_router_mac = "02:00:0a:00:00:02"

    # vm1 asks for vm2's IP: answered locally with vm2's MAC, only vm1 gets a frame.
    f = arp_request(vm1, vm2.ip)
    s.rx("vm1", f, tx=[out(vm1, arp_answer(f, vm2.mac))])
    # vm1 asks for the gateway: answered with the green router's MAC.
    f = arp_request(vm1, "10.0.0.1")
    s.rx("vm1", f, tx=[out(vm1, arp_answer(f, green_router_mac))])
    # Unknown IP: flooded to the other green ports.
    f = arp_request(vm1, "10.0.0.50")
    s.rx("vm1", f, tx=[out(vm2, f), out(vm3, f)])
    # 10.0.0.8 exists only in orange-net: not answered in green, flooded in green,
    # nothing reaches orange's vm4.
    f = arp_request(vm1, vm4.ip)
    s.rx("vm1", f, tx=[out(vm2, f), out(vm3, f)])
    # Gratuitous ARP (target = sender's own IP): flooded.
    f = arp_request(vm1, vm1.ip)
    s.rx("vm1", f, tx=[out(vm2, f), out(vm3, f)])
    # ARP probe (sender IP 0.0.0.0) for the prober's own address: not answered
    # (answering would report a conflict to the port that owns the address), flooded.
    f = arp_request(vm3, vm3.ip, psrc="0.0.0.0")
    s.rx("vm3", f, tx=[out(vm1, f), out(vm2, f)])
    # A unicast ARP request (neighbour revalidation, Ethernet dst = vm2's MAC) is
    # answered locally like a broadcast one.
    f = arp_request(vm1, vm2.ip, eth_dst=vm2.mac)
    s.rx("vm1", f, tx=[out(vm1, arp_answer(f, vm2.mac))])
    # vm2 asks for vm1 (answered), vm3 asks for the gateway (answered).
    f = arp_request(vm2, vm1.ip)
    s.rx("vm2", f, tx=[out(vm2, arp_answer(f, vm1.mac))])
    f = arp_request(vm3, "10.0.0.1")
    s.rx("vm3", f, tx=[out(vm3, arp_answer(f, green_router_mac))])
    # Orange vm4 asks for 10.0.0.1: orange router's MAC.
    f = arp_request(vm4, "10.0.0.1")
    s.rx("vm4", f, tx=[out(vm4, arp_answer(f, orange_router_mac))])
    # Orange vm4 asks for 10.0.0.6 (green vm2's address, unknown in orange): not
    # answered; flooded in orange-net, which has no other local port.
    f = arp_request(vm4, vm2.ip)
    s.rx("vm4", f, drop="no_destination")
    # Unicast ARP reply vm2 -> vm1: forwarded at L2 unchanged.
    f = arp(2, vm2.mac, vm1.mac, vm2.mac, vm2.ip, vm1.mac, vm1.ip)
    s.rx("vm2", f, tx=[out(vm1, f)])
    # A broadcast ARP reply (op 2) is switched like any broadcast: flooded.
    f = arp(2, vm3.mac, BROADCAST, vm3.mac, vm3.ip, BROADCAST, vm3.ip)
    s.rx("vm3", f, tx=[out(vm1, f), out(vm2, f)])
    return s


@register
def scenario_routing():
    networks = [
        Network("net-a", "green", 2001, "10.0.1.0/24", "10.0.1.1"),
        Network("net-b", "green", 2002, "10.0.2.0/24", "10.0.2.1"),
        Network("net-a6", "green", 2003, "fd00:a::/64", "fd00:a::1"),
        Network("net-b6", "green", 2004, "fd00:b::/64", "fd00:b::1"),
    ]
    r1 = Router("r1", "green", "02:00:0a:00:00:01", ["net-a", "net-b", "net-a6", "net-b6"])
    topo = Topology(
        vm_ports=["vma", "vma2", "vmb", "vma6", "vmb6"],
        networks=networks,
        routers=[r1],
        logical_ports=[
            LP("vm-a", "net-a", "fa:16:3e:00:0a:05", "10.0.1.5", "vma"),
            LP("vm-a2", "net-a", "fa:16:3e:00:0a:06", "10.0.1.6", "vma2"),
            LP("vm-b", "net-b", "fa:16:3e:00:0b:05", "10.0.2.5", "vmb"),
            LP("vm-a6", "net-a6", "fa:16:3e:00:0a:65", "fd00:a::5", "vma6"),
            LP("vm-b6", "net-b6", "fa:16:3e:00:0b:65", "fd00:b::5", "vmb6"),
        ],
    )
    s = Scenario("routing", topo)
    a, a2, b = topo.lp("vm-a"), topo.lp("vm-a2"), topo.lp("vm-b")
    a6, b6 = topo.lp("vm-a6"), topo.lp("vm-b6")
    R = r1.mac

    # ICMP echo vm-a -> vm-b through the router, and the reply.
    f = icmp4_echo(a.mac, R, a.ip, b.ip, ident=0x1234, seq=1, ip_id=0xA01)
    s.rx("vma", f, tx=[out(b, routed(f, R, b.mac))])
    f = icmp4_echo(b.mac, R, b.ip, a.ip, ident=0x1234, seq=1, reply=True, ip_id=0xB01)
    s.rx("vmb", f, tx=[out(a, routed(f, R, a.mac))])
    # UDP vm-a -> vm-b.
    f = udp4(a.mac, R, a.ip, b.ip, 33000, 33001, b"routing: udp a -> b", ident=0xA02)
    s.rx("vma", f, tx=[out(b, routed(f, R, b.mac))])
    # IPv4 with options (IHL 6, Router Alert): routed, options kept, checksum over 24 bytes.
    f = udp4(a.mac, R, a.ip, b.ip, 33000, 33002, b"routing: ihl 6", ident=0xA03, options=[IPOption_Router_Alert()])
    assert f[14] == 0x46
    s.rx("vma", f, tx=[out(b, routed(f, R, b.mac))])
    # TTL 2 on arrival: routed with TTL 1.
    f = udp4(a.mac, R, a.ip, b.ip, 33000, 33003, b"routing: ttl 2", ttl=2, ident=0xA04)
    s.rx("vma", f, tx=[out(b, routed(f, R, b.mac))])
    # Routed within the same network (vm-a -> router MAC -> vm-a2).
    f = udp4(a.mac, R, a.ip, a2.ip, 33000, 33004, b"routing: same network", ident=0xA05)
    s.rx("vma", f, tx=[out(a2, routed(f, R, a2.mac))])
    # IPv6 echo vm-a6 -> vm-b6 (hop limit 64 -> 63) and the reply.
    f = icmp6_echo(a6.mac, R, a6.ip, b6.ip, ident=0x4321, seq=1)
    s.rx("vma6", f, tx=[out(b6, routed(f, R, b6.mac))])
    f = icmp6_echo(b6.mac, R, b6.ip, a6.ip, ident=0x4321, seq=1, reply=True)
    s.rx("vmb6", f, tx=[out(a6, routed(f, R, a6.mac))])
    # IPv6 UDP.
    f = udp6(a6.mac, R, a6.ip, b6.ip, 34000, 34001, b"routing: udp6 a6 -> b6")
    s.rx("vma6", f, tx=[out(b6, routed(f, R, b6.mac))])
    # TTL 1 and TTL 0: time exceeded from the gateway of the sender's network;
    # IPv6 hop limit 1 likewise (ICMPv6 time exceeded).
    f = udp4(a.mac, R, a.ip, b.ip, 33000, 33005, b"routing: ttl 1", ttl=1, ident=0xA06)
    s.rx("vma", f, tx=[out(a, icmp4_error(f, R, "10.0.1.1", 11, 0))])
    f = udp4(a.mac, R, a.ip, b.ip, 33000, 33006, b"routing: ttl 0", ttl=0, ident=0xA07)
    s.rx("vma", f, tx=[out(a, icmp4_error(f, R, "10.0.1.1", 11, 0))])
    f = icmp6_echo(a6.mac, R, a6.ip, b6.ip, ident=0x4321, seq=2, hlim=1)
    s.rx("vma6", f, tx=[out(a6, icmp6_error(f, R, "fd00:a::1", ICMPv6TimeExceeded, 0))])
    # Destination in no network of the router: network unreachable.
    f = udp4(a.mac, R, a.ip, "10.0.3.5", 33000, 33007, b"routing: 10.0.3.5", ident=0xA08)
    s.rx("vma", f, tx=[out(a, icmp4_error(f, R, "10.0.1.1", 3, 0))])
    # In net-b but no logical port has it: host unreachable (ICMPv6: address
    # unreachable); outside every network: no route (ICMPv6 code 0).
    f = udp4(a.mac, R, a.ip, "10.0.2.99", 33000, 33008, b"routing: 10.0.2.99", ident=0xA09)
    s.rx("vma", f, tx=[out(a, icmp4_error(f, R, "10.0.1.1", 3, 1))])
    f = udp6(a6.mac, R, a6.ip, "fd00:b::99", 34000, 34003, b"routing: fd00:b::99")
    s.rx("vma6", f, tx=[out(a6, icmp6_error(f, R, "fd00:a::1", ICMPv6DestUnreach, 3))])
    f = udp6(a6.mac, R, a6.ip, "fd00:c::5", 34000, 34002, b"routing: fd00:c::5")
    s.rx("vma6", f, tx=[out(a6, icmp6_error(f, R, "fd00:a::1", ICMPv6DestUnreach, 0))])
    # Echo requests to a gateway address of the router (own network's or another's,
    # and its IPv6 link-local address) are answered from the address asked.
    f = icmp4_echo(a.mac, R, a.ip, "10.0.1.1", ident=0x1234, seq=2, ip_id=0xA0A)
    s.rx("vma", f, tx=[out(a, icmp4_echo_answer(f, R))])
    f = icmp4_echo(a.mac, R, a.ip, "10.0.2.1", ident=0x1234, seq=3, ip_id=0xA0B)
    s.rx("vma", f, tx=[out(a, icmp4_echo_answer(f, R))])
    f = icmp6_echo(a6.mac, R, a6.ip, "fd00:a::1", ident=0x4321, seq=3)
    s.rx("vma6", f, tx=[out(a6, icmp6_echo_answer(f, R))])
    f = icmp6_echo(a6.mac, R, a6.ip, eui64_link_local(R), ident=0x4321, seq=4)
    s.rx("vma6", f, tx=[out(a6, icmp6_echo_answer(f, R))])
    # UDP to the gateway (a traceroute's last probe): port unreachable; TCP is not
    # answered (router_local); an echo request with a bad checksum is dropped.
    f = udp4(a.mac, R, a.ip, "10.0.1.1", 33000, 33434, b"routing: udp to gateway", ident=0xA0C)
    s.rx("vma", f, tx=[out(a, icmp4_error(f, R, "10.0.1.1", 3, 3))])
    f = udp6(a6.mac, R, a6.ip, "fd00:a::1", 34000, 33434, b"routing: udp6 to gateway")
    s.rx("vma6", f, tx=[out(a6, icmp6_error(f, R, "fd00:a::1", ICMPv6DestUnreach, 4))])
    f = tcp4(a.mac, R, a.ip, "10.0.1.1", 43000, 22, "S", seq=7, ident=0xA0D)
    s.rx("vma", f, drop="router_local")
    f = bytearray(icmp4_echo(a.mac, R, a.ip, "10.0.1.1", ident=0x1234, seq=5, ip_id=0xA0E))
    f[14 + 20 + 2] ^= 0xFF
    s.rx("vma", bytes(f), drop="icmp_malformed")
    # No error about an ICMP error (a time exceeded the VM sends with TTL 1).
    f = bytes(
        Ether(src=a.mac, dst=R, type=0x0800)
        / IP(src=a.ip, dst=b.ip, ttl=1, id=0xA0F, flags="DF", tos=0)
        / ICMP(type=11, code=0)
        / Raw(b"\x45" + b"\x00" * 27)
    )
    s.rx("vma", f, drop="ttl_expired")
    # The errors are rate-limited per worker: after a rest the bucket holds 10, and
    # refills one per 10 ms. 14 expiring packets of one flow (one worker) 1 ms apart:
    # 11 answered (10 and the one refilled over the next 10 ms), then 3 dropped as
    # icmp_rate_limited.
    s.advance(1)
    for k in range(14):
        f = udp4(a.mac, R, a.ip, b.ip, 33100, 33434, b"routing: burst", ttl=1, ident=0xB00 + k)
        if k < 11:
            s.rx("vma", f, tx=[out(a, icmp4_error(f, R, "10.0.1.1", 11, 0))])
        else:
            s.rx("vma", f, drop="icmp_rate_limited")
    return s


@register
def scenario_port_security():
    networks, routers = green_orange_base()
    networks = networks[:1]
    routers = routers[:1]
    # No DHCP responder here: a discover is shown flooded, as any allowed broadcast
    # (the dhcp scenario has the responder).
    networks[0].services = {"dhcp": False}
    networks.append(Network("green-v6-net", "green", 1003, "fd00:1::/64", "fd00:1::1"))
    routers[0].networks.append("green-v6-net")
    topo = Topology(
        vm_ports=["vm1", "vm2", "vm3", "vm4", "vm5", "vm6"],
        networks=networks,
        routers=routers,
        logical_ports=[
            LP("green-vm1", "green-net", "fa:16:3e:00:01:01", "10.0.0.5", "vm1"),
            LP("green-vm2", "green-net", "fa:16:3e:00:01:02", "10.0.0.6", "vm2"),
            LP("green-vm3", "green-net", "fa:16:3e:00:01:03", "10.0.0.7", "vm3"),
            LP("green-vm4", "green-net", "fa:16:3e:00:01:04", "10.0.0.8", "vm4", port_security=False),
            LP("green-v6-vm5", "green-v6-net", "fa:16:3e:00:03:05", "fd00:1::5", "vm5"),
            LP("green-v6-vm6", "green-v6-net", "fa:16:3e:00:03:06", "fd00:1::6", "vm6"),
        ],
    )
    s = Scenario("port-security", topo)
    vm1, vm2, vm3, vm4 = (topo.lp(f"green-vm{i}") for i in (1, 2, 3, 4))
    vm5, vm6 = topo.lp("green-v6-vm5"), topo.lp("green-v6-vm6")
    spoof_mac = "fa:16:3e:00:01:66"

    # Legit traffic passes.
    f = udp4(vm1.mac, vm2.mac, vm1.ip, vm2.ip, 40000, 40001, b"ps: legit vm1 -> vm2", ident=0x101)
    s.rx("vm1", f, tx=[out(vm2, f)])
    f = udp4(vm2.mac, vm1.mac, vm2.ip, vm1.ip, 40001, 40000, b"ps: legit vm2 -> vm1", ident=0x201)
    s.rx("vm2", f, tx=[out(vm1, f)])
    # Spoofed source MAC (unknown MAC; another port's MAC), right IP.
    f = udp4(spoof_mac, vm2.mac, vm1.ip, vm2.ip, 40000, 40002, b"ps: spoofed mac", ident=0x102)
    s.rx("vm1", f, drop="port_security")
    f = udp4(vm3.mac, vm2.mac, vm1.ip, vm2.ip, 40000, 40003, b"ps: vm3's mac from vm1", ident=0x103)
    s.rx("vm1", f, drop="port_security")
    # Spoofed source IP with the right MAC (unused address; another port's address).
    f = udp4(vm1.mac, vm2.mac, "10.0.0.66", vm2.ip, 40000, 40004, b"ps: spoofed ip", ident=0x104)
    s.rx("vm1", f, drop="port_security")
    f = udp4(vm1.mac, vm2.mac, vm3.ip, vm2.ip, 40000, 40005, b"ps: vm3's ip from vm1", ident=0x105)
    s.rx("vm1", f, drop="port_security")
    # ARP with a spoofed sender IP (right MACs): port security first, not answered.
    f = arp_request(vm1, vm2.ip, psrc="10.0.0.66")
    s.rx("vm1", f, drop="port_security")
    # ARP with a spoofed sender MAC (right Ethernet source).
    f = arp_request(vm1, vm2.ip, hwsrc=spoof_mac)
    s.rx("vm1", f, drop="port_security")
    # ARP reply poisoning vm2's cache: vm1 claims vm3's IP.
    f = arp(2, vm1.mac, vm2.mac, vm1.mac, vm3.ip, vm2.mac, vm2.ip)
    s.rx("vm1", f, drop="port_security")
    # Legit ARP request from vm1: answered locally.
    f = arp_request(vm1, vm2.ip)
    s.rx("vm1", f, tx=[out(vm1, arp_answer(f, vm2.mac))])
    # ARP probe (sender IP 0.0.0.0) for an unknown address: allowed, flooded.
    f = arp_request(vm2, "10.0.0.77", psrc="0.0.0.0")
    s.rx("vm2", f, tx=[out(vm1, f), out(vm3, f), out(vm4, f)])
    # DHCP discover from 0.0.0.0 (UDP 68 -> 67, broadcast): allowed, flooded.
    f = dhcp_discover(vm3.mac, xid=0x3903F326)
    s.rx("vm3", f, tx=[out(vm1, f), out(vm2, f), out(vm4, f)])
    # Source 0.0.0.0 but not UDP 68 -> 67 (a DHCP discover sent from port 1234):
    # port_security.
    f = dhcp_discover(vm3.mac, xid=0x3903F328, sport=1234)
    s.rx("vm3", f, drop="port_security")
    # DHCP discover with a spoofed source MAC: the MAC check still applies.
    f = dhcp_discover(spoof_mac, xid=0x3903F327)
    s.rx("vm3", f, drop="port_security")
    # IPv6: legit passes, spoofed source is dropped.
    f = udp6(vm5.mac, vm6.mac, vm5.ip, vm6.ip, 41000, 41001, b"ps: legit udp6")
    s.rx("vm5", f, tx=[out(vm6, f)])
    f = udp6(vm5.mac, vm6.mac, "fd00:1::66", vm6.ip, 41000, 41002, b"ps: spoofed ipv6 source")
    s.rx("vm5", f, drop="port_security")
    # port_security = false: vm4's spoofed frames are delivered.
    f = udp4(spoof_mac, vm1.mac, "10.0.0.66", vm1.ip, 40040, 40000, b"ps: vm4 spoofs, allowed", ident=0x401)
    s.rx("vm4", f, tx=[out(vm1, f)])
    f = arp(2, vm4.mac, vm2.mac, spoof_mac, "10.0.0.66", vm2.mac, vm2.ip)
    s.rx("vm4", f, tx=[out(vm2, f)])
    return s


@register
def scenario_vlan_trunk():
    networks, routers = green_orange_base()
    networks = networks[:1]
    routers = routers[:1]
    topo = Topology(
        vm_ports=["vm1", "fw1"],
        networks=networks,
        routers=routers,
        logical_ports=[
            LP("green-vm1", "green-net", "fa:16:3e:00:01:01", "10.0.0.5", "vm1"),
            LP("fw1-in", "green-net", "fa:16:3e:00:0f:01", "10.0.0.201", "fw1", vlan=101),
            LP("fw1-out", "green-net", "fa:16:3e:00:0f:02", "10.0.0.202", "fw1", vlan=102),
            LP("fw1-parent", "green-net", "fa:16:3e:00:0f:00", "10.0.0.200", "fw1"),
        ],
    )
    s = Scenario("vlan-trunk", topo)
    vm1, fin, fout, fpar = (topo.lp(n) for n in ("green-vm1", "fw1-in", "fw1-out", "fw1-parent"))

    # vm1 -> fw1-in's MAC: leaves fw1 tagged 101.
    f = udp4(vm1.mac, fin.mac, vm1.ip, fin.ip, 40000, 40001, b"vlan: vm1 -> fw1-in", ident=0x101)
    s.rx("vm1", f, tx=[("fw1", vlan_tag(f, 101))])
    # vm1 -> fw1-out's MAC: tagged 102.
    f = udp4(vm1.mac, fout.mac, vm1.ip, fout.ip, 40000, 40002, b"vlan: vm1 -> fw1-out", ident=0x102)
    s.rx("vm1", f, tx=[("fw1", vlan_tag(f, 102))])
    # vm1 -> fw1-parent's MAC: untagged.
    f = udp4(vm1.mac, fpar.mac, vm1.ip, fpar.ip, 40000, 40003, b"vlan: vm1 -> fw1-parent", ident=0x103)
    s.rx("vm1", f, tx=[("fw1", f)])
    # fw1 tagged 102 from fw1-out -> vm1 untagged.
    f = udp4(fout.mac, vm1.mac, fout.ip, vm1.ip, 40002, 40000, b"vlan: fw1-out -> vm1", ident=0xF201)
    s.rx("fw1", vlan_tag(f, 102), tx=[("vm1", f)])
    # Tag 101 with PCP 5: accepted as fw1-in.
    f = udp4(fin.mac, vm1.mac, fin.ip, vm1.ip, 40001, 40000, b"vlan: fw1-in pcp 5 -> vm1", ident=0xF101)
    s.rx("fw1", vlan_tag(f, 101, pcp=5), tx=[("vm1", f)])
    # Tag 102 with DEI set: accepted as fw1-out.
    f = udp4(fout.mac, vm1.mac, fout.ip, vm1.ip, 40002, 40000, b"vlan: fw1-out dei -> vm1", ident=0xF202)
    s.rx("fw1", vlan_tag(f, 102, dei=1), tx=[("vm1", f)])
    # Untagged from fw1-parent -> vm1.
    f = udp4(fpar.mac, vm1.mac, fpar.ip, vm1.ip, 40003, 40000, b"vlan: fw1-parent -> vm1", ident=0xF001)
    s.rx("fw1", f, tx=[("vm1", f)])
    # 0x88a8 (802.1ad) outer tag with VID 102: accepted as fw1-out.
    f = udp4(fout.mac, vm1.mac, fout.ip, vm1.ip, 40002, 40000, b"vlan: fw1-out 88a8 -> vm1", ident=0xF203)
    s.rx("fw1", vlan_tag(f, 102, tpid=0x88A8), tx=[("vm1", f)])
    # Tag 103: no such sub-port -> unknown_vlan.
    f = udp4(fin.mac, vm1.mac, fin.ip, vm1.ip, 40001, 40000, b"vlan: tag 103", ident=0xF102)
    s.rx("fw1", vlan_tag(f, 103), drop="unknown_vlan")
    # Tagged frame on vm1, which has no sub-port -> unknown_vlan.
    f = udp4(vm1.mac, fin.mac, vm1.ip, fin.ip, 40000, 40001, b"vlan: tagged on vm1", ident=0x104)
    s.rx("vm1", vlan_tag(f, 101), drop="unknown_vlan")
    # Tag 101 carrying fw1-out's source MAC and IP -> port_security (fw1-in's frame).
    f = udp4(fout.mac, vm1.mac, fout.ip, vm1.ip, 40002, 40000, b"vlan: fw1-out mac on 101", ident=0xF204)
    s.rx("fw1", vlan_tag(f, 101), drop="port_security")
    # Untagged frame carrying fw1-in's MAC/IP -> port_security (fw1-parent's frame).
    f = udp4(fin.mac, vm1.mac, fin.ip, vm1.ip, 40001, 40000, b"vlan: fw1-in mac untagged", ident=0xF103)
    s.rx("fw1", f, drop="port_security")
    # Broadcast from vm1: three copies on fw1 in topology order (fw1-in tagged 101,
    # fw1-out tagged 102, fw1-parent untagged).
    f = udp4(vm1.mac, BROADCAST, vm1.ip, "10.0.0.255", 40000, 40009, b"vlan: broadcast from vm1", ident=0x105)
    s.rx("vm1", f, tx=[("fw1", vlan_tag(f, 101)), ("fw1", vlan_tag(f, 102)), ("fw1", f)])
    # Broadcast from fw1-in (tagged 101): to vm1 untagged, and back on fw1 to fw1-out
    # (tagged 102) then fw1-parent (untagged), never to fw1-in itself.
    f = udp4(fin.mac, BROADCAST, fin.ip, "10.0.0.255", 40001, 40009, b"vlan: broadcast from fw1-in", ident=0xF104)
    s.rx("fw1", vlan_tag(f, 101), tx=[("vm1", f), ("fw1", vlan_tag(f, 102)), ("fw1", f)])
    # fw1-in -> fw1-out: same dataplane port, other sub-port: 101 in, 102 out.
    f = udp4(fin.mac, fout.mac, fin.ip, fout.ip, 40001, 40002, b"vlan: fw1-in -> fw1-out", ident=0xF105)
    s.rx("fw1", vlan_tag(f, 101), tx=[("fw1", vlan_tag(f, 102))])
    # ARP request from fw1-in (tagged 101) for vm1: the reply goes back to fw1-in,
    # tagged 101.
    f = arp_request(fin, vm1.ip)
    s.rx("fw1", vlan_tag(f, 101), tx=[("fw1", vlan_tag(arp_answer(f, vm1.mac), 101))])
    # Untagged frame on the uplink, which has no untagged logical port.
    f = udp4("02:00:cb:00:71:01", "02:00:c0:00:02:99", "198.51.100.7", "192.0.2.99", 40000, 40010, b"vlan: untagged on uplink", ident=0x7701)
    s.rx("uplink", f, drop="no_logical_port")
    return s


@register
def scenario_malformed():
    networks, routers = green_orange_base()
    networks = networks[:1]
    routers = routers[:1]
    topo = Topology(
        vm_ports=["vm1", "vm2"],
        networks=networks,
        routers=routers,
        logical_ports=[
            LP("green-vm1", "green-net", "fa:16:3e:00:01:01", "10.0.0.5", "vm1"),
            LP("green-vm2", "green-net", "fa:16:3e:00:01:02", "10.0.0.6", "vm2"),
        ],
    )
    s = Scenario("malformed", topo)
    vm1, vm2 = topo.lp("green-vm1"), topo.lp("green-vm2")
    # Every frame comes from vm1 with vm1's MAC and IP, addressed to vm2: were it
    # parsed, it would be delivered to vm2; only the stated fault drops it.
    e4 = eth_header(vm1.mac, vm2.mac, 0x0800)
    e6 = eth_header(vm1.mac, vm2.mac, 0x86DD)
    v6src, v6dst = "fd00:1::5", "fd00:1::6"
    pay = b"malformed-fixture"  # 17 bytes
    udp_ok = udp_raw(40000, 40001, 8 + len(pay), pay)

    # A 0-byte frame.
    s.rx("vm1", b"", drop="truncated")
    # A 10-byte frame (Ethernet header incomplete).
    s.rx("vm1", eth_header(vm1.mac, vm2.mac, 0x0800)[:10], drop="truncated")
    # 802.1Q: TPID present, the 4 bytes after it (TCI + ethertype) missing.
    s.rx("vm1", eth_header(vm1.mac, vm2.mac, 0x8100), drop="truncated")
    # 802.1Q: the tag cut after 2 bytes (TCI present, inner ethertype missing).
    s.rx("vm1", eth_header(vm1.mac, vm2.mac, 0x8100) + struct.pack("!H", 101), drop="truncated")
    # IPv4 with only 10 bytes of header.
    full = ipv4_raw(vm1.ip, vm2.ip, 17, 20 + len(udp_ok), udp_ok)
    s.rx("vm1", e4 + full[:10], drop="truncated")
    # IPv4 IHL = 4 (all bytes present, checksum right over the 20 bytes written).
    s.rx("vm1", e4 + ipv4_raw(vm1.ip, vm2.ip, 17, 20 + len(udp_ok), udp_ok, ihl=4), drop="malformed")
    # IPv4 version 6 under ethertype 0x0800.
    s.rx("vm1", e4 + ipv4_raw(vm1.ip, vm2.ip, 17, 20 + len(udp_ok), udp_ok, version=6), drop="malformed")
    # IPv4 total length 1000, 40 bytes present (20 header + 20 UDP).
    udp20 = udp_raw(40000, 40001, 20, b"twelve bytes")
    f = ipv4_raw(vm1.ip, vm2.ip, 17, 1000, udp20)
    assert len(f) == 40
    s.rx("vm1", e4 + f, drop="truncated")
    # IPv4 total length 10 (< header length).
    s.rx("vm1", e4 + ipv4_raw(vm1.ip, vm2.ip, 17, 10, udp_ok), drop="malformed")
    # TCP data offset 3 (20 TCP bytes present, IP total length consistent).
    t = tcp_raw(43210, 22, 3)
    s.rx("vm1", e4 + ipv4_raw(vm1.ip, vm2.ip, 6, 20 + len(t), t), drop="malformed")
    # TCP header cut to 10 bytes, IP total length 30 (consistent with what is present).
    t = tcp_raw(43210, 22, 5)[:10]
    s.rx("vm1", e4 + ipv4_raw(vm1.ip, vm2.ip, 6, 30, t), drop="truncated")
    # UDP length 4 (< 8), IP total length consistent.
    s.rx("vm1", e4 + ipv4_raw(vm1.ip, vm2.ip, 17, 20 + 8 + len(pay), udp_raw(40000, 40001, 4, pay)), drop="malformed")
    # UDP length 100 with 20 UDP bytes present (IP total length consistent: 40).
    u = udp_raw(40000, 40001, 100, b"twelve bytes")
    s.rx("vm1", e4 + ipv4_raw(vm1.ip, vm2.ip, 17, 20 + len(u), u), drop="truncated")
    # IPv6 payload length 100, 20 bytes present.
    u = udp_raw(41000, 41001, 20, b"twelve bytes")
    s.rx("vm1", e6 + ipv6_raw(v6src, v6dst, 17, 100, u), drop="truncated")
    # IPv6 version 4 under ethertype 0x86dd (lengths consistent).
    s.rx("vm1", e6 + ipv6_raw(v6src, v6dst, 17, len(udp_ok), udp_ok, version=4), drop="malformed")
    # IPv6 hop-by-hop extension header cut: 4 of its 8 bytes present (payload length 4).
    hbh = bytes([17, 0, 1, 0])
    s.rx("vm1", e6 + ipv6_raw(v6src, v6dst, 0, len(hbh), hbh), drop="truncated")
    # ARP cut to 10 bytes.
    f = arp_request(vm1, vm2.ip)
    s.rx("vm1", f[: 14 + 10], drop="truncated")
    # MPLS (0x8847) with 2 bytes of label stack entry.
    s.rx("vm1", eth_header(vm1.mac, vm2.mac, 0x8847) + b"\x07\xff", drop="truncated")
    # IPv4 otherwise fine, wrong header checksum.
    s.rx("vm1", e4 + ipv4_raw(vm1.ip, vm2.ip, 17, 20 + len(udp_ok), udp_ok, bad_checksum=True), drop="bad_checksum")
    return s
