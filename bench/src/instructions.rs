//! `Pipeline::process` alone on one thread, for a fixed number of bursts: no clock,
//! no threads, so that an instruction counter (`valgrind --tool=callgrind
//! --toggle-collect=*instructions*measured*`) sees the same work on every run and
//! its count divided by the packets printed is repeatable instructions per packet.
//! The scenario's generator makes the frames; the service function's port (if any)
//! sends every frame straight back, as in the harness.

use std::sync::Arc;

use dataplane::pipeline::counters::Counters;
use dataplane::pipeline::tables::ForwardingTables;
use dataplane::pipeline::{Pipeline, TxQueues};
use dataplane::port::RxQueue;
use dataplane::topology::Topology;
use packet::{Burst, Meta, Pool, PoolConfig, MAX_BURST};

use crate::ports::{port_info, FlowRange, Generator};
use crate::scenario::{self, port, Mix, Scenario, Traffic};

/// Frames per receive burst, as the runtime takes them.
const BURST: usize = 32;
/// Packet time advanced per burst (ns): the stages' timers see time pass.
const BURST_NS: u64 = 2_000;

/// A single-threaded run of the pipeline over the scenario's traffic.
pub struct Driver {
    pipeline: Pipeline,
    pool: Pool,
    tx: TxQueues,
    counters: Counters,
    generator: Generator,
    reflect: Option<u16>,
    rx: Burst,
    returned: Burst,
    now: u64,
    /// Packets the generator made.
    pub offered: u64,
    /// Whether `process` runs through [`measured`] (counted) or directly (warm-up).
    pub measuring: bool,
}

impl Driver {
    pub fn new(scenario: Scenario, flows: u32, classifiers: u32) -> Driver {
        let traffic = Traffic::of(scenario);
        let toml = scenario::topology(scenario, classifiers, flows + 4096);
        let topology = Topology::from_toml_str(&toml).expect("the harness topology is valid");
        let tables = Arc::new(ForwardingTables::build(&topology));
        let info = port_info("input", 1, 0);
        let generator = Generator::new(
            traffic.input,
            traffic.templates.clone(),
            Mix::Small,
            FlowRange::share(u64::from(flows), 0, 1),
            None,
            info.stats.rx_cell(0),
        );
        Driver {
            pipeline: Pipeline::new(tables),
            pool: Pool::new(PoolConfig {
                buffers: 4 * MAX_BURST,
                ..PoolConfig::default()
            }),
            tx: TxQueues::new(port::COUNT),
            counters: Counters::new(port::COUNT),
            generator,
            reflect: traffic.reflect,
            rx: Burst::with_capacity(MAX_BURST),
            returned: Burst::with_capacity(MAX_BURST),
            now: 1,
            offered: 0,
            measuring: false,
        }
    }

    /// One burst from the generator (and one back from the service function), run
    /// through the pipeline; what leaves is freed or looped back.
    pub fn burst(&mut self) {
        self.now += BURST_NS;
        let made = self
            .generator
            .rx_burst(&mut self.pool, &mut self.rx, BURST)
            .unwrap_or(0);
        self.offered += made as u64;
        for packet in self.rx.iter_mut() {
            packet.timestamp_ns = self.now;
        }
        self.process();
        if !self.returned.is_empty() {
            std::mem::swap(&mut self.rx, &mut self.returned);
            self.process();
        }
    }

    fn process(&mut self) {
        let Driver {
            pipeline,
            pool,
            tx,
            counters,
            rx,
            ..
        } = self;
        if self.measuring {
            measured(pipeline, rx, pool, tx, counters);
        } else {
            pipeline.process(rx, pool, tx, counters);
        }
        self.drain();
    }

    /// Frees what was transmitted; the service function's frames come back.
    fn drain(&mut self) {
        let (reflect, now) = (self.reflect, self.now);
        for (port, queue) in self.tx.pending() {
            for mut packet in queue.drain() {
                if Some(port as u16) == reflect {
                    packet.meta = Meta::default();
                    packet.rx_port = port as u16;
                    packet.timestamp_ns = now;
                    if let Err(packet) = self.returned.push(packet) {
                        self.pool.free(packet);
                    }
                } else {
                    self.pool.free(packet);
                }
            }
        }
    }

    pub fn drops(&self) -> u64 {
        self.counters.total_drops()
    }
}

/// The part an instruction counter is told to count.
#[inline(never)]
pub fn measured(
    pipeline: &mut Pipeline,
    rx: &mut Burst,
    pool: &mut Pool,
    tx: &mut TxQueues,
    counters: &mut Counters,
) {
    pipeline.process(rx, pool, tx, counters);
}
