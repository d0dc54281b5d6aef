//! The pipeline as a graph: every stage looks at (and may rewrite) the packet, then
//! names what happens next; [`run`] is the one place that acts on it, queueing,
//! holding, flooding or dropping the packet. Where a packet's fate is decided is
//! read here, as in VPP's next-node arrays.

use std::net::{IpAddr, Ipv4Addr};

use packet::{rewrite, Packet, Pool};

use super::tables::{Attachment, ChassisId, ForwardingTables, LogicalPortId, NetworkId, PortId};
use super::{
    ingress, local, neighbours, routing, sfc, snat, switching, trace, uplink, uplink_host, vxlan,
    TxQueues, WorkerState,
};
use crate::counters::{Counters, DropReason};
use crate::neighbours::LearnedMacs;

/// A stage that looks at the packet and decides.
#[derive(Clone, Copy, Debug)]
pub(super) enum Stage {
    /// A frame on the uplink: VXLAN, SNAT replies, the node's own ARP and ND.
    Uplink,
    /// A frame on a VM-side port: parse, logical port, port security.
    Ingress,
    /// Returns from service functions, then classification, for a frame of this
    /// logical port.
    Sfc(LogicalPortId),
    /// Forwarding as coming from this logical port: ARP responder, routing or L2.
    Forward(LogicalPortId),
    /// To the router MAC: routed between the router's networks, or to SNAT.
    Route,
    /// North-south: translated to this external address and sent to the gateway.
    SnatOutbound(Ipv4Addr),
    /// A reply to SNAT, translated back to its tenant.
    SnatInbound,
    /// VXLAN for this node's VTEP.
    VxlanDecap,
    /// Encapsulated to a chassis for a logical port of the network.
    VxlanEncap {
        chassis: ChassisId,
        network: NetworkId,
    },
    /// ARP on the uplink: learn the sender when resolving it.
    UplinkArp,
    /// ARP on the uplink, the sender learned (or not): answered when it asks for one
    /// of the node's addresses.
    UplinkArpAnswer {
        learned: bool,
    },
    UplinkNeighbourSolicitation,
    UplinkNeighbourAdvertisement,
    /// A neighbour answer taught a MAC; nothing else to do with it.
    NeighbourLearned,
    /// Answered by the node's local services (DHCP, the router's ICMP, neighbour
    /// discovery), for the frame from this logical port.
    LocalService {
        ingress: LogicalPortId,
        request: local_services::Request,
    },
}

/// What happens to the packet after a stage.
#[derive(Clone, Copy, Debug)]
pub(super) enum Next {
    Stage(Stage),
    /// Out of a logical port: tagged for a sub-port and transmitted, or encapsulated
    /// to the chassis hosting it.
    SendToLogicalPort(LogicalPortId),
    /// A copy to every other port of the network of this logical port (and to the
    /// chassis hosting ports of it).
    Flood(LogicalPortId),
    /// Queued on a dataplane port.
    Transmit(PortId),
    /// Held until this address's MAC is resolved (then transmitted on the uplink).
    Hold(IpAddr),
    /// A neighbour was learned: the frames that waited for it leave first.
    ReleaseHeld(Stage),
    Drop(DropReason),
}

/// What the stages may touch besides the packet: counters, the trace, and (for the
/// dispatcher) the transmit queues and the frames held for resolution.
pub(super) struct Context<'a> {
    pub(super) tx: &'a mut TxQueues,
    pub(super) counters: &'a mut Counters,
    /// Chassis MACs resolved on the uplink, and the frames waiting for one.
    pub(super) neighbours: &'a mut neighbours::Neighbours,
    /// MACs learned on the uplink, shared by the workers.
    pub(super) learned: &'a LearnedMacs,
    /// Set only when the control socket traces a packet.
    pub(super) trace: Option<&'a mut trace::Trace>,
}

impl Context<'_> {
    /// Records a stage's decision when tracing; `what` runs only then.
    #[inline]
    pub(super) fn note(
        &mut self,
        stage: &'static str,
        what: impl FnOnce() -> (String, Vec<(&'static str, String)>),
    ) {
        if let Some(trace) = self.trace.as_deref_mut() {
            let (decision, fields) = what();
            trace.note(stage, decision, fields);
        }
    }

    /// Queues a finished frame on a dataplane port; gives it back with the reason
    /// when it cannot be.
    pub(super) fn transmit(
        &mut self,
        port: PortId,
        packet: Packet,
    ) -> Result<(), (Packet, DropReason)> {
        match self.tx.queues.get_mut(port.index()) {
            Some(queue) => queue
                .push(packet)
                .map_err(|p| (p, DropReason::BurstOverflow)),
            None => Err((packet, DropReason::NoLogicalPort)),
        }
    }

    /// Counts the drop and returns the buffer.
    pub(super) fn drop(&mut self, pool: &mut Pool, packet: Packet, reason: DropReason) {
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

/// The first stage of a received frame: by the port it arrived on.
#[inline]
pub(super) fn entry(tables: &ForwardingTables, packet: &Packet) -> Stage {
    if tables.is_uplink(packet.rx_port) {
        Stage::Uplink
    } else {
        Stage::Ingress
    }
}

/// Takes a packet from `next` until it is transmitted, held or dropped.
pub(super) fn run(
    tables: &ForwardingTables,
    state: &mut WorkerState,
    cx: &mut Context,
    pool: &mut Pool,
    mut packet: Packet,
    mut next: Next,
) {
    loop {
        next = match next {
            Next::Stage(stage) => step(tables, state, cx, &mut packet, stage),
            Next::SendToLogicalPort(logical_port) => {
                out_of_logical_port(tables, cx, &mut packet, logical_port)
            }
            Next::Flood(ingress) => return flood(tables, state, cx, pool, packet, ingress),
            Next::Transmit(port) => {
                if let Err((packet, reason)) = cx.transmit(port, packet) {
                    cx.drop(pool, packet, reason);
                }
                return;
            }
            Next::Hold(ip) => {
                let now = packet.timestamp_ns;
                if let Err(packet) = cx.neighbours.hold(ip, packet, now) {
                    cx.drop(pool, packet, DropReason::ResolveQueueFull);
                }
                return;
            }
            Next::ReleaseHeld(then) => {
                release_held(tables, cx, pool);
                Next::Stage(then)
            }
            Next::Drop(reason) => return cx.drop(pool, packet, reason),
        }
    }
}

/// Runs one stage.
fn step(
    tables: &ForwardingTables,
    state: &mut WorkerState,
    cx: &mut Context,
    packet: &mut Packet,
    stage: Stage,
) -> Next {
    match stage {
        Stage::Uplink => uplink::receive(tables, cx, packet),
        Stage::Ingress => ingress::stage(tables, cx, packet),
        Stage::Sfc(ingress) => sfc::process(tables, state, cx, packet, ingress),
        Stage::Forward(ingress) => switching::forward(tables, cx, packet, ingress),
        Stage::Route => routing::route(tables, cx, packet),
        Stage::SnatOutbound(external_ip) => snat::outbound(tables, state, cx, packet, external_ip),
        Stage::SnatInbound => snat::inbound(tables, state, cx, packet),
        Stage::VxlanDecap => vxlan::receive(tables, cx, packet),
        Stage::VxlanEncap { chassis, network } => {
            vxlan::send_to_chassis(tables, cx, packet, chassis, network)
        }
        Stage::UplinkArp => uplink_host::arp(tables, cx, packet),
        Stage::UplinkArpAnswer { learned } => uplink_host::arp_answer(tables, packet, learned),
        Stage::UplinkNeighbourSolicitation => uplink_host::neighbour_solicitation(tables, packet),
        Stage::UplinkNeighbourAdvertisement => {
            uplink_host::neighbour_advertisement(tables, cx, packet)
        }
        Stage::NeighbourLearned => Next::Drop(DropReason::NeighbourLearned),
        Stage::LocalService { ingress, request } => {
            local::serve(tables, state, cx, packet, ingress, request)
        }
    }
}

/// Out of a logical port: tagged for a sub-port and queued on its dataplane port, or
/// encapsulated to the chassis hosting it.
fn out_of_logical_port(
    tables: &ForwardingTables,
    cx: &mut Context,
    packet: &mut Packet,
    logical_port: LogicalPortId,
) -> Next {
    let entry = tables.logical_port(logical_port);
    let (port, vlan) = match entry.attachment {
        Attachment::Local { port, vlan } => (port, vlan),
        Attachment::Remote { chassis } => {
            return Next::Stage(Stage::VxlanEncap {
                chassis,
                network: entry.network,
            })
        }
    };
    cx.note("egress", || {
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
        if !rewrite::push_vlan(packet, vlan) {
            return Next::Drop(DropReason::NoHeadroom);
        }
    }
    Next::Transmit(port)
}

/// Sends a copy to every other local port of the network and, when the frame did not
/// come over the overlay, one to every chassis hosting a port of it (a frame from the
/// overlay was replicated to every chassis by its sender already); the last one gets
/// the original buffer.
fn flood(
    tables: &ForwardingTables,
    state: &mut WorkerState,
    cx: &mut Context,
    pool: &mut Pool,
    packet: Packet,
    ingress: LogicalPortId,
) {
    let network = tables.logical_port(ingress).network;
    let from_overlay = tables.is_uplink(packet.rx_port);
    let chassis: &[ChassisId] = if from_overlay {
        &[]
    } else {
        &tables.vxlan.flood_chassis[network.index()]
    };
    let mut targets = tables
        .network(network)
        .flood
        .iter()
        .copied()
        .filter(|&target| target != ingress)
        .map(Next::SendToLogicalPort)
        .chain(
            chassis
                .iter()
                .map(|&chassis| Next::Stage(Stage::VxlanEncap { chassis, network })),
        );
    let Some(mut current) = targets.next() else {
        return cx.drop(pool, packet, DropReason::NoDestination);
    };
    for next in targets {
        match pool.clone_packet(&packet) {
            Ok(copy) => run(tables, state, cx, pool, copy, current),
            Err(_) => cx.counters.drop(DropReason::NoBuffer),
        }
        current = next;
    }
    run(tables, state, cx, pool, packet, current)
}

/// Sends the frames this worker held for a MAC that is known now (learned by any
/// worker), before anything newer leaves: a flow keeps its order.
pub(super) fn release_held(tables: &ForwardingTables, cx: &mut Context, pool: &mut Pool) {
    if let (true, Some(uplink)) = (cx.neighbours.has_waiting(), tables.uplink) {
        uplink_host::release_resolved(tables, cx, pool, uplink);
    }
}
