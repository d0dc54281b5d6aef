//! The pipeline a worker runs over each burst: ingress (parse, logical port, port
//! security), then the ARP responder, L2 switching or distributed routing, then
//! egress onto the output ports' transmit queues. Every packet ends transmitted or
//! dropped with a reason.

mod ingress;
mod routing;
mod switching;
pub mod tables;
pub mod trace;
mod uplink;

use std::sync::Arc;

use packet::{rewrite, Burst, Packet, Pool, MAX_BURST};

use crate::counters::{Counters, DropReason};
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
    /// dataplane port.
    fn send(
        &mut self,
        tables: &ForwardingTables,
        mut packet: Packet,
        logical_port: u32,
    ) -> Result<(), Dropped> {
        let entry = &tables.logical_ports[logical_port as usize];
        let Attachment::Local { port, vlan } = entry.attachment else {
            return Err((packet, DropReason::NoTunnel));
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
        match self.tx.queues.get_mut(usize::from(port)) {
            Some(queue) => queue.push(packet).map_err(|p| (p, DropReason::TxQueueFull)),
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
#[derive(Default)]
pub struct WorkerState {}

/// The pipeline of one worker: a snapshot of the forwarding tables and the worker's
/// own state.
pub struct Pipeline {
    tables: Arc<ForwardingTables>,
    state: WorkerState,
}

impl Pipeline {
    pub fn new(tables: Arc<ForwardingTables>) -> Self {
        Pipeline {
            tables,
            state: WorkerState::default(),
        }
    }

    /// Switches to a newer snapshot of the tables (between bursts); the worker's
    /// state is kept.
    pub fn set_tables(&mut self, tables: Arc<ForwardingTables>) {
        self.tables = tables;
    }

    pub fn tables(&self) -> &Arc<ForwardingTables> {
        &self.tables
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
            trace: None,
        };
        for packet in rx.drain() {
            if let Err(dropped) = forward(tables, state, &mut egress, pool, packet) {
                egress.drop(pool, dropped);
            }
        }
    }
}

fn forward(
    tables: &ForwardingTables,
    _state: &mut WorkerState,
    egress: &mut Egress,
    pool: &mut Pool,
    mut packet: Packet,
) -> Result<(), Dropped> {
    if tables.uplink == Some(packet.rx_port) {
        return uplink::receive(tables, egress, pool, packet);
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
    let network = &tables.networks[tables.logical_ports[ingress as usize].network as usize];
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
        return routing::route(tables, egress, packet);
    }
    switching::switch(tables, egress, pool, packet, ingress)
}
