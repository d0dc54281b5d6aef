//! The operator's views of a running dataplane: what runs (show), per-port and
//! per-worker counters, learned neighbours; and counters relative to the last clear.

use std::time::Instant;

use super::proto as pb;
use pipeline::neighbours::LearnedMacs;
use runtime::RuntimeHandle;
use topology::Topology;

fn core_of(runtime: &RuntimeHandle, worker: usize) -> Option<u32> {
    let cores = &runtime.config().cores;
    (!cores.is_empty()).then(|| cores[worker % cores.len()] as u32)
}

/// The receive queues `worker` polls: (port id, queue).
fn queues_of(runtime: &RuntimeHandle, worker: usize) -> Vec<(usize, usize)> {
    runtime
        .placement()
        .iter()
        .enumerate()
        .flat_map(|(port, workers)| {
            workers
                .iter()
                .enumerate()
                .filter(move |(_, w)| **w == worker)
                .map(move |(queue, _)| (port, queue))
        })
        .collect()
}

fn port_name(topology: &Topology, port: usize) -> String {
    topology
        .ports
        .get(port)
        .map_or_else(|| port.to_string(), |p| p.name.clone())
}

pub fn show(runtime: &RuntimeHandle, topology: &Topology) -> pb::ShowReply {
    pb::ShowReply {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_ms: Instant::now().duration_since(runtime.started()).as_millis() as u64,
        generation: runtime.generation(),
        workers: (0..runtime.config().workers)
            .map(|worker| {
                let mut ports: Vec<String> = queues_of(runtime, worker)
                    .into_iter()
                    .map(|(port, _)| port_name(topology, port))
                    .collect();
                ports.dedup();
                pb::WorkerInfo {
                    worker: worker as u32,
                    core: core_of(runtime, worker),
                    ports,
                }
            })
            .collect(),
        ports: topology
            .ports
            .iter()
            .zip(runtime.placement())
            .map(|(port, workers)| pb::PortInfo {
                name: port.name.clone(),
                driver: port.driver.name().to_owned(),
                workers: workers.iter().map(|w| *w as u32).collect(),
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
    for (now, base) in now.drivers.iter_mut().zip(&base.drivers) {
        now.rx_packets = now.rx_packets.saturating_sub(base.rx_packets);
        now.rx_bytes = now.rx_bytes.saturating_sub(base.rx_bytes);
        now.rx_errors = now.rx_errors.saturating_sub(base.rx_errors);
        now.rx_missed = now.rx_missed.saturating_sub(base.rx_missed);
        now.tx_packets = now.tx_packets.saturating_sub(base.tx_packets);
        now.tx_bytes = now.tx_bytes.saturating_sub(base.tx_bytes);
        now.tx_errors = now.tx_errors.saturating_sub(base.tx_errors);
        for (now, base) in now.device.iter_mut().zip(&base.device) {
            if now.name == base.name {
                now.value = now.value.saturating_sub(base.value);
            }
        }
    }
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

/// Per-port counters since the last clear, and who polls each queue; `only`: one
/// port id.
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
            let d = stats.drivers.get(id).cloned().unwrap_or_default();
            let workers = runtime.placement().get(id).cloned().unwrap_or_default();
            let port_stats = runtime.ports().get(id).map(|p| p.stats());
            let rx_queues = port_stats.map(|s| s.rx_queues()).unwrap_or_default();
            let tx_queues = port_stats.map(|s| s.tx_queues()).unwrap_or_default();
            pb::PortStatus {
                name: port.name.clone(),
                driver: port.driver.name().to_owned(),
                link_up: d.link_up,
                rx_packets: c.rx,
                tx_packets: c.tx,
                rx_bytes: d.rx_bytes,
                tx_bytes: d.tx_bytes,
                rx_errors: d.rx_errors,
                rx_missed: d.rx_missed,
                tx_errors: d.tx_errors,
                device: d.device.clone(),
                queues: workers
                    .iter()
                    .enumerate()
                    .map(|(queue, worker)| pb::QueueStatus {
                        queue: queue as u32,
                        worker: *worker as u32,
                        rx_packets: rx_queues.get(queue).map(|q| q.packets),
                        tx_packets: tx_queues.get(queue).map(|q| q.packets),
                    })
                    .collect(),
            }
        })
        .collect();
    pb::PortStatusList { ports }
}

/// Per-worker counters since the last clear, and the queues each worker polls.
pub fn worker_status(
    runtime: &RuntimeHandle,
    topology: &Topology,
    stats: &pb::StatsReply,
) -> pb::WorkerStatusList {
    let cycles: Vec<(u64, u64)> = runtime
        .worker_stats()
        .iter()
        .map(|c| (c.busy_cycles, c.idle_cycles))
        .collect();
    let workers = stats
        .workers
        .iter()
        .enumerate()
        .map(|(worker, c)| pb::WorkerStatus {
            worker: worker as u32,
            core: core_of(runtime, worker),
            rx_queues: queues_of(runtime, worker)
                .into_iter()
                .map(|(port, queue)| pb::RxQueue {
                    port: port_name(topology, port),
                    queue: queue as u32,
                })
                .collect(),
            rx_packets: c.ports.iter().map(|p| p.rx).sum(),
            tx_packets: c.ports.iter().map(|p| p.tx).sum(),
            dropped: c.drops.iter().map(|d| d.count).sum(),
            busy_cycles: Some(cycles[worker].0),
            idle_cycles: Some(cycles[worker].1),
        })
        .collect();
    pb::WorkerStatusList { workers }
}

/// The MACs the node learned on its uplink, with whose address each is.
pub fn neighbours(learned: &LearnedMacs, topology: &Topology) -> pb::NeighbourList {
    let mut neighbours: Vec<pb::Neighbour> = learned
        .iter()
        .map(|(ip, mac)| {
            let chassis = topology.chassis.iter().find(|c| c.vtep_ip == ip);
            let owner = match chassis {
                Some(chassis) => format!("chassis \"{}\"", chassis.name),
                None if topology.node.external_gateway_ip == Some(ip) => "external gateway".into(),
                None => "-".into(),
            };
            pb::Neighbour {
                ip: ip.to_string(),
                mac: mac.to_string(),
                owner,
            }
        })
        .collect();
    neighbours.sort_by(|a, b| a.ip.cmp(&b.ip));
    pb::NeighbourList { neighbours }
}

/// The cloud agent's state as the API reports it (`enabled` false without one).
pub fn cloud_status(
    status: Option<super::cloud_status::CloudStatusView>,
    generation: u64,
) -> pb::CloudStatusReply {
    let Some(status) = status else {
        return pb::CloudStatusReply {
            generation,
            ..Default::default()
        };
    };
    let since_unix_ms = status
        .since
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64);
    pb::CloudStatusReply {
        enabled: true,
        endpoints: status.endpoints,
        prefix: status.prefix,
        node: status.node,
        connected: status.connected,
        registered: status.registered,
        revision: status.revision,
        agent_generation: status.generation,
        generation,
        last_error: status.last_error.unwrap_or_default(),
        since_unix_ms,
        refused: status
            .refused
            .into_iter()
            .map(|r| pb::RefusedKey {
                key: r.key,
                reason: r.reason,
            })
            .collect(),
        nodes_down: status.nodes_down,
        full_reads: status.full_reads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::file::TopologyFile;

    #[test]
    fn neighbours_are_the_learned_macs_with_their_owners() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../dataplane/tests/data/control.toml");
        let text = std::fs::read_to_string(path).unwrap()
            + "\n[[chassis]]\nname = \"compute-2\"\nvtep_ip = \"192.0.2.12\"\n\
               \n[[chassis]]\nname = \"compute-3\"\nvtep_ip = \"192.0.2.13\"\n";
        let file: TopologyFile = toml::from_str(&text).unwrap();
        let topology = Topology::from_file(&file).unwrap();
        let learned = LearnedMacs::new(64);
        assert!(neighbours(&learned, &topology).neighbours.is_empty());
        let mac = packet::MacAddr([2, 0, 0xc0, 0, 2, 0x0d]);
        assert!(learned.set("192.0.2.13".parse().unwrap(), mac, 5));
        let listed = neighbours(&learned, &topology).neighbours;
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
