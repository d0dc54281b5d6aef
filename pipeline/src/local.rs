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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use packet::{rewrite, Pool, PoolConfig};
    use topology::Topology;

    use crate::counters::Counters;
    use crate::tables::ForwardingTables;
    use crate::{Pipeline, TxQueues};

    /// Two ports: one on an IPv6 network with a router, one on an IPv4 network.
    const TOPOLOGY: &str = r#"
[node]
name = "n"

[[ports]]
name = "v6"
driver = "pcap"

[[ports]]
name = "v4"
driver = "pcap"

[[networks]]
name = "v6"
tenant = "t"
vni = 1
cidr = "fd00::/64"
gateway_ip = "fd00::1"

[[networks]]
name = "v4"
tenant = "t"
vni = 2
cidr = "10.0.0.0/24"
gateway_ip = "10.0.0.1"

[[routers]]
name = "r"
tenant = "t"
mac = "02:00:00:00:00:01"
networks = ["v6", "v4"]

[[logical_ports]]
name = "a"
network = "v6"
mac = "02:00:00:00:00:0a"
port = "v6"

[[logical_ports]]
name = "b"
network = "v4"
mac = "02:00:00:00:00:0b"
port = "v4"
"#;

    #[test]
    fn advertisements_go_to_the_ipv6_ports_once_per_interval() {
        let topology = Topology::from_toml_str(TOPOLOGY).unwrap();
        let mut pipeline = Pipeline::new(Arc::new(ForwardingTables::build(&topology)));
        let mut pool = Pool::new(PoolConfig::default());
        let mut tx = TxQueues::new(2);
        let mut counters = Counters::new(2);
        let start = 5_000_000_000;
        let mut sent = |pipeline: &mut Pipeline, now| {
            pipeline.advertise(now, &mut pool, &mut tx, &mut counters);
            let frames: Vec<(usize, Vec<u8>)> = tx
                .pending()
                .flat_map(|(port, queue)| {
                    queue
                        .drain()
                        .map(|p| (port, p.data().to_vec()))
                        .collect::<Vec<_>>()
                })
                .collect();
            frames
        };
        let first = sent(&mut pipeline, start);
        assert_eq!(first.len(), 1, "one advertisement, to the IPv6 port only");
        let (port, frame) = &first[0];
        assert_eq!(*port, 0);
        assert_eq!(
            rewrite::destination_mac(frame).to_string(),
            "33:33:00:00:00:01"
        );
        assert_eq!(rewrite::source_mac(frame).to_string(), "02:00:00:00:00:01");
        // IPv6, ICMPv6 type 134 (router advertisement), hop limit 255.
        assert_eq!(&frame[12..14], &[0x86, 0xdd]);
        assert_eq!((frame[20], frame[21], frame[54]), (58, 255, 134));
        let interval = local_services::RA_INTERVAL_NS;
        assert!(sent(&mut pipeline, start + interval - 1).is_empty());
        assert_eq!(sent(&mut pipeline, start + interval).len(), 1);
    }
}
