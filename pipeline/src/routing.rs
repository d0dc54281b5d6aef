//! Distributed routing between the networks of one router: every node routes for
//! its own VMs, so a routed packet never crosses a central node.

use packet::{rewrite, Packet};

use super::tables::ForwardingTables;
use super::{snat, Dropped, Egress, WorkerState};
use crate::counters::DropReason;

/// Routes a packet addressed to its network's router MAC.
pub(super) fn route(
    tables: &ForwardingTables,
    state: &mut WorkerState,
    egress: &mut Egress,
    mut packet: Packet,
) -> Result<(), Dropped> {
    let meta = &packet.meta;
    let network = &tables.networks[meta.zone as usize];
    let Some(router_id) = network.router else {
        return Err((packet, DropReason::NoRoute));
    };
    let router = &tables.routers[router_id as usize];
    if !meta.is_ip() {
        return Err((packet, DropReason::RouterLocal));
    }
    let destination = meta.flow.dst_ip();
    if router.gateway_ips.contains(&destination) {
        return Err((packet, DropReason::RouterLocal));
    }
    if meta.ttl <= 1 {
        return Err((packet, DropReason::TtlExpired));
    }
    let Some(&(_, next_network)) = router
        .networks
        .iter()
        .find(|(prefix, _)| prefix.contains(&destination))
    else {
        // North-south: leaves through SNAT when the router does it.
        if let Some(external_ip) = router.snat_ip {
            egress.note("routing", || {
                (
                    format!("{destination} is outside the networks of router {router_id}: SNAT"),
                    vec![("router", router_id.to_string())],
                )
            });
            return snat::outbound(tables, state, egress, packet, external_ip);
        }
        return Err((packet, DropReason::NoRoute));
    };
    let Some(&target) = tables.hosts.get(&(next_network, destination)) else {
        return Err((packet, DropReason::NoRoute));
    };
    let target_mac = tables.logical_ports[target as usize].mac;
    egress.note("routing", || {
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
    rewrite::decrement_ttl(&mut packet);
    packet.meta.zone = next_network;
    egress.send(tables, packet, target)
}
