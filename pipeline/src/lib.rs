//! The pipeline a worker runs over each burst: ingress (parse, logical port, port
//! security), then the ARP responder, L2 switching or distributed routing, then
//! egress onto the output ports' transmit queues. Every packet ends transmitted or
//! dropped with a reason.

// A packet travels by value; handing it back inside an `Err` (a full burst, a drop
// with its reason) is how ownership returns to the caller, so the error is large.
#![allow(clippy::result_large_err)]

pub mod counters;
mod ingress;
pub mod neighbours;
mod routing;
pub mod sfc;
pub mod snat;
mod switching;
pub mod tables;
pub mod trace;
mod uplink;
mod uplink_host;
mod vxlan;
pub mod vxlan_tables;

use std::sync::Arc;

use packet::{rewrite, Burst, Packet, Pool, MAX_BURST};

use crate::counters::{Counters, DropReason};
use neighbours::LearnedMacs;
use tables::{Attachment, ForwardingTables};

/// A packet the pipeline gives up on, and why.
pub type Dropped = (Packet, DropReason);

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

/// Where a burst's packets go: the transmit queues, or the drop counters.
struct Egress<'a> {
    tx: &'a mut TxQueues,
    counters: &'a mut Counters,
    /// Chassis MACs resolved on the uplink, and the frames waiting for one.
    neighbours: &'a mut neighbours::Neighbours,
    /// MACs learned on the uplink, shared by the workers.
    learned: &'a LearnedMacs,
    /// Set only when the control socket traces a packet.
    trace: Option<&'a mut trace::Trace>,
}

impl Egress<'_> {
    /// Records a stage's decision when tracing; `what` runs only then.
    #[inline]
    fn note(
        &mut self,
        stage: &'static str,
        what: impl FnOnce() -> (String, Vec<(&'static str, String)>),
    ) {
        if let Some(trace) = self.trace.as_deref_mut() {
            let (decision, fields) = what();
            trace.note(stage, decision, fields);
        }
    }

    /// Sends a packet out of a logical port: tagged for a sub-port, queued on its
    /// dataplane port, or encapsulated to the chassis hosting it.
    fn send(
        &mut self,
        tables: &ForwardingTables,
        mut packet: Packet,
        logical_port: u32,
    ) -> Result<(), Dropped> {
        let entry = &tables.logical_ports[logical_port as usize];
        let (port, vlan) = match entry.attachment {
            Attachment::Local { port, vlan } => (port, vlan),
            Attachment::Remote { chassis } => {
                return vxlan::send_to_chassis(self, tables, packet, chassis, entry.network)
            }
        };
        self.note("egress", || {
            let tag = vlan.map(|v| format!(" vlan {v}")).unwrap_or_default();
            let decision = format!("out of logical port {logical_port} on port {port}{tag}");
            let mut fields = vec![
                ("logical_port", logical_port.to_string()),
                ("port", port.to_string()),
            ];
            fields.extend(vlan.map(|v| ("vlan", v.to_string())));
            (decision, fields)
        });
        if let Some(vlan) = vlan {
            if !rewrite::push_vlan(&mut packet, vlan) {
                return Err((packet, DropReason::NoHeadroom));
            }
        }
        self.transmit(port, packet)
    }

    /// Queues a finished frame on a dataplane port.
    fn transmit(&mut self, port: u16, packet: Packet) -> Result<(), Dropped> {
        match self.tx.queues.get_mut(usize::from(port)) {
            Some(queue) => queue
                .push(packet)
                .map_err(|p| (p, DropReason::BurstOverflow)),
            None => Err((packet, DropReason::NoLogicalPort)),
        }
    }

    fn drop(&mut self, pool: &mut Pool, (packet, reason): Dropped) {
        if let Some(trace) = self.trace.as_deref_mut() {
            trace.drop = Some(reason);
            trace.note(
                "drop",
                reason.name().to_owned(),
                vec![("reason", reason.name().to_owned())],
            );
        }
        self.counters.drop(reason);
        pool.free(packet);
    }
}

/// What a worker's stages remember between packets (connection tracking, the SFC
/// proxy's flow table, ...): owned by one worker, never shared.
pub struct WorkerState {
    /// Connection tracking and SNAT, sized from the configuration at start.
    pub nat: nat::Nat,
    /// SFC: flow -> pair pins and the proxy's flows.
    pub sfc: ::sfc::SfcState,
    /// Classification results of established flows (the flow cache).
    pub classified: sfc::ClassificationCache,
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
            classified: sfc::ClassificationCache::new(sfc::CLASSIFICATION_CACHE_SLOTS),
        }
    }
}

/// The pipeline of one worker: a snapshot of the forwarding tables and the worker's
/// own state.
pub struct Pipeline {
    tables: Arc<ForwardingTables>,
    state: WorkerState,
    /// Kept apart from `state` so that the egress can borrow it alongside.
    neighbours: neighbours::Neighbours,
    /// What the node learned on its uplink: outlives every snapshot.
    learned: Arc<LearnedMacs>,
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
        let mut egress = Egress {
            tx,
            counters,
            neighbours: &mut self.neighbours,
            learned: &self.learned,
            trace: None,
        };
        release_held(&self.tables, &mut egress, pool);
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
        let mut egress = Egress {
            tx,
            counters,
            neighbours: &mut self.neighbours,
            learned: &self.learned,
            trace: None,
        };
        let mut now_ns = None;
        for packet in rx.drain() {
            let now = packet.timestamp_ns;
            now_ns = Some(now);
            release_held(tables, &mut egress, pool);
            if let Err(dropped) = forward(tables, state, &mut egress, pool, packet) {
                egress.drop(pool, dropped);
            }
            if egress.neighbours.requests_due() {
                uplink_host::send_arp_requests(tables, &mut egress, pool, now);
            }
            while let Some(expired) = egress.neighbours.expired(now) {
                egress.drop(pool, (expired, DropReason::ResolveTimeout));
            }
        }
        // Bounded expiry work per burst, on the capture's (or the clock's) time.
        if let Some(now_ns) = now_ns {
            state.nat.sweep(now_ns);
        }
    }
}

/// Sends the frames this worker held for a chassis MAC that is known now (learned by
/// any worker), before anything newer leaves: a flow keeps its order.
fn release_held(tables: &ForwardingTables, egress: &mut Egress, pool: &mut Pool) {
    if let (true, Some(uplink)) = (egress.neighbours.has_waiting(), tables.uplink) {
        uplink_host::release_resolved(tables, egress, pool, uplink);
    }
}

fn forward(
    tables: &ForwardingTables,
    state: &mut WorkerState,
    egress: &mut Egress,
    pool: &mut Pool,
    mut packet: Packet,
) -> Result<(), Dropped> {
    if tables.uplink == Some(packet.rx_port) {
        return uplink::receive(tables, state, egress, pool, packet);
    }
    let ingress = match ingress::admit(tables, &mut packet) {
        Ok(logical_port) => logical_port,
        Err(reason) => {
            let stage = if reason == DropReason::PortSecurity {
                "port_security"
            } else {
                "ingress"
            };
            egress.note(stage, || (format!("refused: {}", reason.name()), vec![]));
            return Err((packet, reason));
        }
    };
    egress.note("ingress", || {
        let meta = &packet.meta;
        (
            format!(
                "logical port {ingress} in network {}, port security passed",
                meta.zone
            ),
            vec![
                ("logical_port", ingress.to_string()),
                ("network", meta.zone.to_string()),
            ],
        )
    });
    // SFC: returns from service functions, then classification; an unchained packet
    // (or one at the end of its chain) goes on as coming from `ingress`. Chains are
    // classified on the node hosting the source port, so frames from the overlay
    // skip this.
    let (packet, ingress) = match sfc::process(tables, state, egress, packet, ingress) {
        sfc::Verdict::Forward(packet, ingress) => (packet, ingress),
        sfc::Verdict::Done(result) => return result,
    };
    forward_from(tables, state, egress, pool, packet, ingress)
}

/// Forwarding once the frame's logical port is known (a local port after ingress, or a
/// remote one after VXLAN decapsulation): ARP responder, routing or L2.
fn forward_from(
    tables: &ForwardingTables,
    state: &mut WorkerState,
    egress: &mut Egress,
    pool: &mut Pool,
    mut packet: Packet,
    ingress: u32,
) -> Result<(), Dropped> {
    let network = &tables.networks[tables.logical_ports[ingress as usize].network as usize];
    if let Some(answer) = switching::arp_answer(tables, &packet, ingress) {
        egress.note("arp_responder", || {
            (
                format!("answered with {answer}"),
                vec![("mac", answer.to_string())],
            )
        });
        switching::turn_into_arp_reply(&mut packet, answer);
        return egress.send(tables, packet, ingress);
    }
    let destination = rewrite::destination_mac(packet.data());
    if network.router_mac == Some(destination) {
        egress.note("l2", || {
            (format!("to the router MAC {destination}: routed"), vec![])
        });
        return routing::route(tables, state, egress, packet);
    }
    switching::switch(tables, egress, pool, packet, ingress)
}
