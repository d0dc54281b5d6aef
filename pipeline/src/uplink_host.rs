//! The node's own presence on the uplink, with packet::wire rather than smoltcp
//! (see neighbours.rs for why): ARP requests for node.vtep_ip and node.external_ip
//! are answered with node.uplink_mac (the reply is the request rewritten in place, as
//! the tenant ARP responder does), and so are IPv6 neighbour solicitations for them
//! when the underlay is IPv6; chassis MACs the topology leaves out are asked for
//! by ARP, and the answers release the frames waiting for them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use packet::wire::{arp, nd};
use packet::{MacAddr, Packet, Pool, L3, L4};

use super::graph::{Context, Next, Stage};
use super::switching::turn_into_arp_reply;
use super::tables::{ForwardingTables, PortId};
use crate::counters::DropReason;

/// An ARP frame on the uplink: its sender is learned when this node is resolving it
/// (and the frames waiting for it leave), then it is answered.
pub(super) fn arp(tables: &ForwardingTables, cx: &mut Context, packet: &mut Packet) -> Next {
    if learn_sender(tables, cx, packet) {
        Next::ReleaseHeld(Stage::UplinkArpAnswer { learned: true })
    } else {
        arp_answer(tables, packet, false)
    }
}

/// A request for one of the node's addresses is answered out of the uplink;
/// anything else is not for this node.
pub(super) fn arp_answer(tables: &ForwardingTables, packet: &mut Packet, learned: bool) -> Next {
    let meta = &packet.meta;
    let overlay = &tables.vxlan;
    let ours = meta.l3 == L3::Arp
        && meta.arp_op == arp::REQUEST
        && overlay.own_ips.contains(&meta.flow.dst_ip());
    match (overlay.uplink_mac, tables.uplink, ours) {
        (Some(mac), Some(uplink), true) => {
            turn_into_arp_reply(packet, mac);
            Next::Transmit(uplink)
        }
        _ if learned => Next::Drop(DropReason::NeighbourLearned),
        _ => Next::Drop(DropReason::NoLogicalPort),
    }
}

/// Learns the ARP sender's MAC when it is an address this worker is resolving.
fn learn_sender(tables: &ForwardingTables, cx: &Context, packet: &Packet) -> bool {
    if tables.uplink.is_none() {
        return false;
    }
    let l3 = usize::from(packet.meta.l3_offset);
    let Some(view) = packet.data().get(l3..).and_then(arp::ArpView::new) else {
        return false;
    };
    let mac = view.sender_mac();
    learn(
        tables,
        cx,
        packet.meta.flow.src_ip(),
        mac,
        packet.timestamp_ns,
    )
}

/// Learns `ip`'s MAC when `ip` is a chassis the topology gives no MAC, for every
/// worker (at `now`, the time of the answer); the caller releases the frames that
/// waited for it here, the other workers send theirs at their next burst.
fn learn(tables: &ForwardingTables, cx: &Context, ip: IpAddr, mac: MacAddr, now: u64) -> bool {
    if !is_resolvable(tables, ip) || !mac.is_unicast() {
        return false;
    }
    cx.learned.set(ip, mac, now);
    true
}

/// True for an address the topology leaves without a MAC: a chassis without `mac`,
/// or SNAT's external gateway without `external_gateway_mac`.
pub(super) fn is_resolvable(tables: &ForwardingTables, ip: IpAddr) -> bool {
    let overlay = &tables.vxlan;
    if let Some(&chassis) = overlay.chassis_by_ip.get(&ip) {
        return overlay.chassis(chassis).mac.is_none();
    }
    matches!(tables.snat.resolve_gateway, Some((gateway, _)) if IpAddr::V4(gateway) == ip)
}

/// Sends the waiting frames whose chassis MAC is now known (learned by any worker),
/// at the time of the answer (or their own, if later).
pub(super) fn release_resolved(
    tables: &ForwardingTables,
    cx: &mut Context,
    pool: &mut Pool,
    uplink: PortId,
) {
    let known = cx.learned;
    let learned = |ip: IpAddr| {
        is_resolvable(tables, ip)
            .then(|| known.get_with_time(ip))
            .flatten()
    };
    while let Some((mut waiting, (mac, learned_at))) = cx.neighbours.take_resolved(learned) {
        waiting.data_mut()[0..6].copy_from_slice(&mac.0);
        waiting.timestamp_ns = waiting.timestamp_ns.max(learned_at);
        if let Err((packet, reason)) = cx.transmit(uplink, waiting) {
            cx.drop(pool, packet, reason);
        }
    }
}

/// Sends the requests the neighbour table asks for, out of the uplink from
/// node.uplink_mac and node.vtep_ip: ARP over an IPv4 underlay, a neighbour
/// solicitation to the target's solicited-node group over IPv6.
pub(super) fn send_arp_requests(
    tables: &ForwardingTables,
    cx: &mut Context,
    pool: &mut Pool,
    now: u64,
) {
    let (Some(uplink), Some(mac)) = (tables.uplink, tables.vxlan.uplink_mac) else {
        while cx.neighbours.next_request(now).is_some() {}
        return;
    };
    while let Some(target) = cx.neighbours.next_request(now) {
        // Asked from the address the target talks to: the external address for the
        // gateway, the VTEP for a chassis.
        let own = match tables.snat.resolve_gateway {
            Some((gateway, external)) if IpAddr::V4(gateway) == target => {
                Some(IpAddr::V4(external))
            }
            _ => tables.vxlan.local.as_ref().map(|local| local.endpoint.ip),
        };
        let Ok(mut request) = pool.alloc() else {
            cx.counters.drop(DropReason::NoBuffer);
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
            cx.drop(pool, request, DropReason::NoHeadroom);
            continue;
        }
        request.timestamp_ns = now;
        if let Err((packet, reason)) = cx.transmit(uplink, request) {
            cx.drop(pool, packet, reason);
        }
    }
}

fn write_arp_request(request: &mut Packet, mac: MacAddr, own: Ipv4Addr, target: Ipv4Addr) -> bool {
    request
        .push_back(arp::FRAME_LEN)
        .is_some_and(|frame| arp::write_request_frame(frame, mac, own, target))
}

fn write_neighbour_solicitation(
    request: &mut Packet,
    mac: MacAddr,
    own: Ipv6Addr,
    target: Ipv6Addr,
) -> bool {
    request
        .push_back(nd::SOLICITATION_FRAME_LEN)
        .is_some_and(|frame| nd::write_solicitation_frame(frame, mac, own, target))
}

/// Whether the frame is an ICMPv6 neighbour solicitation (by its outer headers).
pub(super) fn is_neighbour_solicitation(packet: &Packet) -> bool {
    let meta = &packet.meta;
    meta.l3 == L3::Ipv6 && meta.l4 == L4::Icmpv6 && meta.icmp_type == nd::SOLICITATION
}

/// A neighbour solicitation on the uplink for one of the node's IPv6 addresses is
/// answered in place with a solicited advertisement (override set, target
/// link-layer address node.uplink_mac); anything else is not for this node.
pub(super) fn neighbour_solicitation(tables: &ForwardingTables, packet: &mut Packet) -> Next {
    let meta = packet.meta;
    let l3 = usize::from(meta.l3_offset);
    let icmp = usize::from(meta.l4_offset);
    let frame = packet.data();
    let target = frame
        .get(icmp..)
        .and_then(nd::NdView::new)
        .map(|view| view.target());
    let valid = meta.ttl == nd::HOP_LIMIT && meta.icmp_code == 0 && icmp == l3 + 40;
    let (Some(target), Some(mac), Some(uplink), true) =
        (target, tables.vxlan.uplink_mac, tables.uplink, valid)
    else {
        return Next::Drop(DropReason::NoLogicalPort);
    };
    if !tables.vxlan.own_ips.contains(&IpAddr::V6(target)) {
        return Next::Drop(DropReason::NoLogicalPort);
    }
    let asker = match meta.flow.src_ip() {
        IpAddr::V6(asker) => asker,
        IpAddr::V4(_) => return Next::Drop(DropReason::NoLogicalPort),
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
    let end = icmp + nd::MESSAGE_LEN;
    if end > packet.len() {
        if packet.push_back(end - packet.len()).is_none() {
            return Next::Drop(DropReason::NoHeadroom);
        }
    } else {
        packet.truncate(end);
    }
    let frame = packet.data_mut();
    packet::rewrite::set_macs(frame, destination_mac, mac);
    let written = frame
        .get_mut(l3..)
        .is_some_and(|ip| nd::write_advertisement(ip, mac, target, destination, solicited));
    if !written {
        return Next::Drop(DropReason::NoHeadroom);
    }
    Next::Transmit(uplink)
}

/// Whether the frame is an ICMPv6 neighbour advertisement.
pub(super) fn is_neighbour_advertisement(packet: &Packet) -> bool {
    let meta = &packet.meta;
    meta.l3 == L3::Ipv6 && meta.l4 == L4::Icmpv6 && meta.icmp_type == nd::ADVERTISEMENT
}

/// A neighbour advertisement on the uplink teaches its target's MAC (from the target
/// link-layer address option, else the Ethernet source) when this worker is
/// resolving that address; anything else is not for this node.
pub(super) fn neighbour_advertisement(
    tables: &ForwardingTables,
    cx: &Context,
    packet: &Packet,
) -> Next {
    let meta = &packet.meta;
    let icmp = usize::from(meta.l4_offset);
    let end = usize::from(meta.l3_end).min(packet.len());
    let view = packet.data().get(icmp..end).and_then(nd::NdView::new);
    let valid = meta.ttl == nd::HOP_LIMIT && meta.icmp_code == 0;
    let (Some(_), Some(view), true) = (&tables.vxlan.local, view, valid) else {
        return Next::Drop(DropReason::NoLogicalPort);
    };
    let mac = view
        .target_link_layer_address()
        .unwrap_or_else(|| packet::rewrite::source_mac(packet.data()));
    let target = IpAddr::V6(view.target());
    if learn(tables, cx, target, mac, packet.timestamp_ns) {
        Next::ReleaseHeld(Stage::NeighbourLearned)
    } else {
        Next::Drop(DropReason::NoLogicalPort)
    }
}
