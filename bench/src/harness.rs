//! One throughput run: the runtime over the scenario's topology with every port on
//! the workers' own threads (a generator on the input port, a loopback playing the
//! service function, sinks everywhere else; see [`crate::ports`]). No other thread
//! touches a packet: a run measures the workers, the runtime's loop and the pipeline,
//! and `null` what the loop and the buffers cost without any stage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::pipeline::tables::ForwardingTables;
use dataplane::port::{PortQueues, RxQueue, TxQueue};
use dataplane::runtime::placement::RxqAffinity;
use dataplane::runtime::{Runtime, RuntimeConfig, RuntimeHandle};
use dataplane::topology::Topology;

use crate::clock;
use crate::machine::threads_cpu_ns;
use crate::ports::{loopback, port_info, FlowRange, Generator, Sink};
use crate::scenario::{Mix, Scenario, Traffic, SNAT_NEW_TABLE};

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct RunSpec {
    pub scenario: Scenario,
    pub mix: Mix,
    pub flows: u32,
    pub classifiers: u32,
    pub workers: usize,
    /// Measured time, after the warm-up.
    pub seconds: f64,
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Measurement {
    pub spec: RunSpec,
    /// Frames delivered on the scenario's output port while measuring (for `null`,
    /// whose frames all end in the pipeline: frames the workers took in).
    pub delivered: u64,
    /// The same over the whole run, warm-up included.
    pub delivered_in_run: u64,
    pub seconds: f64,
    /// TSC ticks while measuring, and the TSC frequency.
    pub ticks: u64,
    pub tsc_hz: f64,
    /// Frames dropped by the dataplane over the whole run (warm-up included), and the
    /// reasons.
    pub drops: u64,
    pub drop_reasons: String,
    /// CPU time the worker threads ran while measuring.
    pub worker_cpu_ns: u64,
    /// Frames each port's transmit queues sent over the whole run: `[port][queue]`.
    pub port_tx: Vec<Vec<u64>>,
    /// Mpps per core of every repetition of this point (the report keeps the best).
    pub repeats: Vec<f64>,
}

impl Measurement {
    pub fn packets_per_second(&self) -> f64 {
        self.delivered as f64 / self.seconds
    }

    /// Per worker core (every worker busy-polls its own core).
    pub fn per_core(&self) -> f64 {
        self.packets_per_second() / self.spec.workers as f64
    }

    /// Nanoseconds of one worker core per packet.
    pub fn ns_per_packet(&self) -> f64 {
        1e9 / self.per_core()
    }

    /// TSC cycles of one worker core per packet, wall clock: includes the time the
    /// workers waited for a core.
    pub fn cycles_per_packet(&self) -> f64 {
        self.ticks as f64 * self.spec.workers as f64 / self.delivered.max(1) as f64
    }

    /// TSC cycles per packet of the time the workers ran: on a shared machine, the
    /// figure that leaves out the time they waited for a core.
    pub fn cpu_cycles_per_packet(&self) -> f64 {
        self.worker_cpu_ns as f64 * self.tsc_hz / 1e9 / self.delivered.max(1) as f64
    }

    /// Worker CPU time per packet: unlike `ns_per_packet`, leaves out the time the
    /// workers waited for a core; includes their idle polling.
    pub fn cpu_ns_per_packet(&self) -> f64 {
        self.worker_cpu_ns as f64 / self.delivered.max(1) as f64
    }

    /// The share of their cores the workers got while measuring (1.0: all of it).
    pub fn core_share(&self) -> f64 {
        self.worker_cpu_ns as f64 / (self.seconds * 1e9 * self.spec.workers as f64)
    }

    /// Offered bit rate on the wire at this packet rate (frames with FCS, no preamble).
    pub fn gbits_per_second(&self) -> f64 {
        self.packets_per_second() * self.spec.mix.mean_bytes() * 8.0 / 1e9
    }

    /// Frames port `port` sent over the whole run.
    pub fn sent_on(&self, port: u16) -> u64 {
        self.port_tx
            .get(usize::from(port))
            .map_or(0, |queues| queues.iter().sum())
    }
}

/// The runtime names its threads `worker-N`.
const WORKER_THREADS: &str = "worker-";
/// Frames each loopback queue holds: a few bursts.
const LOOPBACK_RING: usize = 1024;
/// How often the measuring thread looks at the counters (it sleeps in between, so
/// the workers have the cores).
const TICK: Duration = Duration::from_millis(10);

/// The ports of the scenario's topology, each on the workers' own threads: receive
/// queue `q` of the input and of the service function's port pinned to worker `q`,
/// and one transmit queue per worker on every port.
fn wire(
    topology: &Topology,
    traffic: &Traffic,
    spec: &RunSpec,
) -> (Vec<PortQueues>, Vec<RxqAffinity>) {
    let workers = spec.workers;
    let fresh = spec.scenario == Scenario::SnatNew;
    let mut affinity = Vec::new();
    let mut ports = Vec::with_capacity(topology.ports.len());
    for (id, port) in topology.ports.iter().enumerate() {
        let id = id as u16;
        let pin = |affinity: &mut Vec<RxqAffinity>| {
            affinity.extend((0..workers).map(|worker| RxqAffinity {
                port: id,
                queue: worker as u16,
                worker,
            }));
        };
        if traffic.reflect == Some(id) {
            pin(&mut affinity);
            ports.push(loopback(id, &port.name, workers, LOOPBACK_RING));
            continue;
        }
        let rx_queues = if id == traffic.input { workers } else { 0 };
        let info = port_info(&port.name, rx_queues, workers);
        let rx = (0..rx_queues)
            .map(|queue| {
                let (flows, limit) = if fresh {
                    // Stop before the worker's SNAT table fills.
                    let limit = u64::from(SNAT_NEW_TABLE) * 9 / 10;
                    (FlowRange::fresh(queue, workers), Some(limit))
                } else {
                    (
                        FlowRange::share(u64::from(spec.flows), queue, workers),
                        None,
                    )
                };
                let generator = Generator::new(
                    id,
                    traffic.templates.clone(),
                    spec.mix,
                    flows,
                    limit,
                    info.stats.rx_cell(queue),
                );
                Box::new(generator) as Box<dyn RxQueue>
            })
            .collect::<Vec<_>>();
        if !rx.is_empty() {
            pin(&mut affinity);
        }
        let tx = (0..workers)
            .map(|queue| Box::new(Sink::new(info.stats.tx_cell(queue))) as Box<dyn TxQueue>)
            .collect();
        ports.push(PortQueues { info, rx, tx });
    }
    (ports, affinity)
}

/// What a run counts: frames delivered on the output port, or taken in for `null`.
fn counted(handle: &RuntimeHandle, traffic: &Traffic) -> u64 {
    let ports = handle.ports();
    match traffic.output {
        Some(output) => ports[usize::from(output)].stats().tx().packets,
        None => taken(handle, traffic),
    }
}

/// Whether every worker's generator has made frames (each worker has started).
fn every_worker_started(handle: &RuntimeHandle, traffic: &Traffic) -> bool {
    let input = &handle.ports()[usize::from(traffic.input)];
    input
        .stats()
        .rx_queues()
        .iter()
        .all(|queue| queue.packets > 0)
}

/// Frames the generators made.
fn taken(handle: &RuntimeHandle, traffic: &Traffic) -> u64 {
    handle.ports()[usize::from(traffic.input)]
        .stats()
        .rx()
        .packets
}

/// Runs one measurement: warm-up (every flow offered at least once, so connections
/// are established and caches warm), then `spec.seconds` measured.
pub fn run(spec: &RunSpec, tsc_hz: f64) -> Measurement {
    let traffic = Traffic::of(spec.scenario);
    let fresh = spec.scenario == Scenario::SnatNew;
    let max_connections = if fresh {
        SNAT_NEW_TABLE
    } else {
        spec.flows + 4096
    };
    let toml = crate::scenario::topology(spec.scenario, spec.classifiers, max_connections);
    let topology = Topology::from_toml_str(&toml).expect("the harness topology is valid");
    let (ports, rxq_affinity) = wire(&topology, &traffic, spec);
    let config = RuntimeConfig {
        workers: spec.workers,
        busy_poll: true,
        rxq_affinity,
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start(config, Arc::new(ForwardingTables::build(&topology)), ports)
        .expect("the workers start");
    let handle = runtime.handle();

    let warm_start = Instant::now();
    let flows = u64::from(spec.flows.max(1));
    loop {
        std::thread::sleep(TICK);
        let elapsed = warm_start.elapsed();
        let warm = every_worker_started(&handle, &traffic)
            && if fresh {
                // New connections from the start: only wait until they flow.
                counted(&handle, &traffic) >= 1024 && elapsed > Duration::from_millis(200)
            } else {
                taken(&handle, &traffic) >= flows && elapsed > Duration::from_millis(300)
            };
        if warm || elapsed > Duration::from_secs(60) {
            break;
        }
    }

    let fresh_limit = u64::from(SNAT_NEW_TABLE) * 9 / 10 * spec.workers as u64;
    let cpu = threads_cpu_ns(WORKER_THREADS);
    let (started, ticks, before) = (Instant::now(), clock::tsc(), counted(&handle, &traffic));
    let duration = Duration::from_secs_f64(spec.seconds);
    loop {
        std::thread::sleep(TICK.min(duration.saturating_sub(started.elapsed())));
        if started.elapsed() >= duration || (fresh && taken(&handle, &traffic) >= fresh_limit) {
            break;
        }
    }
    let (seconds, ticks, after) = (
        started.elapsed().as_secs_f64(),
        clock::tsc().wrapping_sub(ticks),
        counted(&handle, &traffic),
    );
    let worker_cpu_ns = threads_cpu_ns(WORKER_THREADS).saturating_sub(cpu);
    let counters = runtime.shutdown().expect("the workers stop");
    let drop_reasons = counters
        .nonzero_drops()
        .map(|(reason, n)| format!("{reason}={n}"))
        .collect::<Vec<_>>()
        .join(" ");
    let port_tx = handle
        .ports()
        .iter()
        .map(|port| port.stats().tx_queues().iter().map(|q| q.packets).collect())
        .collect();
    Measurement {
        spec: *spec,
        delivered: after - before,
        delivered_in_run: counted(&handle, &traffic),
        seconds,
        ticks,
        tsc_hz,
        drops: counters.total_drops(),
        drop_reasons,
        worker_cpu_ns,
        port_tx,
        repeats: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::port;

    fn spec(scenario: Scenario, mix: Mix, workers: usize) -> RunSpec {
        RunSpec {
            scenario,
            mix,
            flows: 100,
            classifiers: 20,
            workers,
            seconds: 0.05,
        }
    }

    /// Every scenario's traffic reaches its output port and no other (the service
    /// function's port besides, for the chains), and nothing is dropped; `null`'s
    /// frames all end in the pipeline. Not a speed test.
    #[test]
    fn every_scenario_delivers_on_its_port() {
        for scenario in Scenario::ALL {
            for mix in [Mix::Small, Mix::Imix] {
                let m = run(&spec(scenario, mix, 1), 1e9);
                let name = scenario.name();
                let traffic = Traffic::of(scenario);
                assert!(m.delivered_in_run >= 100, "{name}: {}", m.delivered_in_run);
                for id in 0..port::COUNT as u16 {
                    let sent = m.sent_on(id);
                    if Some(id) == traffic.output || Some(id) == traffic.reflect {
                        assert!(sent >= 100, "{name}: port {id} sent {sent}");
                    } else {
                        assert_eq!(sent, 0, "{name}: port {id}");
                    }
                }
                if scenario == Scenario::Null {
                    assert!(
                        m.drop_reasons.starts_with("malformed="),
                        "{}",
                        m.drop_reasons
                    );
                    assert!(!m.drop_reasons.contains(' '), "{}", m.drop_reasons);
                } else {
                    assert_eq!(m.drops, 0, "{name}: {}", m.drop_reasons);
                }
            }
        }
    }

    /// With two workers each one's generator, loopback and transmit queues carry
    /// traffic of their own.
    #[test]
    fn two_workers_each_run_their_own_share() {
        for scenario in [
            Scenario::SfcMpls,
            Scenario::Full,
            Scenario::SnatEstablished,
            Scenario::SnatNew,
        ] {
            let m = run(&spec(scenario, Mix::Small, 2), 1e9);
            let traffic = Traffic::of(scenario);
            assert_eq!(m.drops, 0, "{}: {}", scenario.name(), m.drop_reasons);
            let output = &m.port_tx[usize::from(traffic.output.unwrap())];
            assert_eq!(output.len(), 2);
            assert!(
                output.iter().all(|&n| n > 0),
                "{}: {output:?}",
                scenario.name()
            );
            if let Some(sf) = traffic.reflect {
                let sf = &m.port_tx[usize::from(sf)];
                assert!(sf.iter().all(|&n| n > 0), "{}: {sf:?}", scenario.name());
            }
        }
    }
}
