//! The pipeline a worker runs over each burst: ingress (parse, logical port, port
//! security), SFC, then the ARP responder, L2 switching or distributed routing, SNAT
//! and VXLAN, then egress onto the output ports' transmit queues. Each stage names
//! what happens next and the graph (graph.rs) acts on it; every packet ends
//! transmitted, held for a resolution, or dropped with a reason.

// A packet travels by value; handing it back inside an `Err` (a full burst, a drop
// with its reason) is how ownership returns to the caller, so the error is large.
#![allow(clippy::result_large_err)]

pub mod counters;
mod flow_table;
mod graph;
mod ids;
mod ingress;
mod local;
pub mod neighbours;
mod prefetch;
mod routes;
mod routing;
pub mod sfc;
pub mod snat;
mod staging;
mod switching;
pub mod tables;
pub mod trace;
mod uplink;
mod uplink_host;
mod vxlan;
pub mod vxlan_tables;

use std::sync::Arc;

use packet::{Burst, Packet, Pool, MAX_BURST};

use crate::counters::{Counters, DropReason};
use graph::{Context, Next};
use neighbours::LearnedMacs;
use tables::ForwardingTables;

/// One transmit queue per dataplane port, filled by the pipeline and emptied by the
/// caller after each burst.
pub struct TxQueues {
    queues: Vec<Burst>,
}

impl TxQueues {
    pub fn new(ports: usize) -> Self {
        TxQueues {
            queues: (0..ports)
                .map(|_| Burst::with_capacity(MAX_BURST))
                .collect(),
        }
    }

    /// Queues a packet for transmission on `port` (a worker passing on what another
    /// worker routed to a port it owns); gives it back when the queue is full.
    pub fn push(&mut self, port: u16, packet: Packet) -> Result<(), Packet> {
        match self.queues.get_mut(usize::from(port)) {
            Some(queue) => queue.push(packet),
            None => Err(packet),
        }
    }

    /// The queues with something to send, by port index.
    pub fn pending(&mut self) -> impl Iterator<Item = (usize, &mut Burst)> {
        self.queues
            .iter_mut()
            .enumerate()
            .filter(|(_, queue)| !queue.is_empty())
    }
}

/// How many packets ahead of the one parsed its headers are prefetched: far enough
/// for a load from memory to land, near enough to stay in L1.
const PREFETCH_AHEAD: usize = 4;

/// How many packets ahead of the one processed its connection is requested: its
/// bucket (requested in the first pass) has arrived, and the connection has the time
/// of a few packets to follow.
const CONNECTION_AHEAD: usize = 3;

/// What a worker's stages remember between packets (connection tracking, the SFC
/// proxy's flow table, ...): owned by one worker, never shared.
pub struct WorkerState {
    /// Connection tracking and SNAT, sized from the configuration at start.
    pub nat: nat::Nat,
    /// SFC: flow -> pair pins and the proxy's flows.
    pub sfc: ::sfc::SfcState,
    /// Classification results of established flows (the flow cache).
    pub classified: sfc::ClassificationCache,
    /// The local services' ICMP error budget and advertisement timer.
    pub services: local_services::WorkerServices,
}

impl WorkerState {
    /// The state of worker `worker` of `workers` (each owns a slice of SNAT ports).
    pub fn new(tables: &ForwardingTables, worker: u16, workers: u16) -> Self {
        WorkerState {
            nat: nat::Nat::new(nat::NatConfig {
                worker,
                workers,
                ..tables.snat.config
            }),
            sfc: ::sfc::SfcState::default(),
            classified: sfc::ClassificationCache::growing(
                sfc::CLASSIFICATION_CACHE_SLOTS,
                sfc::CLASSIFICATION_CACHE_MAX_SLOTS,
            ),
            services: local_services::WorkerServices::default(),
        }
    }
}

/// The pipeline of one worker: a snapshot of the forwarding tables and the worker's
/// own state.
pub struct Pipeline {
    tables: Arc<ForwardingTables>,
    state: WorkerState,
    /// Kept apart from `state` so that the graph's context can borrow it alongside.
    neighbours: neighbours::Neighbours,
    /// What the node learned on its uplink: outlives every snapshot.
    learned: Arc<LearnedMacs>,
    /// The first pass's findings for each packet of the burst (allocated once).
    staged: Vec<staging::Staged>,
}

impl Pipeline {
    /// The pipeline of a single worker (replay, tools, tests).
    pub fn new(tables: Arc<ForwardingTables>) -> Self {
        Pipeline::for_worker(tables, 0, 1)
    }

    /// The pipeline of worker `worker` of `workers`: its state owns that worker's
    /// slice of the SNAT port range.
    pub fn for_worker(tables: Arc<ForwardingTables>, worker: u16, workers: u16) -> Self {
        let state = WorkerState::new(&tables, worker, workers);
        Pipeline {
            neighbours: neighbours::Neighbours::new(tables.vxlan.chassis.len()),
            tables,
            state,
            learned: Arc::default(),
            staged: Vec::with_capacity(MAX_BURST),
        }
    }

    /// Shares `learned` (the runtime's, common to every worker) instead of a table of
    /// this pipeline's own.
    pub fn sharing_learned(mut self, learned: Arc<LearnedMacs>) -> Self {
        self.learned = learned;
        self
    }

    /// Switches to a newer snapshot of the tables (between bursts); the worker's
    /// state is kept.
    pub fn set_tables(&mut self, tables: Arc<ForwardingTables>) {
        self.tables = tables;
    }

    pub fn tables(&self) -> &Arc<ForwardingTables> {
        &self.tables
    }

    /// The worker's tracked connections (for the control plane's listing).
    pub fn connections(&self) -> impl Iterator<Item = &nat::conntrack::Conn> {
        self.state.nat.iter()
    }

    /// Removes the worker's connections `doomed` picks (an operator's flush).
    pub fn flush_connections(&mut self, doomed: &dyn Fn(&nat::conntrack::Conn) -> bool) -> usize {
        self.state.nat.remove_if(doomed)
    }

    /// Work due without packets: frames held for a chassis MAC that another worker
    /// has learned since leave now (call when a poll finds nothing).
    pub fn housekeep(&mut self, pool: &mut Pool, tx: &mut TxQueues, counters: &mut Counters) {
        if !self.neighbours.has_waiting() {
            return;
        }
        let mut cx = Context {
            tx,
            counters,
            neighbours: &mut self.neighbours,
            learned: &self.learned,
            trace: None,
        };
        graph::release_held(&self.tables, &mut cx, pool);
    }

    /// Periodic work of the local services at `now_ns` (the caller's clock): the
    /// unsolicited router advertisements to the VMs when due. One worker of a node
    /// calls it, per burst or idle poll; it costs a comparison when nothing is due.
    /// Returns whether it queued anything.
    pub fn advertise(
        &mut self,
        now_ns: u64,
        pool: &mut Pool,
        tx: &mut TxQueues,
        counters: &mut Counters,
    ) -> bool {
        if self.tables.services.advertised_ports().is_empty()
            || !self.state.services.advertisements_due(now_ns)
        {
            return false;
        }
        let mut cx = Context {
            tx,
            counters,
            neighbours: &mut self.neighbours,
            learned: &self.learned,
            trace: None,
        };
        local::advertise(&self.tables, &mut self.state, &mut cx, pool, now_ns);
        true
    }

    /// The pipeline stops: what is still held (frames waiting for a resolution that
    /// never came) is dropped and counted, so that nothing received is unaccounted for.
    pub fn finish(&mut self, pool: &mut Pool, tx: &mut TxQueues, counters: &mut Counters) {
        self.housekeep(pool, tx, counters);
        for packet in self.neighbours.take_all() {
            counters.drop(DropReason::ResolveTimeout);
            pool.free(packet);
        }
    }

    /// Runs every packet of `rx` through the stages, leaving `rx` empty. Output goes
    /// to `tx`; drops are counted in `counters` and their buffers returned to `pool`.
    pub fn process(
        &mut self,
        rx: &mut Burst,
        pool: &mut Pool,
        tx: &mut TxQueues,
        counters: &mut Counters,
    ) {
        let tables = &*self.tables;
        let state = &mut self.state;
        let mut cx = Context {
            tx,
            counters,
            neighbours: &mut self.neighbours,
            learned: &self.learned,
            trace: None,
        };
        // First pass: parse every frame and request the connections' buckets.
        let staged = &mut self.staged;
        staged.clear();
        let mut packets = rx.iter_mut();
        while let Some(packet) = packets.next() {
            // The headers of a packet a few places ahead start loading now, while
            // this one is parsed.
            if let Some(ahead) = packets.as_slice().get(PREFETCH_AHEAD - 1) {
                prefetch::read(ahead.data());
            }
            staged.push(staging::stage(tables, &state.nat, packet));
        }
        // Second pass: the stages.
        let mut now_ns = None;
        for (index, packet) in rx.drain().enumerate() {
            if let Some(&staging::Staged::Connection(hash)) = staged.get(index + CONNECTION_AHEAD) {
                state.nat.prefetch_connection_hashed(hash);
            }
            let now = packet.timestamp_ns;
            now_ns = Some(now);
            graph::release_held(tables, &mut cx, pool);
            match staged.get(index) {
                Some(&staging::Staged::Malformed(reason)) => cx.drop(pool, packet, reason),
                _ => {
                    let first = graph::entry(tables, &packet);
                    graph::run(tables, state, &mut cx, pool, packet, Next::Stage(first));
                }
            }
            if cx.neighbours.requests_due() {
                uplink_host::send_arp_requests(tables, &mut cx, pool, now);
            }
            while let Some(expired) = cx.neighbours.expired(now) {
                cx.drop(pool, expired, DropReason::ResolveTimeout);
            }
        }
        // Bounded expiry work per burst, on the capture's (or the clock's) time.
        if let Some(now_ns) = now_ns {
            state.nat.sweep(now_ns);
        }
        // More established flows than the flow cache holds: it grows (rarely).
        state.classified.adapt();
    }
}
