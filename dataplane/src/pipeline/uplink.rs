//! Frames arriving on the uplink: the underlay and the outside world. No logical port
//! lives there (the topology refuses one); what arrives is VXLAN for this node's
//! VTEP, replies to this node's SNAT, or the underlay's own ARP.

use packet::{parse, Packet, Pool};

use super::tables::ForwardingTables;
use super::{Dropped, Egress};
use crate::counters::DropReason;

pub(super) fn receive(
    _tables: &ForwardingTables,
    _egress: &mut Egress,
    _pool: &mut Pool,
    mut packet: Packet,
) -> Result<(), Dropped> {
    packet.meta = match parse(packet.data()) {
        Ok(meta) => meta,
        Err(error) => return Err((packet, error.into())),
    };
    // Nothing on the uplink is addressed to a logical port until VXLAN decapsulation
    // and SNAT replies are dispatched from here.
    Err((packet, DropReason::NoLogicalPort))
}
