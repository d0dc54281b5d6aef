//! The poll-mode runtime: N workers, each polling the receive queues placed on it and
//! running every burst to completion through its own pipeline, then transmitting on
//! its own transmit queue of each port (or the port's shared one, when the port has
//! fewer queues than workers). The one packet handed between workers is a SNAT reply
//! whose external port belongs to another worker's slice. Configuration changes
//! arrive as snapshots, picked up between bursts.

// A packet travels by value; handing it back inside an `Err` (a full burst, a drop
// with its reason) is how ownership returns to the caller, so the error is large.
#![allow(clippy::result_large_err)]

pub mod capture;
pub mod conntrack_dump;
mod dispatch;
pub mod idle;
pub mod placement;
pub mod snapshot;
mod tsc;
mod worker;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
use packet::{Packet, Pool, PoolConfig, SharedPool, MAX_BURST};

use capture::CaptureTaps;
use pipeline::counters::{Counters, PublishedCounters};
use pipeline::neighbours::LearnedMacs;
use pipeline::tables::ForwardingTables;
use placement::{PlacementError, RxqAffinity};
use port::{PortInfo, PortQueues, RxQueue, SharedTxQueue, TxQueue};
use snapshot::SnapshotCell;

pub use dispatch::reply_owner;

/// How the runtime runs.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub workers: usize,
    /// Cores to pin the workers to (worker i to `cores[i % len]`); empty: no pinning.
    pub cores: Vec<usize>,
    /// Poll without ever sleeping (lowest latency, one core per worker at 100 %).
    pub busy_poll: bool,
    /// Packets per receive burst: the most a worker takes from one queue per round.
    pub burst: usize,
    /// Capacity of each worker's ring of SNAT replies handed over by other workers,
    /// and of each shared transmit queue's ring.
    pub ring_size: usize,
    /// Receive queues pinned to workers; the others are spread round robin.
    pub rxq_affinity: Vec<RxqAffinity>,
    /// Lose nothing: a full ring or transmit queue makes the sender wait instead of
    /// dropping, and the run ends by itself once every receive queue is finished
    /// (replay, benchmarks). A daemon on real ports never waits.
    pub lossless: bool,
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
            rxq_affinity: Vec::new(),
            lossless: false,
            pool: PoolConfig::default(),
        }
    }
}

/// Why the runtime did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Placement(#[from] PlacementError),
    #[error("starting a worker: {0}")]
    Thread(#[from] io::Error),
}

/// What the workers share: all of it lock-free.
struct Shared {
    snapshot: SnapshotCell,
    buffers: Arc<SharedPool>,
    /// Per worker: SNAT replies other workers received for connections it owns.
    handoff: Vec<ArrayQueue<Packet>>,
    /// Per port: the transmit queue every worker shares, when the port has fewer
    /// transmit queues than there are workers.
    shared_tx: Vec<Option<SharedTxQueue>>,
    ports: Vec<Arc<dyn PortInfo>>,
    /// Which worker polls each receive queue: `placement[port][queue]`.
    placement: Vec<Vec<usize>>,
    /// MACs the workers learned on the uplink: outlive every snapshot.
    learned: Arc<LearnedMacs>,
    stop: AtomicBool,
    /// Per worker: when (ns since `started`) its state (connection table, flow table,
    /// ...) was built and it began to poll, and when it ended; 0 until then.
    ready_ns: Vec<CachePadded<AtomicU64>>,
    ended_ns: Vec<CachePadded<AtomicU64>>,
    /// Per worker: it will receive nothing more. Each worker writes only its own; once
    /// all are set, no SNAT reply can be handed over any more.
    done: Vec<CachePadded<AtomicBool>>,
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

impl Shared {
    fn all_done(&self) -> bool {
        self.done.iter().all(|done| done.load(Ordering::Acquire))
    }
}

/// How a worker transmits on one port.
enum PortTx {
    /// Its own queue.
    Own(Box<dyn TxQueue>),
    /// The port's queue every worker shares (`Shared::shared_tx`).
    Shared,
}

/// A running dataplane.
pub struct Runtime {
    handle: RuntimeHandle,
    handles: Vec<JoinHandle<io::Result<Counters>>>,
}

impl Runtime {
    /// Starts the workers. `ports` are in topology order (port i has id i).
    pub fn start(
        config: RuntimeConfig,
        tables: Arc<ForwardingTables>,
        ports: Vec<PortQueues>,
    ) -> Result<Runtime, StartError> {
        Runtime::start_with_inputs(config, tables, ports, Vec::new())
    }

    /// Starts the workers with receive queues of their own besides the ports' (input
    /// i on worker i mod N): sources that feed several ports, such as replay's
    /// captures merged by timestamp.
    pub fn start_with_inputs(
        mut config: RuntimeConfig,
        tables: Arc<ForwardingTables>,
        ports: Vec<PortQueues>,
        inputs: Vec<Box<dyn RxQueue>>,
    ) -> Result<Runtime, StartError> {
        config.workers = config.workers.max(1);
        config.burst = config.burst.clamp(1, MAX_BURST / 2);
        let workers = config.workers;
        let port_count = ports.len();
        let rx_counts: Vec<u16> = ports.iter().map(|p| p.rx.len() as u16).collect();
        let placement = placement::place(&rx_counts, workers, &config.rxq_affinity)?;

        let mut polled: Vec<Vec<Box<dyn RxQueue>>> = (0..workers).map(|_| Vec::new()).collect();
        let mut tx: Vec<Vec<PortTx>> = (0..workers).map(|_| Vec::new()).collect();
        let mut shared_tx = Vec::with_capacity(port_count);
        let mut infos = Vec::with_capacity(port_count);
        for (port, queues) in ports.into_iter().enumerate() {
            for (queue, rx) in queues.rx.into_iter().enumerate() {
                polled[placement[port][queue]].push(rx);
            }
            if queues.tx.len() >= workers {
                for (worker, queue) in queues.tx.into_iter().take(workers).enumerate() {
                    tx[worker].push(PortTx::Own(queue));
                }
                shared_tx.push(None);
            } else {
                for worker_tx in &mut tx {
                    worker_tx.push(PortTx::Shared);
                }
                let first = queues.tx.into_iter().next();
                shared_tx.push(first.map(|q| SharedTxQueue::new(q, config.ring_size)));
            }
            infos.push(queues.info);
        }
        for (index, rx) in inputs.into_iter().enumerate() {
            polled[index % workers].push(rx);
        }

        let shared = Arc::new(Shared {
            snapshot: SnapshotCell::new(tables),
            buffers: SharedPool::new(config.pool),
            handoff: (0..workers)
                .map(|_| ArrayQueue::new(config.ring_size.max(1)))
                .collect(),
            shared_tx,
            ports: infos,
            placement,
            learned: Arc::default(),
            stop: AtomicBool::new(false),
            ready_ns: (0..workers)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            ended_ns: (0..workers)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            done: (0..workers)
                .map(|_| CachePadded::new(AtomicBool::new(false)))
                .collect(),
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

        let mut handles = Vec::with_capacity(workers);
        for (index, (queues, tx)) in polled.into_iter().zip(tx).enumerate() {
            let mine = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || worker::run(index, &mine, queues, tx));
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(error) => {
                    // The workers already running stop; their results do not matter.
                    shared.stop.store(true, Ordering::Release);
                    for handle in handles {
                        let _ = handle.join();
                    }
                    return Err(error.into());
                }
            }
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

    /// True once every worker has ended by itself (a lossless run whose inputs are
    /// all finished).
    pub fn finished(&self) -> bool {
        self.handles.iter().all(JoinHandle::is_finished)
    }

    /// Stops receiving, finishes what is in flight, flushes the ports, and returns
    /// the final counters.
    pub fn shutdown(self) -> io::Result<Counters> {
        let shared = &self.handle.shared;
        shared.stop.store(true, Ordering::Release);
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
        // Every worker is gone: what is left in the shared transmit queues leaves now.
        let mut pool = Pool::attach(&shared.buffers);
        for queue in shared.shared_tx.iter().flatten() {
            if let Err(error) = queue.flush(&mut pool) {
                first_error.get_or_insert(error);
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
        self.shared.ports.len()
    }

    /// The ports: names, capabilities, link and driver statistics.
    pub fn ports(&self) -> &[Arc<dyn PortInfo>] {
        &self.shared.ports
    }

    /// Per worker: SNAT replies waiting in its ring.
    pub fn handoff_occupancy(&self) -> Vec<usize> {
        self.shared.handoff.iter().map(ArrayQueue::len).collect()
    }

    /// The MACs the workers learned on the uplink.
    pub fn learned(&self) -> &LearnedMacs {
        &self.shared.learned
    }

    /// From the first worker ready to poll (its state built) to the last one ended:
    /// the time spent on packets by a run that ends by itself. `None` while a worker
    /// has not ended.
    pub fn working_time(&self) -> Option<std::time::Duration> {
        let shared = &self.shared;
        let load = |cells: &[CachePadded<AtomicU64>]| -> Vec<u64> {
            cells.iter().map(|c| c.load(Ordering::Acquire)).collect()
        };
        let (ready, ended) = (load(&shared.ready_ns), load(&shared.ended_ns));
        if ended.contains(&0) {
            return None;
        }
        let first = ready.iter().copied().min()?;
        let last = ended.iter().copied().max()?;
        Some(std::time::Duration::from_nanos(last.saturating_sub(first)))
    }

    /// Which worker polls each receive queue: `[port][queue]`.
    pub fn placement(&self) -> &[Vec<usize>] {
        &self.shared.placement
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
