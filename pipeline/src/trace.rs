//! Trace: one packet through a private run of the pipeline over a snapshot, with each
//! stage's decision recorded and nothing transmitted. The pipeline carries an
//! `Option<&mut Trace>` in its `Egress`; stages record through `Egress::note`, whose
//! closure only runs when a trace is being taken, so the fast path pays one branch.
//! A stage added later records its decisions the same way (`egress.note("sfc", ...)`).

use std::sync::Arc;

use packet::{Pool, PoolConfig};

use super::neighbours::{LearnedMacs, Neighbours};
use super::tables::ForwardingTables;
use super::{forward, Egress, TxQueues, WorkerState};
use crate::counters::{Counters, DropReason};

/// One stage's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStep {
    /// ingress, port_security, arp_responder, l2, routing, egress, and the stages to come.
    pub stage: &'static str,
    pub decision: String,
    pub fields: Vec<(&'static str, String)>,
}

/// What a traced packet became.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub steps: Vec<TraceStep>,
    /// (port, frame as it would leave), in the order the pipeline queued them.
    pub outputs: Vec<(u16, Vec<u8>)>,
    pub drop: Option<DropReason>,
    /// Addresses whose MAC the frame would wait for (ARP on the uplink) before leaving.
    pub waiting_for: Vec<std::net::IpAddr>,
}

impl Trace {
    pub fn note(
        &mut self,
        stage: &'static str,
        decision: String,
        fields: Vec<(&'static str, String)>,
    ) {
        self.steps.push(TraceStep {
            stage,
            decision,
            fields,
        });
    }
}

/// Runs `frame`, as received on dataplane port `rx_port`, through the pipeline over
/// `tables` with fresh worker state holding copies of the `live` connections (none:
/// an empty connection table) and of the MACs the node `learned`, and returns the
/// trace. Nothing is sent and no worker's state changes.
pub fn trace_frame(
    tables: &Arc<ForwardingTables>,
    rx_port: u16,
    frame: &[u8],
    live: &[nat::conntrack::Conn],
    learned: &LearnedMacs,
) -> Trace {
    let mut trace = Trace::default();
    let mut pool = Pool::new(PoolConfig {
        buffers: 64,
        ..PoolConfig::default()
    });
    let mut packet = match pool.alloc_copy(frame) {
        Ok(packet) => packet,
        Err(_) => {
            trace.drop = Some(DropReason::Oversize);
            trace.note(
                "ingress",
                "frame larger than a packet buffer".into(),
                vec![],
            );
            return trace;
        }
    };
    packet.rx_port = rx_port;
    let ports = tables.ports.len();
    let mut tx = TxQueues::new(ports);
    let mut counters = Counters::new(ports);
    // A fresh worker state: a trace never changes the workers' own.
    let mut state = WorkerState::new(tables, 0, 1);
    let adopted = live
        .iter()
        .filter(|conn| state.nat.adopt(**conn).is_ok())
        .count();
    if !live.is_empty() {
        trace.note(
            "conntrack",
            format!("traced against a copy of the live connections ({adopted} of them)"),
            vec![("connections", adopted.to_string())],
        );
    }
    let mut neighbours = Neighbours::new(tables.vxlan.chassis.len());
    // A copy: a traced ARP answer must not teach the workers anything.
    let known = LearnedMacs::default();
    for (ip, mac) in learned.iter() {
        known.set(ip, mac, 0);
    }
    let mut egress = Egress {
        tx: &mut tx,
        counters: &mut counters,
        neighbours: &mut neighbours,
        learned: &known,
        trace: Some(&mut trace),
    };
    if let Err(dropped) = forward(tables, &mut state, &mut egress, &mut pool, packet) {
        egress.drop(&mut pool, dropped);
    }
    for (port, queue) in tx.pending() {
        for packet in queue.drain() {
            trace.outputs.push((port as u16, packet.data().to_vec()));
            pool.free(packet);
        }
    }
    // Held for a MAC nobody has learned yet: the frame would leave once it resolves.
    if neighbours.has_waiting() {
        trace.waiting_for = std::iter::from_fn(|| neighbours.next_request(0)).collect();
        let addresses: Vec<String> = trace.waiting_for.iter().map(|ip| ip.to_string()).collect();
        trace.note(
            "resolve",
            format!(
                "held until {} answers ARP on the uplink; it leaves then",
                addresses.join(", ")
            ),
            vec![("waiting_for", addresses.join(","))],
        );
        for packet in neighbours.take_all() {
            pool.free(packet);
        }
    }
    // Nothing left, nothing held and no drop recorded: a flood whose copies were all
    // dropped.
    if trace.drop.is_none() && trace.outputs.is_empty() && trace.waiting_for.is_empty() {
        trace.drop = crate::counters::DropReason::ALL
            .into_iter()
            .find(|reason| counters.drops(*reason) > 0);
    }
    trace
}
