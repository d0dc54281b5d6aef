//! Frames arriving on the uplink: the underlay and the outside world. No logical port
//! lives there (the topology refuses one); what arrives is VXLAN for this node's
//! VTEP, replies to this node's SNAT, or the underlay's own ARP.

use packet::{parse, Packet, Pool};

use super::tables::ForwardingTables;
use super::{snat, Dropped, Egress, WorkerState};
use crate::counters::DropReason;

pub(super) fn receive(
    tables: &ForwardingTables,
    state: &mut WorkerState,
    egress: &mut Egress,
    _pool: &mut Pool,
    mut packet: Packet,
) -> Result<(), Dropped> {
    packet.meta = match parse(packet.data()) {
        Ok(meta) => meta,
        Err(error) => return Err((packet, error.into())),
    };
    if snat::is_for_external_ip(tables, &packet) {
        return snat::inbound(tables, state, egress, packet);
    }
    // Nothing else on the uplink is addressed to a logical port until VXLAN
    // decapsulation is dispatched from here.
    Err((packet, DropReason::NoLogicalPort))
}
