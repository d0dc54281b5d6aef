//! L2 within a logical network: the local ARP responder, unicast by destination MAC;
//! broadcast, multicast and unknown unicast are flooded (by the graph) to the
//! network's other ports.

use packet::wire::arp;
use packet::{rewrite, MacAddr, Packet, L3};

use super::graph::{Context, Next, Stage};
use super::tables::{Attachment, ForwardingTables, LogicalPortId};
use crate::counters::DropReason;

/// The MAC to answer an ARP request with, when the network knows the address asked
/// for: a logical port's (local or remote) or the gateway's (the router MAC). A
/// request for the asker's own address (gratuitous ARP, duplicate detection) is
/// not answered.
fn arp_answer(
    tables: &ForwardingTables,
    packet: &Packet,
    ingress: LogicalPortId,
) -> Option<MacAddr> {
    let meta = &packet.meta;
    if meta.l3 != L3::Arp || meta.arp_op != arp::REQUEST {
        return None;
    }
    let network_id = tables.logical_port(ingress).network;
    let network = tables.network(network_id);
    let target = meta.flow.dst_ip();
    if network.gateway_ip == Some(target) {
        return network.router_mac;
    }
    match tables.hosts.get(&(network_id, target)) {
        Some(&owner) if owner != ingress => Some(tables.logical_port(owner).mac),
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
    if let Some(message) = frame.get_mut(l3..) {
        arp::turn_into_reply(message, answer);
    }
}

/// Forwarding once the frame's logical port is known (a local port after ingress, or a
/// remote one after VXLAN decapsulation): ARP responder, routing or L2.
pub(super) fn forward(
    tables: &ForwardingTables,
    cx: &mut Context,
    packet: &mut Packet,
    ingress: LogicalPortId,
) -> Next {
    // DHCP and neighbour discovery from a VM of this node are answered here; what
    // comes over the overlay was answered by the node hosting its sender.
    if let Some(request) = local_services::vm_request(&packet.meta) {
        if matches!(
            tables.logical_port(ingress).attachment,
            Attachment::Local { .. }
        ) {
            return Next::Stage(Stage::LocalService { ingress, request });
        }
    }
    forward_without_services(tables, cx, packet, ingress)
}

/// Forwarding once the local services had nothing to say: ARP responder, routing or
/// L2.
pub(super) fn forward_without_services(
    tables: &ForwardingTables,
    cx: &mut Context,
    packet: &mut Packet,
    ingress: LogicalPortId,
) -> Next {
    let network = tables.network(tables.logical_port(ingress).network);
    if let Some(answer) = arp_answer(tables, packet, ingress) {
        cx.note("arp_responder", || {
            (
                format!("answered with {answer}"),
                vec![("mac", answer.to_string())],
            )
        });
        turn_into_arp_reply(packet, answer);
        return Next::SendToLogicalPort(ingress);
    }
    let destination = rewrite::destination_mac(packet.data());
    if network.router_mac == Some(destination) {
        cx.note("l2", || {
            (format!("to the router MAC {destination}: routed"), vec![])
        });
        return Next::Stage(Stage::Route);
    }
    switch(tables, cx, packet, ingress)
}

/// Forwards a frame within its logical network by destination MAC.
fn switch(
    tables: &ForwardingTables,
    cx: &mut Context,
    packet: &Packet,
    ingress: LogicalPortId,
) -> Next {
    let destination = rewrite::destination_mac(packet.data());
    if destination.is_multicast() {
        cx.note("l2", || {
            (
                format!("{destination} is broadcast or multicast: flooded"),
                vec![],
            )
        });
        return Next::Flood(ingress);
    }
    let network = tables.logical_port(ingress).network;
    match tables.macs.get(&(network, destination)) {
        Some(&target) if target == ingress => Next::Drop(DropReason::Hairpin),
        Some(&target) => {
            cx.note("l2", || {
                let decision = format!("unicast {destination} to logical port {target}");
                (decision, vec![("logical_port", target.to_string())])
            });
            Next::SendToLogicalPort(target)
        }
        None => {
            cx.note("l2", || {
                (format!("unknown unicast {destination}: flooded"), vec![])
            });
            Next::Flood(ingress)
        }
    }
}
