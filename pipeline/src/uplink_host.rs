//! The node's own presence on the uplink, hand-written rather than through smoltcp
//! (see neighbours.rs for why): ARP requests for node.vtep_ip and node.external_ip
//! are answered with node.uplink_mac (the reply is the request rewritten in place, as
//! the tenant ARP responder does), and so are IPv6 neighbour solicitations for them
//! when the underlay is IPv6; chassis MACs the topology leaves out are asked for
//! by ARP, and the answers release the frames waiting for them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use packet::meta::{ether_type, ip_proto};
use packet::{checksum, MacAddr, Packet, Pool, L3, L4};

use super::switching::{turn_into_arp_reply, ARP_REQUEST};
use super::tables::ForwardingTables;
use super::{Dropped, Egress};
use crate::counters::DropReason;

const ARP_LEN: usize = 42;

/// An ARP frame on the uplink: its sender is learned when this node is resolving it,
/// a request for one of the node's addresses is answered out of the uplink; anything
/// else is not for this node.
pub(super) fn arp(
    tables: &ForwardingTables,
    egress: &mut Egress,
    pool: &mut Pool,
    mut packet: Packet,
) -> Result<(), Dropped> {
    let learned = learn_sender(tables, egress, pool, &packet);
    let meta = &packet.meta;
    let overlay = &tables.vxlan;
    let ours = meta.l3 == L3::Arp
        && meta.arp_op == ARP_REQUEST
        && overlay.own_ips.contains(&meta.flow.dst_ip());
    match (overlay.uplink_mac, tables.uplink, ours) {
        (Some(mac), Some(uplink), true) => {
            turn_into_arp_reply(&mut packet, mac);
            egress.transmit(uplink, packet)
        }
        _ if learned => Err((packet, DropReason::NeighbourLearned)),
        _ => Err((packet, DropReason::NoLogicalPort)),
    }
}

/// Learns the ARP sender's MAC when it is an address this worker is resolving.
fn learn_sender(
    tables: &ForwardingTables,
    egress: &mut Egress,
    pool: &mut Pool,
    packet: &Packet,
) -> bool {
    let Some(uplink) = tables.uplink else {
        return false;
    };
    let l3 = usize::from(packet.meta.l3_offset);
    let Some(sender) = packet.data().get(l3 + 8..l3 + 14) else {
        return false;
    };
    let mac = MacAddr(sender.try_into().unwrap_or([0; 6]));
    learn(
        tables,
        egress,
        pool,
        uplink,
        packet.meta.flow.src_ip(),
        mac,
        packet.timestamp_ns,
    )
}

/// Learns `ip`'s MAC when `ip` is a chassis the topology gives no MAC, for every
/// worker, and sends the frames that waited for it here (at `now`, the time of the
/// answer); the other workers send theirs at their next burst.
fn learn(
    tables: &ForwardingTables,
    egress: &mut Egress,
    pool: &mut Pool,
    uplink: u16,
    ip: IpAddr,
    mac: MacAddr,
    now: u64,
) -> bool {
    if !is_resolvable(tables, ip) || !mac.is_unicast() {
        return false;
    }
    egress.learned.set(ip, mac, now);
    release_resolved(tables, egress, pool, uplink);
    true
}

/// True for an address the topology leaves without a MAC: a chassis without `mac`,
/// or SNAT's external gateway without `external_gateway_mac`.
pub(super) fn is_resolvable(tables: &ForwardingTables, ip: IpAddr) -> bool {
    let overlay = &tables.vxlan;
    if let Some(&chassis) = overlay.chassis_by_ip.get(&ip) {
        return overlay.chassis[usize::from(chassis)].mac.is_none();
    }
    matches!(tables.snat.resolve_gateway, Some((gateway, _)) if IpAddr::V4(gateway) == ip)
}

/// Sends the waiting frames whose chassis MAC is now known (learned by any worker),
/// at the time of the answer (or their own, if later).
pub(super) fn release_resolved(
    tables: &ForwardingTables,
    egress: &mut Egress,
    pool: &mut Pool,
    uplink: u16,
) {
    let known = egress.learned;
    let learned = |ip: IpAddr| {
        is_resolvable(tables, ip)
            .then(|| known.get_with_time(ip))
            .flatten()
    };
    while let Some((mut waiting, (mac, learned_at))) = egress.neighbours.take_resolved(learned) {
        waiting.data_mut()[0..6].copy_from_slice(&mac.0);
        waiting.timestamp_ns = waiting.timestamp_ns.max(learned_at);
        if let Err(dropped) = egress.transmit(uplink, waiting) {
            egress.drop(pool, dropped);
        }
    }
}

/// Sends the requests the neighbour table asks for, out of the uplink from
/// node.uplink_mac and node.vtep_ip: ARP over an IPv4 underlay, a neighbour
/// solicitation to the target's solicited-node group over IPv6.
pub(super) fn send_arp_requests(
    tables: &ForwardingTables,
    egress: &mut Egress,
    pool: &mut Pool,
    now: u64,
) {
    let (Some(uplink), Some(mac)) = (tables.uplink, tables.vxlan.uplink_mac) else {
        while egress.neighbours.next_request(now).is_some() {}
        return;
    };
    while let Some(target) = egress.neighbours.next_request(now) {
        // Asked from the address the target talks to: the external address for the
        // gateway, the VTEP for a chassis.
        let own = match tables.snat.resolve_gateway {
            Some((gateway, external)) if IpAddr::V4(gateway) == target => {
                Some(IpAddr::V4(external))
            }
            _ => tables.vxlan.local.as_ref().map(|local| local.endpoint.ip),
        };
        let Ok(mut request) = pool.alloc() else {
            egress.counters.drop(DropReason::NoBuffer);
            continue;
        };
        let written = match (own, target) {
            (Some(IpAddr::V4(own)), IpAddr::V4(target)) => {
                write_arp_request(&mut request, mac, own, target)
            }
            (Some(IpAddr::V6(own)), IpAddr::V6(target)) => {
                write_neighbour_solicitation(&mut request, mac, own, target)
            }
            _ => false,
        };
        if !written {
            egress.drop(pool, (request, DropReason::NoHeadroom));
            continue;
        }
        request.timestamp_ns = now;
        if let Err(dropped) = egress.transmit(uplink, request) {
            egress.drop(pool, dropped);
        }
    }
}

fn write_arp_request(request: &mut Packet, mac: MacAddr, own: Ipv4Addr, target: Ipv4Addr) -> bool {
    let Some(frame) = request.push_back(ARP_LEN) else {
        return false;
    };
    frame[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
    frame[6..12].copy_from_slice(&mac.0);
    frame[12..14].copy_from_slice(&ether_type::ARP.to_be_bytes());
    // Ethernet, IPv4, lengths 6 and 4, request.
    frame[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    frame[22..28].copy_from_slice(&mac.0);
    frame[28..32].copy_from_slice(&own.octets());
    frame[32..38].copy_from_slice(&[0; 6]);
    frame[38..42].copy_from_slice(&target.octets());
    true
}

/// RFC 4861 4.3: to the solicited-node multicast group of `target` (ff02::1:ffXX:XXXX,
/// Ethernet 33:33:ff:XX:XX:XX), hop limit 255, with the source link-layer option.
fn write_neighbour_solicitation(
    request: &mut Packet,
    mac: MacAddr,
    own: Ipv6Addr,
    target: Ipv6Addr,
) -> bool {
    let Some(frame) = request.push_back(14 + 40 + ND_MESSAGE_LEN) else {
        return false;
    };
    let t = target.octets();
    let group = Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15],
    ]);
    frame[0..6].copy_from_slice(&[0x33, 0x33, 0xff, t[13], t[14], t[15]]);
    frame[6..12].copy_from_slice(&mac.0);
    frame[12..14].copy_from_slice(&ether_type::IPV6.to_be_bytes());
    let ip = &mut frame[14..54];
    ip[0..4].copy_from_slice(&0x6000_0000u32.to_be_bytes());
    ip[4..6].copy_from_slice(&(ND_MESSAGE_LEN as u16).to_be_bytes());
    ip[6] = ip_proto::ICMPV6;
    ip[7] = ND_HOP_LIMIT;
    ip[8..24].copy_from_slice(&own.octets());
    ip[24..40].copy_from_slice(&group.octets());
    let ns = &mut frame[54..];
    ns[0..8].copy_from_slice(&[NEIGHBOUR_SOLICITATION, 0, 0, 0, 0, 0, 0, 0]);
    ns[8..24].copy_from_slice(&t);
    // Source link-layer address option: type 1, length 1 (8 bytes).
    ns[24..26].copy_from_slice(&[1, 1]);
    ns[26..32].copy_from_slice(&mac.0);
    let pseudo = checksum::pseudo_header_v6(own, group, ip_proto::ICMPV6, ND_MESSAGE_LEN as u32);
    let sum = checksum::transport(pseudo, ns);
    ns[2..4].copy_from_slice(&sum.to_be_bytes());
    true
}

const NEIGHBOUR_SOLICITATION: u8 = 135;
const NEIGHBOUR_ADVERTISEMENT: u8 = 136;
/// Neighbour discovery messages come from on-link only: hop limit 255 (RFC 4861 7.1.1).
const ND_HOP_LIMIT: u8 = 255;
/// ICMPv6 header and target address, then one link-layer address option.
const ND_MESSAGE_LEN: usize = 24 + 8;

/// Whether the frame is an ICMPv6 neighbour solicitation (by its outer headers).
pub(super) fn is_neighbour_solicitation(packet: &Packet) -> bool {
    let meta = &packet.meta;
    meta.l3 == L3::Ipv6 && meta.l4 == L4::Icmpv6 && meta.icmp_type == NEIGHBOUR_SOLICITATION
}

/// A neighbour solicitation on the uplink for one of the node's IPv6 addresses is
/// answered in place with a solicited advertisement (override set, target
/// link-layer address node.uplink_mac); anything else is not for this node.
pub(super) fn neighbour_solicitation(
    tables: &ForwardingTables,
    egress: &mut Egress,
    mut packet: Packet,
) -> Result<(), Dropped> {
    let meta = packet.meta;
    let l3 = usize::from(meta.l3_offset);
    let icmp = usize::from(meta.l4_offset);
    let frame = packet.data();
    let target = frame
        .get(icmp + 8..icmp + 24)
        .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
        .map(std::net::Ipv6Addr::from);
    let valid = meta.ttl == ND_HOP_LIMIT && meta.icmp_code == 0 && icmp == l3 + 40;
    let (Some(target), Some(mac), Some(uplink), true) =
        (target, tables.vxlan.uplink_mac, tables.uplink, valid)
    else {
        return Err((packet, DropReason::NoLogicalPort));
    };
    if !tables.vxlan.own_ips.contains(&IpAddr::V6(target)) {
        return Err((packet, DropReason::NoLogicalPort));
    }
    let asker = match meta.flow.src_ip() {
        IpAddr::V6(asker) => asker,
        IpAddr::V4(_) => return Err((packet, DropReason::NoLogicalPort)),
    };
    // Duplicate address detection asks from ::, the answer goes to all nodes.
    let (destination, solicited) = if asker.is_unspecified() {
        (std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), false)
    } else {
        (asker, true)
    };
    let asker_mac = packet::rewrite::source_mac(frame);
    let destination_mac = if solicited {
        asker_mac
    } else {
        MacAddr([0x33, 0x33, 0, 0, 0, 1])
    };
    let end = icmp + ND_MESSAGE_LEN;
    if end > packet.len() {
        if packet.push_back(end - packet.len()).is_none() {
            return Err((packet, DropReason::NoHeadroom));
        }
    } else {
        packet.truncate(end);
    }
    let frame = packet.data_mut();
    packet::rewrite::set_macs(frame, destination_mac, mac);
    let ip = &mut frame[l3..l3 + 40];
    ip[0..4].copy_from_slice(&0x6000_0000u32.to_be_bytes());
    ip[4..6].copy_from_slice(&(ND_MESSAGE_LEN as u16).to_be_bytes());
    ip[6] = ip_proto::ICMPV6;
    ip[7] = ND_HOP_LIMIT;
    ip[8..24].copy_from_slice(&target.octets());
    ip[24..40].copy_from_slice(&destination.octets());
    let na = &mut frame[icmp..end];
    na[0..4].copy_from_slice(&[NEIGHBOUR_ADVERTISEMENT, 0, 0, 0]);
    // Router 0, solicited, override.
    na[4..8].copy_from_slice(&[if solicited { 0x60 } else { 0x20 }, 0, 0, 0]);
    na[8..24].copy_from_slice(&target.octets());
    // Target link-layer address option: type 2, length 1 (8 bytes).
    na[24..26].copy_from_slice(&[2, 1]);
    na[26..32].copy_from_slice(&mac.0);
    let pseudo =
        checksum::pseudo_header_v6(target, destination, ip_proto::ICMPV6, ND_MESSAGE_LEN as u32);
    let sum = checksum::transport(pseudo, na);
    na[2..4].copy_from_slice(&sum.to_be_bytes());
    egress.transmit(uplink, packet)
}

/// Whether the frame is an ICMPv6 neighbour advertisement.
pub(super) fn is_neighbour_advertisement(packet: &Packet) -> bool {
    let meta = &packet.meta;
    meta.l3 == L3::Ipv6 && meta.l4 == L4::Icmpv6 && meta.icmp_type == NEIGHBOUR_ADVERTISEMENT
}

/// A neighbour advertisement on the uplink teaches its target's MAC (from the target
/// link-layer address option, else the Ethernet source) when this worker is
/// resolving that address; anything else is not for this node.
pub(super) fn neighbour_advertisement(
    tables: &ForwardingTables,
    egress: &mut Egress,
    pool: &mut Pool,
    packet: Packet,
) -> Result<(), Dropped> {
    let meta = &packet.meta;
    let icmp = usize::from(meta.l4_offset);
    let end = usize::from(meta.l3_end).min(packet.len());
    let frame = packet.data();
    let valid = meta.ttl == ND_HOP_LIMIT && meta.icmp_code == 0 && end >= icmp + 24;
    let (Some(local), true) = (&tables.vxlan.local, valid) else {
        return Err((packet, DropReason::NoLogicalPort));
    };
    let mut target = [0u8; 16];
    target.copy_from_slice(&frame[icmp + 8..icmp + 24]);
    let mac = target_link_layer_address(&frame[icmp + 24..end])
        .unwrap_or_else(|| packet::rewrite::source_mac(frame));
    let target = IpAddr::V6(Ipv6Addr::from(target));
    if learn(
        tables,
        egress,
        pool,
        local.port,
        target,
        mac,
        packet.timestamp_ns,
    ) {
        Err((packet, DropReason::NeighbourLearned))
    } else {
        Err((packet, DropReason::NoLogicalPort))
    }
}

/// The target link-layer address option (type 2) among ND options, if well formed.
fn target_link_layer_address(mut options: &[u8]) -> Option<MacAddr> {
    while let [kind, units, ..] = *options {
        let len = usize::from(units) * 8;
        if len == 0 || len > options.len() {
            return None;
        }
        if kind == 2 && len == 8 {
            return Some(MacAddr(options[2..8].try_into().ok()?));
        }
        options = &options[len..];
    }
    None
}
