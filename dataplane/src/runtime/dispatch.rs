//! Which worker processes a packet. A SNAT reply goes to the worker whose slice of
//! the port range holds its external port (that worker owns the connection); any
//! other packet to the one its flow hashes to, symmetrically, so both directions of a
//! connection meet the same connection-tracking shard.

use nat::PortSlices;
use packet::{parse, Packet};

use crate::pipeline::snat;
use crate::pipeline::tables::ForwardingTables;

/// The worker for `packet`, among `workers`; `local` keeps frames that do not parse
/// (they are dropped where they are). The metadata is kept for the pipeline, so the
/// frame is not parsed twice.
pub fn worker_for(
    tables: &ForwardingTables,
    packet: &mut Packet,
    workers: usize,
    local: usize,
) -> usize {
    if workers <= 1 {
        return 0;
    }
    if !packet.meta.parsed {
        match parse(packet.data()) {
            Ok(meta) => packet.meta = meta,
            Err(_) => return local,
        }
    }
    if tables.is_uplink(packet.rx_port) {
        if let Some(port) = snat::external_port(tables, packet) {
            let slices = PortSlices::new(tables.snat.config.port_range, workers as u16);
            if let Some(owner) = slices.owner(port) {
                return usize::from(owner);
            }
        }
    }
    (packet.meta.flow.symmetric_hash() % workers as u64) as usize
}
