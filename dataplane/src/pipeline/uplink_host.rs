//! The node's own presence on the uplink, hand-written rather than through smoltcp
//! (see neighbours.rs for why): ARP requests for node.vtep_ip and node.external_ip
//! are answered with node.uplink_mac (the reply is the request rewritten in place, as
//! the tenant ARP responder does); chassis MACs the topology leaves out are asked for
//! by ARP, and the answers release the frames waiting for them.

use std::net::IpAddr;

use packet::meta::ether_type;
use packet::{MacAddr, Packet, Pool, L3};

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
        _ if learned => Err((packet, DropReason::ArpConsumed)),
        _ => Err((packet, DropReason::NoLogicalPort)),
    }
}

/// Learns the ARP sender's MAC when it is an address this worker is resolving, and
/// sends the frames that waited for it (at the time of the answer).
fn learn_sender(
    tables: &ForwardingTables,
    egress: &mut Egress,
    pool: &mut Pool,
    packet: &Packet,
) -> bool {
    let Some(local) = &tables.vxlan.local else {
        return false;
    };
    let l3 = usize::from(packet.meta.l3_offset);
    let Some(sender) = packet.data().get(l3 + 8..l3 + 14) else {
        return false;
    };
    let mac = MacAddr(sender.try_into().unwrap_or([0; 6]));
    let ip = packet.meta.flow.src_ip();
    if !egress.neighbours.learn(ip, mac) {
        return false;
    }
    while let Some(mut waiting) = egress.neighbours.take_waiting(ip) {
        waiting.data_mut()[0..6].copy_from_slice(&mac.0);
        waiting.timestamp_ns = packet.timestamp_ns;
        if let Err(dropped) = egress.transmit(local.port, waiting) {
            egress.drop(pool, dropped);
        }
    }
    true
}

/// Sends the ARP requests the neighbour table asks for, out of the uplink, from
/// node.uplink_mac and node.vtep_ip.
pub(super) fn send_arp_requests(
    tables: &ForwardingTables,
    egress: &mut Egress,
    pool: &mut Pool,
    now: u64,
) {
    let Some(local) = &tables.vxlan.local else {
        while egress.neighbours.next_request(now).is_some() {}
        return;
    };
    let IpAddr::V4(own) = local.endpoint.ip else {
        while egress.neighbours.next_request(now).is_some() {}
        return;
    };
    while let Some(IpAddr::V4(target)) = egress.neighbours.next_request(now) {
        let Ok(mut request) = pool.alloc() else {
            egress.counters.drop(DropReason::NoBuffer);
            continue;
        };
        let Some(frame) = request.push_back(ARP_LEN) else {
            egress.drop(pool, (request, DropReason::NoHeadroom));
            continue;
        };
        let mac = local.endpoint.mac.0;
        frame[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
        frame[6..12].copy_from_slice(&mac);
        frame[12..14].copy_from_slice(&ether_type::ARP.to_be_bytes());
        // Ethernet, IPv4, lengths 6 and 4, request.
        frame[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        frame[22..28].copy_from_slice(&mac);
        frame[28..32].copy_from_slice(&own.octets());
        frame[32..38].copy_from_slice(&[0; 6]);
        frame[38..42].copy_from_slice(&target.octets());
        request.timestamp_ns = now;
        if let Err(dropped) = egress.transmit(local.port, request) {
            egress.drop(pool, dropped);
        }
    }
}
