//! The local services' stage: a request a VM's frame makes of the node (DHCP,
//! neighbour discovery) or of its router (echo, an expiring or unroutable packet),
//! answered by the `local-services` crate; its outcome becomes the graph's verdict.

use local_services::{Outcome, Request};
use packet::{Packet, Pool};

use super::graph::{self, Context, Next};
use super::tables::{ForwardingTables, LogicalPortId};
use super::{switching, WorkerState};
use crate::counters::DropReason;

pub(super) fn serve(
    tables: &ForwardingTables,
    state: &mut WorkerState,
    cx: &mut Context,
    packet: &mut Packet,
    ingress: LogicalPortId,
    request: Request,
) -> Next {
    let outcome = local_services::serve(
        &tables.services,
        &mut state.services,
        packet,
        ingress.index(),
        request,
    );
    match outcome {
        Outcome::Answered(answer) => {
            cx.note("local_service", || {
                (
                    format!("{}: answered with {}", request.name(), answer.name()),
                    vec![
                        ("request", request.name().to_owned()),
                        ("answer", answer.name().to_owned()),
                        ("logical_port", ingress.to_string()),
                    ],
                )
            });
            if let Err(reason) = reparse(packet) {
                return Next::Drop(reason);
            }
            Next::SendToLogicalPort(ingress)
        }
        Outcome::Refused(refusal) => {
            let reason = DropReason::from(refusal);
            cx.note("local_service", || {
                let decision = format!("{}: refused ({})", request.name(), reason.name());
                (decision, vec![("request", request.name().to_owned())])
            });
            Next::Drop(reason)
        }
        Outcome::Pass => {
            cx.note("local_service", || {
                (format!("{}: not answered", request.name()), vec![])
            });
            match request {
                Request::Dhcp | Request::Ndisc => {
                    switching::forward_without_services(tables, cx, packet, ingress)
                }
                Request::ToRouter => Next::Drop(DropReason::RouterLocal),
                Request::TtlExpired => Next::Drop(DropReason::TtlExpired),
                Request::NoRoute | Request::NoHost => Next::Drop(DropReason::NoRoute),
            }
        }
    }
}

/// The frame is the answer now: its metadata describes it, still as the logical
/// port's and its network's.
fn reparse(packet: &mut Packet) -> Result<(), DropReason> {
    let (logical_port, zone) = (packet.meta.logical_port, packet.meta.zone);
    packet.parse()?;
    packet.meta.logical_port = logical_port;
    packet.meta.zone = zone;
    Ok(())
}

/// Sends every local port of an IPv6 network with a router its periodic router
/// advertisement, in fresh buffers.
pub(super) fn advertise(
    tables: &ForwardingTables,
    state: &mut WorkerState,
    cx: &mut Context,
    pool: &mut Pool,
    now_ns: u64,
) {
    for &logical_port in tables.services.advertised_ports() {
        let Ok(mut packet) = pool.alloc() else {
            cx.counters.drop(DropReason::NoBuffer);
            continue;
        };
        packet.timestamp_ns = now_ns;
        let id = LogicalPortId(logical_port as u32);
        if !local_services::write_advertisement(&tables.services, &mut packet, logical_port) {
            cx.drop(pool, packet, DropReason::NoHeadroom);
            continue;
        }
        packet.meta.logical_port = id.0;
        packet.meta.zone = tables.logical_port(id).network.0;
        if let Err(reason) = reparse(&mut packet) {
            cx.drop(pool, packet, reason);
            continue;
        }
        graph::run(tables, state, cx, pool, packet, Next::SendToLogicalPort(id));
    }
}
