//! Distributed SNAT in the pipeline: routed north-south packets leave through the
//! uplink translated by the worker's `nat::Nat`; replies arriving on the uplink for an
//! external address are translated back and delivered to the VM.

use std::net::{IpAddr, Ipv4Addr};

use packet::{rewrite, MacAddr, Packet, L3, L4};

use super::tables::ForwardingTables;
use super::{Dropped, Egress, WorkerState};
use crate::counters::DropReason;

/// Translates a routed packet whose destination is outside its router's networks
/// and sends it to the external gateway. The router checked the TTL.
pub(super) fn outbound(
    tables: &ForwardingTables,
    state: &mut WorkerState,
    egress: &mut Egress,
    mut packet: Packet,
    external_ip: Ipv4Addr,
) -> Result<(), Dropped> {
    let snat = &tables.snat;
    // IPv6 north-south is not translated (no NAT66): no route out.
    if packet.meta.l3 != L3::Ipv4 {
        return Err((packet, DropReason::NoRoute));
    }
    let (Some(uplink), Some(uplink_mac)) = (tables.uplink, snat.uplink_mac) else {
        return Err((packet, DropReason::SnatNoGatewayMac));
    };
    // The gateway's MAC: configured, or resolved by ARP on the uplink.
    let gateway_mac = match (snat.gateway_mac, snat.resolve_gateway) {
        (Some(mac), _) => Some(mac),
        (None, Some((gateway, _))) => egress.learned.get(IpAddr::V4(gateway)),
        (None, None) => return Err((packet, DropReason::SnatNoGatewayMac)),
    };
    let zone = packet.meta.zone;
    let tenant = (packet.meta.flow.src_ip(), packet.meta.flow.src_port);
    if let Err(error) = state.nat.outbound(&mut packet, zone, external_ip) {
        return Err((packet, error.into()));
    }
    egress.note("snat", || {
        let port = translated_source_port(&packet);
        (
            format!(
                "source {}:{} translated to {external_ip}:{port}",
                tenant.0, tenant.1
            ),
            vec![
                ("external_ip", external_ip.to_string()),
                ("external_port", port.to_string()),
            ],
        )
    });
    rewrite::set_macs(
        packet.data_mut(),
        gateway_mac.unwrap_or(MacAddr::ZERO),
        uplink_mac,
    );
    rewrite::decrement_ttl(&mut packet);
    match (gateway_mac, snat.resolve_gateway) {
        (None, Some((gateway, _))) => {
            // Waits, translated, for the gateway's answer; its MAC is filled then.
            let now = packet.timestamp_ns;
            egress
                .neighbours
                .hold(IpAddr::V4(gateway), packet, now)
                .map_err(|packet| (packet, DropReason::ResolveQueueFull))
        }
        _ => egress.transmit(uplink, packet),
    }
}

/// IPv4 addressed to one of this node's external addresses.
pub(super) fn is_for_external_ip(tables: &ForwardingTables, packet: &Packet) -> bool {
    packet.meta.l3 == L3::Ipv4
        && matches!(packet.meta.flow.dst_ip(), IpAddr::V4(ip) if tables.snat.external_ips.contains(&ip))
}

/// The source port (ICMP echo: identifier) of a translated packet, read from the
/// frame (for traces).
fn translated_source_port(packet: &Packet) -> u16 {
    let l4 = usize::from(packet.meta.l4_offset);
    let at = if packet.meta.l4 == L4::Icmp {
        l4 + 4
    } else {
        l4
    };
    match packet.data().get(at..at + 2) {
        Some(bytes) => u16::from_be_bytes([bytes[0], bytes[1]]),
        None => 0,
    }
}

/// For a packet arriving on the uplink for an external address: the external port
/// its connection was given (a reply's destination port, or the source port quoted
/// in an ICMP error). The port names the worker that owns the connection.
pub fn external_port(tables: &ForwardingTables, packet: &Packet) -> Option<u16> {
    if !is_for_external_ip(tables, packet) {
        return None;
    }
    if packet.meta.l4 == L4::Icmp && nat::translate::is_error(packet.meta.icmp_type) {
        return nat::translate::quote(packet).map(|quote| quote.src_port);
    }
    Some(packet.meta.flow.dst_port)
}

/// Translates a reply back to its tenant and delivers it as the router would.
pub(super) fn inbound(
    tables: &ForwardingTables,
    state: &mut WorkerState,
    egress: &mut Egress,
    mut packet: Packet,
) -> Result<(), Dropped> {
    if packet.meta.ttl <= 1 {
        return Err((packet, DropReason::TtlExpired));
    }
    let to = match state.nat.inbound(&mut packet) {
        Ok(to) => to,
        Err(error) => return Err((packet, error.into())),
    };
    let Some(&target) = tables.hosts.get(&(to.zone, IpAddr::V4(to.internal_ip))) else {
        return Err((packet, DropReason::NoRoute));
    };
    let Some(router_mac) = tables.networks[to.zone as usize].router_mac else {
        return Err((packet, DropReason::NoRoute));
    };
    egress.note("snat", || {
        (
            format!("reply translated back to {}", to.internal_ip),
            vec![
                ("internal_ip", to.internal_ip.to_string()),
                ("logical_port", target.to_string()),
            ],
        )
    });
    let target_mac = tables.logical_ports[target as usize].mac;
    rewrite::set_macs(packet.data_mut(), target_mac, router_mac);
    rewrite::decrement_ttl(&mut packet);
    packet.meta.zone = to.zone;
    egress.send(tables, packet, target)
}
