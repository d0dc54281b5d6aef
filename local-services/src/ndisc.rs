//! IPv6 neighbour and router discovery for the VMs: neighbour solicitations for the
//! router's and the network's known addresses answered locally (the counterpart of
//! the ARP responder), router solicitations answered, and the periodic router
//! advertisements (prefix for SLAAC, MTU, managed/other flags).

use std::net::Ipv6Addr;

use packet::{rewrite, MacAddr, Packet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::time::Duration;
use smoltcp::wire::{
    EthernetProtocol, Icmpv6Packet, Icmpv6Repr, IpProtocol, NdiscNeighborFlags,
    NdiscPrefixInfoFlags, NdiscPrefixInformation, NdiscRepr, NdiscRouterFlags, RawHardwareAddress,
};
use topology::RaMode;

use crate::frame::{self, ETHERNET_LEN, IPV6_LEN};
use crate::tables::{NetworkServices, PortServices, ServiceTables};
use crate::{Answer, Outcome, Refusal};

const ROUTER_SOLICITATION: u8 = 133;
const NEIGHBOUR_SOLICITATION: u8 = 135;
/// RFC 4861: discovery messages travel one link only, with hop limit 255.
const HOP_LIMIT: u8 = 255;
/// What the advertisements say (radvd's and RFC 4861's defaults).
const ROUTER_LIFETIME_S: u64 = 1800;
const VALID_LIFETIME_S: u64 = 2_592_000;
const PREFERRED_LIFETIME_S: u64 = 604_800;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ALL_NODES_MAC: MacAddr = MacAddr([0x33, 0x33, 0, 0, 0, 1]);

pub(crate) fn is_solicitation(icmp_type: u8) -> bool {
    matches!(icmp_type, ROUTER_SOLICITATION | NEIGHBOUR_SOLICITATION)
}

pub(crate) fn serve(
    tables: &ServiceTables,
    port: &PortServices,
    network: &NetworkServices,
    packet: &mut Packet,
) -> Outcome {
    let meta = packet.meta;
    if meta.ttl != HOP_LIMIT || meta.fragment {
        return Outcome::Refused(Refusal::NdiscMalformed);
    }
    let (l3, l4, end) = (
        usize::from(meta.l3_offset),
        usize::from(meta.l4_offset),
        usize::from(meta.l3_end),
    );
    let frame = packet.data();
    let (Some(ip), Some(message)) = (frame.get(l3..l3 + IPV6_LEN), frame.get(l4..end)) else {
        return Outcome::Refused(Refusal::NdiscMalformed);
    };
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap_or_default());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap_or_default());
    let Ok(view) = Icmpv6Packet::new_checked(message) else {
        return Outcome::Refused(Refusal::NdiscMalformed);
    };
    // Checks the checksum and every option's length (a zero length is refused).
    let repr = match Icmpv6Repr::parse(&src, &dst, &view, &ChecksumCapabilities::default()) {
        Ok(Icmpv6Repr::Ndisc(repr)) => repr,
        _ => return Outcome::Refused(Refusal::NdiscMalformed),
    };
    let asker_mac = rewrite::source_mac(frame);
    match repr {
        NdiscRepr::NeighborSolicit { target_addr, .. } => {
            let Some((owner, is_router)) = tables.ipv6_owner(port.network, target_addr) else {
                return Outcome::Pass;
            };
            if owner == port.mac || target_addr.is_multicast() {
                // Its own address (duplicate address detection): nobody else answers.
                return Outcome::Pass;
            }
            let probe = src.is_unspecified();
            let mut flags = NdiscNeighborFlags::OVERRIDE;
            if !probe {
                flags |= NdiscNeighborFlags::SOLICITED;
            }
            if is_router {
                flags |= NdiscNeighborFlags::ROUTER;
            }
            let answer = NdiscRepr::NeighborAdvert {
                flags,
                target_addr,
                lladdr: Some(RawHardwareAddress::from(frame::mac(owner))),
            };
            // A probe's sender has no address yet: the answer goes to all nodes.
            let (dst_mac, dst_ip) = if probe {
                (ALL_NODES_MAC, ALL_NODES)
            } else {
                (asker_mac, src)
            };
            write(
                packet,
                answer,
                (dst_mac, owner),
                (dst_ip, target_addr),
                Answer::NeighbourAdvertisement,
            )
        }
        NdiscRepr::RouterSolicit { .. } => {
            let (Some(advertisement), Some(router_link_local), Some((router_mac, _))) = (
                advertisement(network),
                network.router_link_local,
                network.router,
            ) else {
                return Outcome::Pass;
            };
            let dst_ip = if src.is_unspecified() { ALL_NODES } else { src };
            write(
                packet,
                advertisement,
                (asker_mac, router_mac),
                (dst_ip, router_link_local),
                Answer::RouterAdvertisement,
            )
        }
        _ => Outcome::Pass,
    }
}

/// The network's router advertisement, when it has one.
fn advertisement(network: &NetworkServices) -> Option<NdiscRepr<'static>> {
    let settings = network.advertisement?;
    let (router_mac, _) = network.router?;
    let (flags, prefix_flags) = match settings.mode {
        RaMode::Slaac => (
            NdiscRouterFlags::empty(),
            NdiscPrefixInfoFlags::ON_LINK | NdiscPrefixInfoFlags::ADDRCONF,
        ),
        RaMode::Dhcpv6Stateless => (
            NdiscRouterFlags::OTHER,
            NdiscPrefixInfoFlags::ON_LINK | NdiscPrefixInfoFlags::ADDRCONF,
        ),
        RaMode::Dhcpv6Stateful => (
            NdiscRouterFlags::MANAGED | NdiscRouterFlags::OTHER,
            NdiscPrefixInfoFlags::ON_LINK,
        ),
    };
    Some(NdiscRepr::RouterAdvert {
        hop_limit: frame::TTL,
        flags,
        router_lifetime: Duration::from_secs(ROUTER_LIFETIME_S),
        reachable_time: Duration::from_millis(0),
        retrans_time: Duration::from_millis(0),
        lladdr: Some(RawHardwareAddress::from(frame::mac(router_mac))),
        mtu: Some(u32::from(network.link_mtu)),
        prefix_info: Some(NdiscPrefixInformation {
            prefix_len: settings.prefix_len,
            flags: prefix_flags,
            valid_lifetime: Duration::from_secs(VALID_LIFETIME_S),
            preferred_lifetime: Duration::from_secs(PREFERRED_LIFETIME_S),
            prefix: settings.prefix,
        }),
    })
}

/// Writes an unsolicited router advertisement to all nodes into a fresh buffer.
pub(crate) fn write_periodic_advertisement(network: &NetworkServices, packet: &mut Packet) -> bool {
    let (Some(repr), Some(router_link_local), Some((router_mac, _))) = (
        advertisement(network),
        network.router_link_local,
        network.router,
    ) else {
        return false;
    };
    let written = write(
        packet,
        repr,
        (ALL_NODES_MAC, router_mac),
        (ALL_NODES, router_link_local),
        Answer::RouterAdvertisement,
    );
    matches!(written, Outcome::Answered(_))
}

/// Makes the frame Ethernet / IPv6 (hop limit 255) / the discovery message.
fn write(
    packet: &mut Packet,
    repr: NdiscRepr,
    (dst_mac, src_mac): (MacAddr, MacAddr),
    (dst_ip, src_ip): (Ipv6Addr, Ipv6Addr),
    answer: Answer,
) -> Outcome {
    let icmp = Icmpv6Repr::Ndisc(repr);
    let icmp_len = icmp.buffer_len();
    if !frame::resize(packet, ETHERNET_LEN + IPV6_LEN + icmp_len) {
        return Outcome::Refused(Refusal::NoRoom);
    }
    let frame = packet.data_mut();
    frame::write_ethernet(frame, dst_mac, src_mac, EthernetProtocol::Ipv6);
    frame::write_ipv6(
        &mut frame[ETHERNET_LEN..],
        src_ip,
        dst_ip,
        IpProtocol::Icmpv6,
        icmp_len,
        HOP_LIMIT,
    );
    let message = &mut frame[ETHERNET_LEN + IPV6_LEN..];
    icmp.emit(
        &src_ip,
        &dst_ip,
        &mut Icmpv6Packet::new_unchecked(message),
        &ChecksumCapabilities::default(),
    );
    Outcome::Answered(answer)
}
