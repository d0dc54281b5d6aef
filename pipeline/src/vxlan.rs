//! The VXLAN overlay in the pipeline: frames for a logical port hosted on another
//! chassis leave encapsulated on the uplink (or, too large for the uplink MTU, turn
//! into an ICMP error for the VM); VXLAN arriving on the uplink is checked,
//! decapsulated and forwarded as a frame from the remote logical port that sent it.

use packet::{parse, rewrite, MacAddr, Packet, Pool};
use vxlan::icmp::{self, Sender};
use vxlan::{encap, DecapError, EncapError, Endpoint};

use super::tables::{Attachment, ForwardingTables};
use super::{forward_from, Dropped, Egress, WorkerState};
use crate::counters::DropReason;

/// Encapsulates a frame for a logical port of `network` hosted on `chassis` and queues
/// it on the uplink.
pub(super) fn send_to_chassis(
    egress: &mut Egress,
    tables: &ForwardingTables,
    mut packet: Packet,
    chassis: u16,
    network: u32,
) -> Result<(), Dropped> {
    let overlay = &tables.vxlan;
    let Some(local) = &overlay.local else {
        return Err((packet, DropReason::NoTunnel));
    };
    // What came over the overlay is never relayed into it again: the sender's head-end
    // replication already reached every chassis, and relaying unicast could loop
    // between nodes whose tables disagree.
    if tables.uplink == Some(packet.rx_port) {
        return Err((packet, DropReason::VxlanTransit));
    }
    let remote = &overlay.chassis[usize::from(chassis)];
    let ipv6 = local.endpoint.ip.is_ipv6();
    let remote_mac = remote.mac.or_else(|| egress.learned.get(remote.ip));
    if encap::outer_ip_len(packet.len(), ipv6) > usize::from(local.mtu) {
        return too_big(egress, tables, packet, encap::inner_ip_mtu(local.mtu, ipv6));
    }
    let source_port = vxlan::source_port(vxlan::inner_entropy(packet.data(), &packet.meta));
    let destination = Endpoint {
        ip: remote.ip,
        // Filled in when the frame leaves the waiting queue.
        mac: remote_mac.unwrap_or(MacAddr::ZERO),
    };
    let vni = overlay.vnis[network as usize];
    if let Err(error) =
        vxlan::encapsulate(&mut packet, &local.endpoint, &destination, vni, source_port)
    {
        let reason = match error {
            EncapError::NoHeadroom => DropReason::NoHeadroom,
            EncapError::TooLarge => DropReason::MtuExceeded,
            EncapError::FamilyMismatch => DropReason::NoTunnel,
        };
        return Err((packet, reason));
    }
    egress.note("vxlan", || {
        (
            format!("encapsulated with VNI {vni} to chassis {chassis}"),
            vec![
                ("vni", vni.to_string()),
                ("chassis", chassis.to_string()),
                ("remote_vtep", remote.ip.to_string()),
                ("source_port", source_port.to_string()),
            ],
        )
    });
    if remote_mac.is_none() {
        let now = packet.timestamp_ns;
        return egress
            .neighbours
            .hold(remote.ip, packet, now)
            .map_err(|packet| (packet, DropReason::ResolveQueueFull));
    }
    egress.transmit(local.port, packet)
}

/// A frame too large for the underlay: counted as dropped, and turned into ICMP
/// "fragmentation needed" / ICMPv6 "packet too big" for its sender when one is due
/// (unicast IPv4 with DF or IPv6, from a local VM whose network has a router). The
/// error is built in the refused frame's buffer and sent from the gateway address and
/// router MAC of the sender's network.
fn too_big(
    egress: &mut Egress,
    tables: &ForwardingTables,
    mut packet: Packet,
    usable_mtu: u16,
) -> Result<(), Dropped> {
    let source_port = packet.meta.logical_port;
    let source = &tables.logical_ports[source_port as usize];
    let network = &tables.networks[source.network as usize];
    let sender = match (network.router_mac, network.gateway_ip) {
        (Some(mac), Some(ip)) => Sender { mac, ip },
        _ => return Err((packet, DropReason::MtuExceeded)),
    };
    let unicast = !rewrite::destination_mac(packet.data()).is_multicast();
    let local_source = matches!(source.attachment, Attachment::Local { .. });
    if !(unicast && local_source && icmp::earns_too_big(&packet, &sender)) {
        return Err((packet, DropReason::MtuExceeded));
    }
    egress.counters.drop(DropReason::MtuExceeded);
    if !icmp::into_too_big(&mut packet, &sender, source.mac, usable_mtu) {
        return Err((packet, DropReason::NoHeadroom));
    }
    egress.send(tables, packet, source_port)
}

/// VXLAN arriving on the uplink: outer checks, decapsulation, VNI to network, the
/// sender's binding, then forwarding as a frame of the remote logical port.
pub(super) fn receive(
    tables: &ForwardingTables,
    state: &mut WorkerState,
    egress: &mut Egress,
    pool: &mut Pool,
    mut packet: Packet,
) -> Result<(), Dropped> {
    let overlay = &tables.vxlan;
    let Some(local) = &overlay.local else {
        return Err((packet, DropReason::VxlanWrongDestination));
    };
    let outer = match vxlan::decapsulate(&mut packet, local.endpoint.ip) {
        Ok(outer) => outer,
        Err(error) => {
            let reason = match error {
                DecapError::NotVxlan | DecapError::Truncated => DropReason::VxlanTruncated,
                DecapError::WrongDestination => DropReason::VxlanWrongDestination,
                DecapError::BadFlags => DropReason::VxlanBadFlags,
            };
            return Err((packet, reason));
        }
    };
    let Some(&network) = overlay.network_by_vni.get(&outer.vni) else {
        return Err((packet, DropReason::VxlanUnknownVni));
    };
    let Some(&chassis) = overlay.chassis_by_ip.get(&outer.source) else {
        return Err((packet, DropReason::VxlanUnknownChassis));
    };
    egress.note("vxlan", || {
        (
            format!("decapsulated VNI {} from chassis {chassis}", outer.vni),
            vec![
                ("vni", outer.vni.to_string()),
                ("network", network.to_string()),
                ("chassis", chassis.to_string()),
            ],
        )
    });
    packet.meta = match parse(packet.data()) {
        Ok(meta) => meta,
        Err(error) => return Err((packet, error.into())),
    };
    // Logical ports on other chassis are never trunk sub-ports: inner frames are
    // untagged.
    if packet.meta.vlan_count > 0 {
        return Err((packet, DropReason::UnknownVlan));
    }
    let source_mac = rewrite::source_mac(packet.data());
    if tables.networks[network as usize].router_mac == Some(source_mac) {
        return deliver_routed(tables, egress, packet, network, chassis);
    }
    let sender = match tables.macs.get(&(network, source_mac)) {
        Some(&lp) if bound_to(tables, lp, chassis) => lp,
        _ => return Err((packet, DropReason::VxlanSourceMismatch)),
    };
    packet.meta.logical_port = sender;
    packet.meta.zone = network;
    forward_from(tables, state, egress, pool, packet, sender)
}

fn bound_to(tables: &ForwardingTables, logical_port: u32, chassis: u16) -> bool {
    tables.logical_ports[logical_port as usize].attachment == Attachment::Remote { chassis }
}

/// A frame the sending chassis' copy of the distributed router already routed into
/// `network` (inner source = the router MAC): its inner IP source must be a logical
/// port of one of the router's networks bound to that chassis; it is delivered to the
/// local port owning its destination MAC, unchanged.
fn deliver_routed(
    tables: &ForwardingTables,
    egress: &mut Egress,
    mut packet: Packet,
    network: u32,
    chassis: u16,
) -> Result<(), Dropped> {
    let entry = &tables.networks[network as usize];
    let source_ip = packet.meta.flow.src_ip();
    let sender = entry.router.and_then(|router| {
        tables.routers[router as usize]
            .networks
            .iter()
            .find_map(|&(_, net)| tables.hosts.get(&(net, source_ip)).copied())
            .filter(|&lp| bound_to(tables, lp, chassis))
    });
    let Some(sender) = sender.filter(|_| packet.meta.is_ip()) else {
        return Err((packet, DropReason::VxlanSourceMismatch));
    };
    let destination = rewrite::destination_mac(packet.data());
    let Some(&target) = tables.macs.get(&(network, destination)) else {
        return Err((packet, DropReason::NoDestination));
    };
    packet.meta.logical_port = sender;
    packet.meta.zone = network;
    egress.send(tables, packet, target)
}
