//! The operator's views of a running dataplane: what runs (show), per-port and
//! per-worker counters, learned neighbours; and counters relative to the last clear.

use std::time::Instant;

use super::proto as pb;
use crate::pipeline::tables::ForwardingTables;
use crate::runtime::RuntimeHandle;
use crate::topology::Topology;

fn core_of(runtime: &RuntimeHandle, worker: usize) -> Option<u32> {
    let cores = &runtime.config().cores;
    (!cores.is_empty()).then(|| cores[worker % cores.len()] as u32)
}

fn ports_of(runtime: &RuntimeHandle, topology: &Topology, worker: usize) -> Vec<String> {
    runtime
        .port_owners()
        .iter()
        .enumerate()
        .filter(|(_, owner)| **owner == worker)
        .filter_map(|(id, _)| topology.ports.get(id).map(|p| p.name.clone()))
        .collect()
}

pub fn show(runtime: &RuntimeHandle, topology: &Topology) -> pb::ShowReply {
    pb::ShowReply {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_ms: Instant::now().duration_since(runtime.started()).as_millis() as u64,
        generation: runtime.generation(),
        workers: (0..runtime.config().workers)
            .map(|worker| pb::WorkerInfo {
                worker: worker as u32,
                core: core_of(runtime, worker),
                ports: ports_of(runtime, topology, worker),
            })
            .collect(),
        ports: topology
            .ports
            .iter()
            .zip(runtime.port_owners())
            .map(|(port, owner)| pb::PortInfo {
                name: port.name.clone(),
                driver: port.driver.name().to_owned(),
                worker: *owner as u32,
            })
            .collect(),
    }
}

/// The stats as they were at the last clear; what is reported is the difference.
pub type Baseline = pb::StatsReply;

/// `now` less `base`, field by field (saturating: a worker that had not published
/// yet at the clear never makes a counter negative).
pub fn since(mut now: pb::StatsReply, base: Option<&Baseline>) -> pb::StatsReply {
    let Some(base) = base else {
        return now;
    };
    if let (Some(now), Some(base)) = (now.total.as_mut(), base.total.as_ref()) {
        counters_since(now, base);
    }
    for (now, base) in now.workers.iter_mut().zip(&base.workers) {
        counters_since(now, base);
    }
    now.capture_dropped = now.capture_dropped.saturating_sub(base.capture_dropped);
    now
}

fn counters_since(now: &mut pb::Counters, base: &pb::Counters) {
    for (now, base) in now.ports.iter_mut().zip(&base.ports) {
        now.rx = now.rx.saturating_sub(base.rx);
        now.tx = now.tx.saturating_sub(base.tx);
    }
    for (now, base) in now.drops.iter_mut().zip(&base.drops) {
        now.count = now.count.saturating_sub(base.count);
    }
}

/// Per-port counters since the last clear; `only`: one port id.
pub fn port_status(
    runtime: &RuntimeHandle,
    topology: &Topology,
    stats: &pb::StatsReply,
    only: Option<usize>,
) -> pb::PortStatusList {
    let totals = stats.total.clone().unwrap_or_default();
    let ports = topology
        .ports
        .iter()
        .enumerate()
        .filter(|(id, _)| only.is_none_or(|o| o == *id))
        .map(|(id, port)| {
            let c = totals.ports.get(id).cloned().unwrap_or_default();
            pb::PortStatus {
                name: port.name.clone(),
                driver: port.driver.name().to_owned(),
                worker: runtime.port_owners().get(id).copied().unwrap_or(0) as u32,
                rx_packets: c.rx,
                tx_packets: c.tx,
                queues: Vec::new(),
            }
        })
        .collect();
    pb::PortStatusList { ports }
}

/// Per-worker counters since the last clear, and what each worker polls.
pub fn worker_status(
    runtime: &RuntimeHandle,
    topology: &Topology,
    stats: &pb::StatsReply,
) -> pb::WorkerStatusList {
    let workers = stats
        .workers
        .iter()
        .enumerate()
        .map(|(worker, c)| pb::WorkerStatus {
            worker: worker as u32,
            core: core_of(runtime, worker),
            // One queue per port until the runtime polls several.
            rx_queues: ports_of(runtime, topology, worker)
                .into_iter()
                .map(|port| pb::RxQueue { port, queue: 0 })
                .collect(),
            rx_packets: c.ports.iter().map(|p| p.rx).sum(),
            tx_packets: c.ports.iter().map(|p| p.tx).sum(),
            dropped: c.drops.iter().map(|d| d.count).sum(),
            busy_cycles: None,
            idle_cycles: None,
        })
        .collect();
    pb::WorkerStatusList { workers }
}

/// The MACs learned for the chassis and the external gateway the topology leaves
/// without one.
pub fn neighbours(tables: &ForwardingTables, topology: &Topology) -> pb::NeighbourList {
    let learned = &tables.vxlan.learned;
    let mut neighbours: Vec<pb::Neighbour> = topology
        .chassis
        .iter()
        .enumerate()
        .filter_map(|(slot, chassis)| {
            learned.get(slot as u16).map(|mac| pb::Neighbour {
                ip: chassis.vtep_ip.to_string(),
                mac: mac.to_string(),
                owner: format!("chassis \"{}\"", chassis.name),
            })
        })
        .collect();
    if let (Some(ip), Some(mac)) = (
        topology.node.external_gateway_ip,
        learned.get(tables.vxlan.gateway_slot()),
    ) {
        neighbours.push(pb::Neighbour {
            ip: ip.to_string(),
            mac: mac.to_string(),
            owner: "external gateway".into(),
        });
    }
    pb::NeighbourList { neighbours }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::file::TopologyFile;

    #[test]
    fn neighbours_are_the_learned_macs_with_their_owners() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/control.toml");
        let text = std::fs::read_to_string(path).unwrap()
            + "\n[[chassis]]\nname = \"compute-2\"\nvtep_ip = \"192.0.2.12\"\n\
               \n[[chassis]]\nname = \"compute-3\"\nvtep_ip = \"192.0.2.13\"\n";
        let file: TopologyFile = toml::from_str(&text).unwrap();
        let topology = Topology::from_file(&file).unwrap();
        let tables = ForwardingTables::build(&topology);
        assert!(neighbours(&tables, &topology).neighbours.is_empty());
        let mac = packet::MacAddr([2, 0, 0xc0, 0, 2, 0x0d]);
        tables.vxlan.learned.set(1, mac, 5);
        let listed = neighbours(&tables, &topology).neighbours;
        assert_eq!(
            listed,
            [pb::Neighbour {
                ip: "192.0.2.13".into(),
                mac: "02:00:c0:00:02:0d".into(),
                owner: "chassis \"compute-3\"".into(),
            }]
        );
    }

    #[test]
    fn counters_since_a_clear_are_the_difference_and_never_negative() {
        let counters = |rx: u64, drops: u64| pb::Counters {
            ports: vec![pb::PortStats {
                port: "p".into(),
                rx,
                tx: rx,
            }],
            drops: vec![pb::DropCount {
                reason: "no_route".into(),
                count: drops,
            }],
        };
        let stats = |rx, drops, captured| pb::StatsReply {
            total: Some(counters(rx, drops)),
            workers: vec![counters(rx, drops)],
            capture_dropped: captured,
            ..Default::default()
        };
        let base = stats(10, 4, 2);
        let now = since(stats(15, 3, 7), Some(&base));
        assert_eq!(now.total, Some(counters(5, 0)));
        assert_eq!(now.workers, [counters(5, 0)]);
        assert_eq!(now.capture_dropped, 5);
        assert_eq!(since(stats(15, 3, 7), None), stats(15, 3, 7));
    }
}
