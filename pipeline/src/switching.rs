//! L2 within a logical network: the local ARP responder, unicast by destination MAC,
//! and flooding of broadcast, multicast and unknown unicast to the network's other
//! local ports.

use packet::{rewrite, MacAddr, Packet, Pool, L3};

use super::tables::ForwardingTables;
use super::{Dropped, Egress};
use crate::counters::DropReason;

pub(super) const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;

/// The MAC to answer an ARP request with, when the network knows the address asked
/// for: a logical port's (local or remote) or the gateway's (the router MAC). A
/// request for the asker's own address (gratuitous ARP, duplicate detection) is
/// not answered.
pub(super) fn arp_answer(
    tables: &ForwardingTables,
    packet: &Packet,
    ingress: u32,
) -> Option<MacAddr> {
    let meta = &packet.meta;
    if meta.l3 != L3::Arp || meta.arp_op != ARP_REQUEST {
        return None;
    }
    let network_id = tables.logical_ports[ingress as usize].network;
    let network = &tables.networks[network_id as usize];
    let target = meta.flow.dst_ip();
    if network.gateway_ip == Some(target) {
        return network.router_mac;
    }
    match tables.hosts.get(&(network_id, target)) {
        Some(&owner) if owner != ingress => Some(tables.logical_ports[owner as usize].mac),
        _ => None,
    }
}

/// Rewrites an ARP request in place into the reply from `answer`, addressed back to
/// the asker.
pub(super) fn turn_into_arp_reply(packet: &mut Packet, answer: MacAddr) {
    let l3 = usize::from(packet.meta.l3_offset);
    let frame = packet.data_mut();
    let asker = rewrite::source_mac(frame);
    rewrite::set_macs(frame, asker, answer);
    let Some(arp) = frame.get_mut(l3..l3 + 28) else {
        return;
    };
    let mut sender = [0u8; 10];
    sender.copy_from_slice(&arp[8..18]);
    let mut target_ip = [0u8; 4];
    target_ip.copy_from_slice(&arp[24..28]);
    arp[6..8].copy_from_slice(&ARP_REPLY.to_be_bytes());
    arp[8..14].copy_from_slice(&answer.0);
    arp[14..18].copy_from_slice(&target_ip);
    arp[18..28].copy_from_slice(&sender);
}

/// Forwards a frame within its logical network by destination MAC.
pub(super) fn switch(
    tables: &ForwardingTables,
    egress: &mut Egress,
    pool: &mut Pool,
    packet: Packet,
    ingress: u32,
) -> Result<(), Dropped> {
    let destination = rewrite::destination_mac(packet.data());
    if destination.is_multicast() {
        egress.note("l2", || {
            (
                format!("{destination} is broadcast or multicast: flooded"),
                vec![],
            )
        });
        return flood(tables, egress, pool, packet, ingress);
    }
    let network = tables.logical_ports[ingress as usize].network;
    match tables.macs.get(&(network, destination)) {
        Some(&target) if target == ingress => Err((packet, DropReason::Hairpin)),
        Some(&target) => {
            egress.note("l2", || {
                let decision = format!("unicast {destination} to logical port {target}");
                (decision, vec![("logical_port", target.to_string())])
            });
            egress.send(tables, packet, target)
        }
        None => {
            egress.note("l2", || {
                (format!("unknown unicast {destination}: flooded"), vec![])
            });
            flood(tables, egress, pool, packet, ingress)
        }
    }
}

/// Where a flooded copy goes.
#[derive(Clone, Copy)]
enum FloodTarget {
    /// A local logical port.
    Port(u32),
    /// A chassis hosting ports of the network (head-end replication, one copy each).
    Chassis(u16),
}

/// Sends a copy to every other local port of the network and, when the frame did not
/// come over the overlay, one to every chassis hosting a port of it (a frame from the
/// overlay was replicated to every chassis by its sender already); the last one gets
/// the original buffer.
fn flood(
    tables: &ForwardingTables,
    egress: &mut Egress,
    pool: &mut Pool,
    packet: Packet,
    ingress: u32,
) -> Result<(), Dropped> {
    let network = tables.logical_ports[ingress as usize].network;
    let from_overlay = tables.uplink == Some(packet.rx_port);
    let chassis: &[u16] = if from_overlay {
        &[]
    } else {
        &tables.vxlan.flood_chassis[network as usize]
    };
    let mut targets = tables.networks[network as usize]
        .flood
        .iter()
        .copied()
        .filter(|&target| target != ingress)
        .map(FloodTarget::Port)
        .chain(chassis.iter().copied().map(FloodTarget::Chassis));
    let Some(mut current) = targets.next() else {
        return Err((packet, DropReason::NoDestination));
    };
    for next in targets {
        match pool.clone_packet(&packet) {
            Ok(copy) => {
                if let Err(dropped) = flood_one(tables, egress, copy, current, network) {
                    egress.drop(pool, dropped);
                }
            }
            Err(_) => egress.counters.drop(DropReason::NoBuffer),
        }
        current = next;
    }
    flood_one(tables, egress, packet, current, network)
}

fn flood_one(
    tables: &ForwardingTables,
    egress: &mut Egress,
    packet: Packet,
    target: FloodTarget,
    network: u32,
) -> Result<(), Dropped> {
    match target {
        FloodTarget::Port(port) => egress.send(tables, packet, port),
        FloodTarget::Chassis(chassis) => {
            super::vxlan::send_to_chassis(egress, tables, packet, chassis, network)
        }
    }
}
