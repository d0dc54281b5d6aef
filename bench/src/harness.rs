//! One throughput run: the runtime (or, for `null`, a bare in -> out loop) over
//! in-memory ports, fed by a generator thread that keeps a window of frames in
//! flight, plays the service functions, and counts what comes out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dataplane::counters::Counters;
use dataplane::pipeline::tables::ForwardingTables;
use dataplane::port::memory::{MemoryPort, MemoryPortConfig, MemoryPortPeer};
use dataplane::port::PortQueues;
use dataplane::runtime::{Runtime, RuntimeConfig};
use dataplane::topology::Topology;
use packet::{Burst, Pool, PoolConfig};

use crate::clock;
use crate::machine::threads_cpu_ns;
use crate::scenario::{port, write_flow, Mix, Scenario, Traffic, SNAT_NEW_TABLE};

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
    /// Frames kept in flight by the generator.
    pub window: usize,
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Measurement {
    pub spec: RunSpec,
    /// Frames delivered on the scenario's output port while measuring.
    pub delivered: u64,
    /// Frames delivered over the whole run, warm-up included.
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

    /// TSC cycles of one worker core per packet.
    pub fn cycles_per_packet(&self) -> f64 {
        self.ticks as f64 * self.spec.workers as f64 / self.delivered.max(1) as f64
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
}

/// The dataplane under test.
enum Engine {
    Runtime(Runtime),
    /// `null`: one thread per worker moving bursts from its input port to its output
    /// port, as a worker does without running the pipeline.
    Null {
        stop: Arc<AtomicBool>,
        threads: Vec<JoinHandle<Counters>>,
    },
}

impl Engine {
    fn drops(&self) -> u64 {
        match self {
            Engine::Runtime(runtime) => runtime.handle().stats().total_drops(),
            Engine::Null { .. } => 0,
        }
    }

    fn stop(self) -> Counters {
        match self {
            Engine::Runtime(runtime) => runtime.shutdown().expect("the workers stop"),
            Engine::Null { stop, threads } => {
                stop.store(true, Ordering::Relaxed);
                let mut total = Counters::new(2);
                for thread in threads {
                    total.add(&thread.join().expect("a null worker stops"));
                }
                total
            }
        }
    }
}

const PORT_RING: usize = 8192;
/// The runtime names its threads `worker-N`.
const WORKER_THREADS: &str = "worker-";
const BURST: usize = 32;

/// The harness side of a burst loop without stages.
fn null_worker(mut input: PortQueues, mut output: PortQueues, stop: Arc<AtomicBool>) -> Counters {
    let mut pool = Pool::new(PoolConfig {
        buffers: 64,
        ..PoolConfig::default()
    });
    let mut counters = Counters::new(2);
    let mut burst = Burst::with_capacity(BURST);
    let clock = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let received = input.rx[0]
            .rx_burst(&mut pool, &mut burst, BURST)
            .expect("memory ports do not fail");
        if received == 0 {
            continue;
        }
        // The runtime stamps packets from ports without timestamps: so does this.
        let now = clock.elapsed().as_nanos() as u64;
        for packet in burst.iter_mut() {
            packet.timestamp_ns = now;
        }
        counters.ports[0].rx += received as u64;
        let sent = output.tx[0]
            .tx_burst(&mut burst, &mut pool)
            .expect("memory ports do not fail");
        counters.tx(1, sent as u64);
        for packet in burst.drain() {
            pool.free(packet);
        }
    }
    counters
}

/// The engine under test and the generator's ends of its ports.
struct Wiring {
    engine: Engine,
    inputs: Vec<MemoryPortPeer>,
    outputs: Vec<MemoryPortPeer>,
    /// The service function's port, if the scenario has one.
    reflect: Option<MemoryPortPeer>,
}

/// Starts the engine and wires the generator to it.
fn start(spec: &RunSpec, traffic: &Traffic) -> Wiring {
    if spec.scenario == Scenario::Null {
        let stop = Arc::new(AtomicBool::new(false));
        let (mut inputs, mut outputs, mut threads) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..spec.workers {
            let (input, input_peer) = MemoryPort::open(0, "in", PORT_RING);
            let (output, output_peer) = MemoryPort::open(1, "out", PORT_RING);
            let stop = Arc::clone(&stop);
            let thread = std::thread::Builder::new()
                .name(format!("{WORKER_THREADS}null-{}", threads.len()))
                .spawn(move || null_worker(input, output, stop))
                .expect("a null worker starts");
            threads.push(thread);
            inputs.push(input_peer);
            outputs.push(output_peer);
        }
        return Wiring {
            engine: Engine::Null { stop, threads },
            inputs,
            outputs,
            reflect: None,
        };
    }
    let max_connections = match spec.scenario {
        Scenario::SnatNew => SNAT_NEW_TABLE,
        _ => spec.flows + 4096,
    };
    let toml = crate::scenario::topology(spec.scenario, spec.classifiers, max_connections);
    let topology = Topology::from_toml_str(&toml).expect("the harness topology is valid");
    // A receive and a transmit queue per worker on every port, flows spread over
    // the receive queues by symmetric hash (as RSS does).
    let queues = MemoryPortConfig {
        capacity: PORT_RING,
        rx_queues: spec.workers as u16,
        tx_queues: spec.workers as u16,
    };
    let (ports, peers): (Vec<_>, Vec<_>) = topology
        .ports
        .iter()
        .enumerate()
        .map(|(id, port)| MemoryPort::open_with(id as u16, &port.name, queues))
        .unzip();
    assert_eq!(peers.len(), port::COUNT);
    let config = RuntimeConfig {
        workers: spec.workers,
        busy_poll: true,
        // Room for the whole window in a worker's ring of SNAT replies: handing one
        // over is not refused while that worker waits for a core.
        ring_size: 2 * PORT_RING,
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start(config, Arc::new(ForwardingTables::build(&topology)), ports)
        .expect("the workers start");
    let reflect = traffic.reflect.map(|p| peers[usize::from(p)].clone());
    let input = peers[usize::from(traffic.input)].clone();
    let output = peers[usize::from(traffic.output)].clone();
    Wiring {
        engine: Engine::Runtime(runtime),
        inputs: vec![input],
        outputs: vec![output],
        reflect,
    }
}

/// The generator's side: offers frames, plays the service function, collects.
struct Generator {
    traffic: Traffic,
    pool: Pool,
    inputs: Vec<MemoryPortPeer>,
    outputs: Vec<MemoryPortPeer>,
    reflect: Option<MemoryPortPeer>,
    mix: Mix,
    flows: u64,
    /// Every frame a new flow (`snat-new`).
    fresh_flows: bool,
    window: u64,
    offered: u64,
    delivered: u64,
    /// Frames the harness lost (a full ring when reflecting) or the dataplane dropped.
    lost: u64,
}

impl Generator {
    /// One round: top the window up, send back what the service function received,
    /// collect the output.
    /// Returns whether anything moved.
    fn round(&mut self) -> bool {
        let before = (self.offered, self.delivered);
        // Saturating: a frame may leave twice (a flood) or be dropped after another
        // was counted for it.
        while self.offered.saturating_sub(self.delivered + self.lost) < self.window {
            let n = self.offered;
            let flow = if self.fresh_flows { n } else { n % self.flows };
            let sizes =
                &self.traffic.templates[(flow % self.traffic.templates.len() as u64) as usize];
            let template = &sizes[self.mix.size_class(n)];
            let Ok(mut packet) = self.pool.alloc_copy(&template.frame) else {
                break;
            };
            write_flow(packet.data_mut(), template.ports_at, flow);
            let input = &self.inputs[(n % self.inputs.len() as u64) as usize];
            if let Err(packet) = input.inject(packet) {
                self.pool.free(packet);
                break;
            }
            self.offered += 1;
        }
        if let Some(sf) = &self.reflect {
            while let Some(packet) = sf.take() {
                if let Err(packet) = sf.inject(packet) {
                    self.pool.free(packet);
                    self.lost += 1;
                }
            }
        }
        for output in &self.outputs {
            while let Some(packet) = output.take() {
                self.pool.free(packet);
                self.delivered += 1;
            }
        }
        before != (self.offered, self.delivered)
    }

    /// Runs rounds until `done`, accounting the dataplane's drops every few ms so
    /// they do not hold the window.
    fn run_until(&mut self, engine: &Engine, mut done: impl FnMut(&Generator) -> bool) {
        let mut drops_seen = engine.drops();
        let mut checked = Instant::now();
        while !done(self) {
            if !self.round() {
                // On a loaded machine the workers may wait for this core.
                std::thread::yield_now();
            }
            if checked.elapsed() > Duration::from_millis(5) {
                let drops = engine.drops();
                self.lost += drops.saturating_sub(drops_seen);
                drops_seen = drops;
                checked = Instant::now();
            }
        }
    }
}

/// Runs one measurement: warm-up (every flow offered at least once, so connections
/// are established and caches warm), then `spec.seconds` measured.
pub fn run(spec: &RunSpec, tsc_hz: f64) -> Measurement {
    let traffic = Traffic::of(spec.scenario);
    let Wiring {
        engine,
        inputs,
        outputs,
        reflect,
    } = start(spec, &traffic);
    let mut generator = Generator {
        traffic,
        pool: Pool::new(PoolConfig {
            buffers: spec.window + 2 * PORT_RING,
            ..PoolConfig::default()
        }),
        inputs,
        outputs,
        reflect,
        mix: spec.mix,
        flows: u64::from(spec.flows.max(1)),
        fresh_flows: spec.scenario == Scenario::SnatNew,
        window: spec.window as u64,
        offered: 0,
        delivered: 0,
        lost: 0,
    };
    // snat-new stops before its tables fill.
    let fresh_limit = u64::from(SNAT_NEW_TABLE) * spec.workers as u64 * 9 / 10;
    let warm_start = Instant::now();
    let (flows, fresh) = (generator.flows, generator.fresh_flows);
    generator.run_until(&engine, |g| {
        let elapsed = warm_start.elapsed();
        if fresh {
            // New connections from the start: only wait until they flow.
            return (g.delivered >= 1024 && elapsed > Duration::from_millis(200))
                || elapsed > Duration::from_secs(20);
        }
        (g.delivered >= flows && elapsed > Duration::from_millis(300))
            || elapsed > Duration::from_secs(20)
    });

    let cpu = threads_cpu_ns(WORKER_THREADS);
    let (started, ticks, delivered) = (Instant::now(), clock::tsc(), generator.delivered);
    let duration = Duration::from_secs_f64(spec.seconds);
    generator.run_until(&engine, |g| {
        started.elapsed() >= duration || (fresh && g.offered >= fresh_limit)
    });
    let (seconds, ticks) = (
        started.elapsed().as_secs_f64(),
        clock::tsc().wrapping_sub(ticks),
    );
    let delivered_in_run = generator.delivered;
    let delivered = delivered_in_run - delivered;
    let worker_cpu_ns = threads_cpu_ns(WORKER_THREADS) - cpu;
    let counters = engine.stop();
    let drop_reasons = counters
        .nonzero_drops()
        .map(|(reason, n)| format!("{reason}={n}"))
        .collect::<Vec<_>>()
        .join(" ");
    Measurement {
        spec: *spec,
        delivered,
        delivered_in_run,
        seconds,
        ticks,
        tsc_hz,
        drops: counters.total_drops(),
        drop_reasons,
        worker_cpu_ns,
        repeats: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every scenario's traffic reaches its output port through the runtime (the
    /// service functions played, SNAT and VXLAN applied) and nothing is dropped. Not a
    /// speed test: the warm-up waits (up to 20 s) until every flow has come out.
    #[test]
    fn every_scenario_delivers_without_drops() {
        for scenario in Scenario::ALL {
            for mix in [Mix::Small, Mix::Imix] {
                let spec = RunSpec {
                    scenario,
                    mix,
                    flows: 100,
                    classifiers: 20,
                    workers: 1,
                    seconds: 0.05,
                    window: 256,
                };
                let m = run(&spec, 1e9);
                assert!(
                    m.delivered_in_run >= 100,
                    "{}: {} delivered",
                    scenario.name(),
                    m.delivered_in_run
                );
                assert_eq!(m.drops, 0, "{}: {}", scenario.name(), m.drop_reasons);
            }
        }
    }
}
