//! The node's own addresses on the uplink (node.vtep_ip, node.external_ip): the
//! underlay must resolve them to reach this node, so ARP requests for them are
//! answered with node.uplink_mac. Hand-written (the reply is the request rewritten in
//! place, as the tenant ARP responder does) rather than through smoltcp: a full host
//! stack per worker is not needed for one answer.

use packet::{Packet, L3};

use super::switching::{turn_into_arp_reply, ARP_REQUEST};
use super::tables::ForwardingTables;
use super::{Dropped, Egress};
use crate::counters::DropReason;

/// An ARP frame on the uplink: a request for one of the node's addresses is answered
/// out of the uplink; anything else is not for this node.
pub(super) fn arp(
    tables: &ForwardingTables,
    egress: &mut Egress,
    mut packet: Packet,
) -> Result<(), Dropped> {
    let meta = &packet.meta;
    let overlay = &tables.vxlan;
    let ours = meta.l3 == L3::Arp
        && meta.arp_op == ARP_REQUEST
        && overlay.own_ips.contains(&meta.flow.dst_ip());
    let (Some(mac), Some(uplink), true) = (overlay.uplink_mac, tables.uplink, ours) else {
        return Err((packet, DropReason::NoLogicalPort));
    };
    turn_into_arp_reply(&mut packet, mac);
    egress.transmit(uplink, packet)
}
