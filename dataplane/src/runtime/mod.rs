//! The poll-mode runtime: N workers, each polling the ports it owns and running bursts
//! to completion through its own pipeline. Packets are spread over the workers by flow
//! hash through bounded lock-free rings, and a packet for a port another worker owns
//! is handed to that worker to transmit. Configuration changes arrive as snapshots.

pub mod capture;
pub mod conntrack_dump;
mod dispatch;
pub mod idle;
pub mod snapshot;
mod worker;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
use packet::{Packet, PoolConfig, SharedPool, MAX_BURST};

use crate::counters::{Counters, PublishedCounters};
use crate::pipeline::tables::ForwardingTables;
use crate::port::Port;
use capture::CaptureTaps;
use snapshot::SnapshotCell;

pub use dispatch::worker_for;

/// How the runtime runs.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub workers: usize,
    /// Cores to pin the workers to (worker i to `cores[i % len]`); empty: no pinning.
    pub cores: Vec<usize>,
    /// Poll without ever sleeping (lowest latency, one core per worker at 100 %).
    pub busy_poll: bool,
    /// Packets per receive burst.
    pub burst: usize,
    /// Capacity of each worker's inbound ring.
    pub ring_size: usize,
    pub pool: PoolConfig,
}

impl RuntimeConfig {
    /// One core left to the control plane, at least one worker.
    pub fn default_workers() -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.saturating_sub(1).max(1)
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: RuntimeConfig::default_workers(),
            cores: Vec::new(),
            busy_poll: false,
            burst: 32,
            ring_size: 4096,
            pool: PoolConfig::default(),
        }
    }
}

/// Work handed from one worker to another.
enum Work {
    /// Run this packet through the pipeline (it belongs to the receiving worker).
    Process(Packet),
    /// Transmit this packet on a port the receiving worker owns.
    Transmit { port: u16, packet: Packet },
}

/// What the workers share: all of it lock-free.
struct Shared {
    snapshot: SnapshotCell,
    buffers: Arc<SharedPool>,
    rings: Vec<ArrayQueue<Work>>,
    /// Which worker polls and transmits on each port.
    port_owner: Vec<usize>,
    stop: AtomicBool,
    /// Packets in rings or being processed, plus one per worker mid-iteration: zero
    /// after `stop` means everything received has been transmitted or dropped.
    in_flight: AtomicUsize,
    published: Vec<CachePadded<PublishedCounters>>,
    /// The snapshot generation each worker runs with.
    generations: Vec<CachePadded<AtomicU64>>,
    /// Copies of captured ports' packets for the control socket.
    capture: CaptureTaps,
    /// Per worker: its connection table, copied out on the control plane's request.
    conn_dumps: Vec<CachePadded<conntrack_dump::ConnDump>>,
    config: RuntimeConfig,
    /// The runtime's epoch for packet timestamps.
    started: std::time::Instant,
}

/// A running dataplane.
pub struct Runtime {
    handle: RuntimeHandle,
    handles: Vec<JoinHandle<io::Result<Counters>>>,
}

impl Runtime {
    /// Starts the workers. `ports` are in topology order (port i has id i); port i is
    /// owned by worker i mod N.
    pub fn start(
        mut config: RuntimeConfig,
        tables: Arc<ForwardingTables>,
        ports: Vec<Box<dyn Port>>,
    ) -> io::Result<Runtime> {
        config.workers = config.workers.max(1);
        config.burst = config.burst.clamp(1, MAX_BURST / 2);
        let workers = config.workers;
        let port_count = ports.len();
        let port_owner: Vec<usize> = (0..port_count).map(|port| port % workers).collect();
        let shared = Arc::new(Shared {
            snapshot: SnapshotCell::new(tables),
            buffers: SharedPool::new(config.pool),
            rings: (0..workers)
                .map(|_| ArrayQueue::new(config.ring_size.max(1)))
                .collect(),
            port_owner: port_owner.clone(),
            stop: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            published: (0..workers)
                .map(|_| CachePadded::new(PublishedCounters::new(port_count)))
                .collect(),
            generations: (0..workers)
                .map(|_| CachePadded::new(AtomicU64::new(1)))
                .collect(),
            capture: CaptureTaps::new(port_count),
            conn_dumps: (0..workers)
                .map(|_| CachePadded::new(Default::default()))
                .collect(),
            config,
            started: std::time::Instant::now(),
        });

        let mut owned: Vec<Vec<(u16, Box<dyn Port>)>> = (0..workers).map(|_| Vec::new()).collect();
        for (id, port) in ports.into_iter().enumerate() {
            owned[port_owner[id]].push((id as u16, port));
        }
        let mut handles = Vec::with_capacity(workers);
        for (index, ports) in owned.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || worker::run(index, &shared, ports))?;
            handles.push(handle);
        }
        Ok(Runtime {
            handle: RuntimeHandle { shared },
            handles,
        })
    }

    pub fn workers(&self) -> usize {
        self.handle.shared.config.workers
    }

    /// Publication, counters, capture and connections, for the control plane and
    /// for callers while the runtime runs.
    pub fn handle(&self) -> RuntimeHandle {
        self.handle.clone()
    }

    /// Stops receiving, drains what is in flight, flushes the ports, and returns the
    /// final counters.
    pub fn shutdown(self) -> io::Result<Counters> {
        self.handle.shared.stop.store(true, Ordering::SeqCst);
        let mut finals = Vec::with_capacity(self.handles.len());
        let mut first_error = None;
        for handle in self.handles {
            match handle.join() {
                Ok(Ok(counters)) => finals.push(counters),
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(_) => {
                    first_error.get_or_insert(io::Error::other("a worker panicked"));
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(sum(finals.into_iter())),
        }
    }
}

/// The control plane's view of a running runtime: publish snapshots, read counters,
/// capture. Cloneable; valid after shutdown (counters stay readable).
#[derive(Clone)]
pub struct RuntimeHandle {
    shared: Arc<Shared>,
}

impl RuntimeHandle {
    /// Every worker's tracked connections (waiting at most `timeout` per worker), and
    /// whether the listing is incomplete.
    pub fn connections(
        &self,
        timeout: std::time::Duration,
    ) -> (Vec<conntrack_dump::ConnRecord>, bool) {
        let mut all = Vec::new();
        let mut truncated = false;
        for dump in &self.shared.conn_dumps {
            let (records, cut) = dump.collect(timeout);
            all.extend(records);
            truncated |= cut;
        }
        (all, truncated)
    }

    /// Has every worker remove the connections a fresh `pick()` selects (waiting at
    /// most `timeout` per worker); returns how many, and whether a worker did not answer.
    pub fn flush_connections(
        &self,
        pick: impl Fn() -> conntrack_dump::FlushPick,
        timeout: std::time::Duration,
    ) -> (u64, bool) {
        let mut flushed = 0;
        let mut incomplete = false;
        for dump in &self.shared.conn_dumps {
            match dump.flush(pick(), timeout) {
                Some(removed) => flushed += removed,
                None => incomplete = true,
            }
        }
        (flushed, incomplete)
    }

    /// Publishes new tables; returns their generation.
    pub fn publish(&self, tables: Arc<ForwardingTables>) -> u64 {
        self.shared.snapshot.publish(tables)
    }

    /// The generation last published.
    pub fn generation(&self) -> u64 {
        self.shared.snapshot.generation()
    }

    /// The oldest generation a worker still runs with.
    pub fn oldest_generation_in_use(&self) -> u64 {
        self.shared
            .generations
            .iter()
            .map(|g| g.load(Ordering::Acquire))
            .min()
            .unwrap_or(0)
    }

    /// The counters of every worker, summed (readable while running).
    pub fn stats(&self) -> Counters {
        sum(self.shared.published.iter().map(|p| p.read()))
    }

    /// Per-worker counters, as last published.
    pub fn worker_stats(&self) -> Vec<Counters> {
        self.shared.published.iter().map(|p| p.read()).collect()
    }

    pub fn capture(&self) -> &CaptureTaps {
        &self.shared.capture
    }

    /// The buffer pool the workers share (captured copies go back to it).
    pub fn buffers(&self) -> &Arc<SharedPool> {
        &self.shared.buffers
    }

    pub fn port_count(&self) -> usize {
        self.shared.port_owner.len()
    }

    /// Which worker polls and transmits on each port (by port id).
    pub fn port_owners(&self) -> &[usize] {
        &self.shared.port_owner
    }

    /// How the runtime was started (workers, cores, burst, rings, pool).
    pub fn config(&self) -> &RuntimeConfig {
        &self.shared.config
    }

    /// When the runtime started.
    pub fn started(&self) -> std::time::Instant {
        self.shared.started
    }
}

fn sum(mut counters: impl Iterator<Item = Counters>) -> Counters {
    let Some(mut total) = counters.next() else {
        return Counters::new(0);
    };
    for more in counters {
        total.add(&more);
    }
    total
}
