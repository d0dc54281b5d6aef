//! The one packet that changes worker: a SNAT reply arriving on the uplink goes to the
//! worker whose slice of the port range holds its external port (that worker owns the
//! connection). Everything else stays on the worker that received it.

use nat::PortSlices;
use packet::Packet;

use pipeline::snat;
use pipeline::tables::ForwardingTables;

/// The worker owning the connection of `packet`, a frame received on the uplink, when
/// it is a reply to a translated connection; `None` for anything else. The frame is
/// parsed here once and its metadata kept for the pipeline.
pub fn reply_owner(
    tables: &ForwardingTables,
    packet: &mut Packet,
    workers: usize,
) -> Option<usize> {
    if workers <= 1 || !tables.is_uplink(packet.rx_port) {
        return None;
    }
    if !packet.meta.parsed && packet.parse().is_err() {
        return None;
    }
    let port = snat::external_port(tables, packet)?;
    let slices = PortSlices::new(tables.snat.config.port_range, workers as u16);
    slices.owner(port).map(usize::from)
}
