//! The counters as the API shows them. The daemon's periodic JSON is this same message,
//! so `dataplane run --stats-interval` and `dpctl stats -o json` print one shape.

use super::proto as pb;
use pipeline::counters::{Counters, DropReason};
use port::PortInfo;
use runtime::RuntimeHandle;

/// Totals, per-worker counters and generations of a running dataplane whose ports
/// are `names` (in topology order).
pub fn stats_reply(runtime: &RuntimeHandle, names: &[String]) -> pb::StatsReply {
    pb::StatsReply {
        total: Some(counters_to(names, &runtime.stats())),
        workers: runtime
            .worker_stats()
            .iter()
            .map(|c| counters_to(names, c))
            .collect(),
        generation: runtime.generation(),
        oldest_generation_in_use: runtime.oldest_generation_in_use(),
        capture_dropped: runtime.capture().dropped(),
        drivers: runtime.ports().iter().map(|p| driver_stats(&**p)).collect(),
    }
}

/// What a port's driver counts (link, queues, packets, bytes, errors).
pub fn driver_stats(port: &dyn PortInfo) -> pb::PortDriverStats {
    let (rx, tx) = (port.stats().rx(), port.stats().tx());
    let capabilities = port.capabilities();
    pb::PortDriverStats {
        port: port.name().to_owned(),
        link_up: port.link().up,
        rx_queues: u32::from(capabilities.rx_queues),
        tx_queues: u32::from(capabilities.tx_queues),
        rx_packets: rx.packets,
        rx_bytes: rx.bytes,
        rx_errors: rx.errors,
        rx_missed: rx.missed,
        tx_packets: tx.packets,
        tx_bytes: tx.bytes,
        tx_errors: tx.errors,
        device: port
            .extended_stats()
            .into_iter()
            .map(|(name, value)| pb::DeviceCounter { name, value })
            .collect(),
        faults: port.faults(),
    }
}

pub fn counters_to(names: &[String], counters: &Counters) -> pb::Counters {
    pb::Counters {
        ports: names
            .iter()
            .zip(&counters.ports)
            .map(|(name, c)| pb::PortStats {
                port: name.clone(),
                rx: c.rx,
                tx: c.tx,
            })
            .collect(),
        drops: DropReason::ALL
            .iter()
            .map(|reason| pb::DropCount {
                reason: reason.name().to_owned(),
                count: counters.drops(*reason),
            })
            .collect(),
    }
}
