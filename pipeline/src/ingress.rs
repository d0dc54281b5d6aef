//! Ingress: parse once, find the logical port from (port, VLAN), strip a sub-port's
//! tag, and enforce port security.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use packet::meta::ip_proto;
use packet::{parse, rewrite, Packet, L3, L4};

use super::tables::{ForwardingTables, LogicalPortEntry};
use crate::counters::DropReason;

/// Admits a packet: fills its metadata and returns its logical port.
pub(super) fn admit(tables: &ForwardingTables, packet: &mut Packet) -> Result<u32, DropReason> {
    if !packet.meta.parsed {
        packet.meta = parse(packet.data())?;
    }
    let ingress = tables
        .ports
        .get(usize::from(packet.rx_port))
        .ok_or(DropReason::NoLogicalPort)?;
    // VLAN 0 is a priority tag: the frame belongs to the untagged logical port.
    let logical_port = match packet.meta.outer_vlan() {
        None => ingress.untagged.ok_or(DropReason::NoLogicalPort)?,
        Some(0) => {
            let id = ingress.untagged.ok_or(DropReason::NoLogicalPort)?;
            rewrite::pop_vlan(packet);
            id
        }
        Some(vlan) => {
            let id = *ingress.tagged.get(&vlan).ok_or(DropReason::UnknownVlan)?;
            rewrite::pop_vlan(packet);
            id
        }
    };
    let entry = &tables.logical_ports[logical_port as usize];
    if entry.port_security && !source_allowed(entry, packet) {
        return Err(DropReason::PortSecurity);
    }
    packet.meta.logical_port = logical_port;
    packet.meta.zone = entry.network;
    Ok(logical_port)
}

/// Port security: the frame's source MAC, and its source IP (or ARP sender), must be
/// the logical port's. A port without an IP is held to its MAC only.
fn source_allowed(entry: &LogicalPortEntry, packet: &Packet) -> bool {
    let frame = packet.data();
    if rewrite::source_mac(frame) != entry.mac {
        return false;
    }
    let meta = &packet.meta;
    let Some(own_ip) = entry.ip else {
        return true;
    };
    let source = meta.flow.src_ip();
    match meta.l3 {
        L3::Arp => {
            let l3 = usize::from(meta.l3_offset);
            let sender_mac_ok = frame.get(l3 + 8..l3 + 14) == Some(&entry.mac.0[..]);
            // An ARP probe (RFC 5227) announces nothing: sender address 0.0.0.0.
            sender_mac_ok && (source == own_ip || source == IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        }
        L3::Ipv4 => source == own_ip || is_dhcp_discovery(source, meta),
        L3::Ipv6 => {
            source == own_ip
                || source == IpAddr::V6(entry.link_local)
                // Duplicate address detection and MLD reports before an address is owned.
                || (source == IpAddr::V6(Ipv6Addr::UNSPECIFIED) && meta.l4 == L4::Icmpv6)
        }
        L3::None => true,
    }
}

/// A DHCP client has no address yet: 0.0.0.0:68 -> :67 is allowed from any port.
fn is_dhcp_discovery(source: IpAddr, meta: &packet::Meta) -> bool {
    source == IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        && meta.l4 == L4::Udp
        && meta.flow.protocol == ip_proto::UDP
        && meta.flow.src_port == 68
        && meta.flow.dst_port == 67
}
