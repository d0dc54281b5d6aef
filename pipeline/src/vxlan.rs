//! The VXLAN overlay in the pipeline: frames for a logical port hosted on another
//! chassis leave encapsulated on the uplink (or, too large for the uplink MTU, turn
//! into an ICMP error for the VM); VXLAN arriving on the uplink is checked,
//! decapsulated and forwarded as a frame from the remote logical port that sent it.

use packet::{parse_into, rewrite, MacAddr, Packet};
use vxlan::icmp::{self, Sender};
use vxlan::{encap, DecapError, EncapError, Endpoint};

use super::graph::{Context, Next, Stage};
use super::tables::{Attachment, ChassisId, ForwardingTables, LogicalPortId, NetworkId};
use crate::counters::DropReason;

/// Encapsulates a frame for a logical port of `network` hosted on `chassis` and queues
/// it on the uplink.
pub(super) fn send_to_chassis(
    tables: &ForwardingTables,
    cx: &mut Context,
    packet: &mut Packet,
    chassis: ChassisId,
    network: NetworkId,
) -> Next {
    let overlay = &tables.vxlan;
    let Some(local) = &overlay.local else {
        return Next::Drop(DropReason::NoTunnel);
    };
    // What came over the overlay is never relayed into it again: the sender's head-end
    // replication already reached every chassis, and relaying unicast could loop
    // between nodes whose tables disagree.
    if tables.is_uplink(packet.rx_port) {
        return Next::Drop(DropReason::VxlanTransit);
    }
    let remote = overlay.chassis(chassis);
    if remote.down {
        return Next::Drop(DropReason::ChassisDown);
    }
    let ipv6 = local.endpoint.ip.is_ipv6();
    let remote_mac = remote.mac.or_else(|| cx.learned.get(remote.ip));
    if encap::outer_ip_len(packet.len(), ipv6) > usize::from(local.mtu) {
        return too_big(tables, cx, packet, encap::inner_ip_mtu(local.mtu, ipv6));
    }
    let source_port = vxlan::source_port(vxlan::inner_entropy(packet.data(), &packet.meta));
    let destination = Endpoint {
        ip: remote.ip,
        // Filled in when the frame leaves the waiting queue.
        mac: remote_mac.unwrap_or(MacAddr::ZERO),
    };
    let vni = overlay.vnis[network.index()];
    if let Err(error) = vxlan::encapsulate(packet, &local.endpoint, &destination, vni, source_port)
    {
        let reason = match error {
            EncapError::NoHeadroom => DropReason::NoHeadroom,
            EncapError::TooLarge => DropReason::MtuExceeded,
            EncapError::FamilyMismatch => DropReason::NoTunnel,
        };
        return Next::Drop(reason);
    }
    cx.note("vxlan", || {
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
        return Next::Hold(remote.ip);
    }
    Next::Transmit(local.port)
}

/// A frame too large for the underlay: counted as dropped, and turned into ICMP
/// "fragmentation needed" / ICMPv6 "packet too big" for its sender when one is due
/// (unicast IPv4 with DF or IPv6, from a local VM whose network has a router). The
/// error is built in the refused frame's buffer and sent from the gateway address and
/// router MAC of the sender's network.
fn too_big(
    tables: &ForwardingTables,
    cx: &mut Context,
    packet: &mut Packet,
    usable_mtu: u16,
) -> Next {
    let source_port = LogicalPortId(packet.meta.logical_port);
    let source = tables.logical_port(source_port);
    let network = tables.network(source.network);
    let sender = match (network.router_mac, network.gateway_ip) {
        (Some(mac), Some(ip)) => Sender { mac, ip },
        _ => return Next::Drop(DropReason::MtuExceeded),
    };
    let unicast = !rewrite::destination_mac(packet.data()).is_multicast();
    let local_source = matches!(source.attachment, Attachment::Local { .. });
    if !(unicast && local_source && icmp::earns_too_big(packet, &sender)) {
        return Next::Drop(DropReason::MtuExceeded);
    }
    cx.counters.drop(DropReason::MtuExceeded);
    if !icmp::into_too_big(packet, &sender, source.mac, usable_mtu) {
        return Next::Drop(DropReason::NoHeadroom);
    }
    Next::SendToLogicalPort(source_port)
}

/// VXLAN arriving on the uplink: outer checks, decapsulation, VNI to network, the
/// sender's binding, then forwarding as a frame of the remote logical port.
pub(super) fn receive(tables: &ForwardingTables, cx: &mut Context, packet: &mut Packet) -> Next {
    let overlay = &tables.vxlan;
    let Some(local) = &overlay.local else {
        return Next::Drop(DropReason::VxlanWrongDestination);
    };
    let outer = match vxlan::decapsulate(packet, local.endpoint.ip) {
        Ok(outer) => outer,
        Err(error) => {
            let reason = match error {
                DecapError::NotVxlan | DecapError::Truncated => DropReason::VxlanTruncated,
                DecapError::WrongDestination => DropReason::VxlanWrongDestination,
                DecapError::BadFlags => DropReason::VxlanBadFlags,
            };
            return Next::Drop(reason);
        }
    };
    // One lookup in the common case: the inner source is a logical port of the VNI's
    // network bound to the chassis the frame came from. Anything else takes the
    // lookups one by one, which say what is wrong.
    let known = overlay
        .senders
        .get(&(outer.vni, rewrite::source_mac(packet.data())))
        .filter(|sender| overlay.chassis(sender.chassis).ip == outer.source);
    let (network, chassis, known_sender) = match known {
        Some(sender) => (sender.network, sender.chassis, Some(sender.logical_port)),
        None => {
            let Some(&network) = overlay.network_by_vni.get(&outer.vni) else {
                return Next::Drop(DropReason::VxlanUnknownVni);
            };
            let Some(&chassis) = overlay.chassis_by_ip.get(&outer.source) else {
                return Next::Drop(DropReason::VxlanUnknownChassis);
            };
            (network, chassis, None)
        }
    };
    cx.note("vxlan", || {
        (
            format!("decapsulated VNI {} from chassis {chassis}", outer.vni),
            vec![
                ("vni", outer.vni.to_string()),
                ("network", network.to_string()),
                ("chassis", chassis.to_string()),
            ],
        )
    });
    // In place; a NIC's checksum verdict was about the outer header, not this one.
    let (header, inner) = packet.parts_mut();
    if let Err(error) = parse_into(&mut header.meta, inner, false) {
        return Next::Drop(error.into());
    }
    // Logical ports on other chassis are never trunk sub-ports: inner frames are
    // untagged.
    if packet.meta.vlan_count > 0 {
        return Next::Drop(DropReason::UnknownVlan);
    }
    let source_mac = rewrite::source_mac(packet.data());
    if tables.network(network).router_mac == Some(source_mac) {
        return deliver_routed(tables, packet, network, chassis);
    }
    let sender = match (known_sender, tables.macs.get(&(network, source_mac))) {
        (Some(lp), _) => lp,
        (None, Some(&lp)) if bound_to(tables, lp, chassis) => lp,
        _ => return Next::Drop(DropReason::VxlanSourceMismatch),
    };
    packet.meta.logical_port = sender.0;
    packet.meta.zone = network.0;
    Next::Stage(Stage::Forward(sender))
}

fn bound_to(tables: &ForwardingTables, logical_port: LogicalPortId, chassis: ChassisId) -> bool {
    tables.logical_port(logical_port).attachment == Attachment::Remote { chassis }
}

/// A frame the sending chassis' copy of the distributed router already routed into
/// `network` (inner source = the router MAC): its inner IP source must be a logical
/// port of one of the router's networks bound to that chassis; it is delivered to the
/// local port owning its destination MAC, unchanged.
fn deliver_routed(
    tables: &ForwardingTables,
    packet: &mut Packet,
    network: NetworkId,
    chassis: ChassisId,
) -> Next {
    let entry = tables.network(network);
    let source_ip = packet.meta.flow.src_ip();
    let sender = entry.router.and_then(|router| {
        tables
            .router(router)
            .networks
            .iter()
            .find_map(|&(_, net)| tables.hosts.get(&(net, source_ip)).copied())
            .filter(|&lp| bound_to(tables, lp, chassis))
    });
    let Some(sender) = sender.filter(|_| packet.meta.is_ip()) else {
        return Next::Drop(DropReason::VxlanSourceMismatch);
    };
    let destination = rewrite::destination_mac(packet.data());
    let Some(&target) = tables.macs.get(&(network, destination)) else {
        return Next::Drop(DropReason::NoDestination);
    };
    packet.meta.logical_port = sender.0;
    packet.meta.zone = network.0;
    Next::SendToLogicalPort(target)
}
