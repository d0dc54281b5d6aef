//! Distributed routing between the networks of one router: every node routes for
//! its own VMs, so a routed packet never crosses a central node.

use std::net::IpAddr;

use packet::{rewrite, Packet};

use super::graph::{Context, Next, Stage};
use super::tables::{ForwardingTables, LogicalPortId, NetworkId};
use crate::counters::DropReason;
use local_services::Request;

/// Routes a packet addressed to its network's router MAC.
pub(super) fn route(tables: &ForwardingTables, cx: &mut Context, packet: &mut Packet) -> Next {
    let meta = &packet.meta;
    let network = tables.network(NetworkId(meta.zone));
    let Some(router_id) = network.router else {
        return Next::Drop(DropReason::NoRoute);
    };
    let router = tables.router(router_id);
    if !meta.is_ip() {
        return Next::Drop(DropReason::RouterLocal);
    }
    let destination = meta.flow.dst_ip();
    // What the router answers itself: its own addresses, expiring packets, no route.
    let ingress = LogicalPortId(meta.logical_port);
    let local = |request| Next::Stage(Stage::LocalService { ingress, request });
    if tables.routes.is_gateway(router_id, destination)
        || destination == IpAddr::V6(tables.router_link_locals[router_id.index()])
    {
        return local(Request::ToRouter);
    }
    if meta.ttl <= 1 {
        return local(Request::TtlExpired);
    }
    let Some(next_network) = tables.routes.lookup(router_id, destination) else {
        // North-south: leaves through SNAT when the router does it.
        if let Some(external_ip) = router.snat_ip {
            cx.note("routing", || {
                (
                    format!("{destination} is outside the networks of router {router_id}: SNAT"),
                    vec![("router", router_id.to_string())],
                )
            });
            return Next::Stage(Stage::SnatOutbound(external_ip));
        }
        return local(Request::NoRoute);
    };
    let Some(&target) = tables.hosts.get(&(next_network, destination)) else {
        return local(Request::NoHost);
    };
    let target_mac = tables.logical_port(target).mac;
    cx.note("routing", || {
        let decision = format!(
            "{destination} routed by router {router_id} into network {next_network}, logical port {target}"
        );
        let fields = vec![
            ("router", router_id.to_string()),
            ("network", next_network.to_string()),
            ("logical_port", target.to_string()),
            ("ttl", meta.ttl.saturating_sub(1).to_string()),
        ];
        (decision, fields)
    });
    rewrite::set_macs(packet.data_mut(), target_mac, router.mac);
    rewrite::decrement_ttl(packet);
    packet.meta.zone = next_network.0;
    Next::SendToLogicalPort(target)
}
