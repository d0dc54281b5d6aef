//! A test frame built from a trace request's fields. What is left out comes from the
//! logical port the packet is sent from (source MAC and IP, VLAN) and the topology
//! (destination MAC: the port owning dst_ip in the network, else the router's MAC).

use std::net::IpAddr;

use etherparse::{PacketBuilder, VlanId};
use packet::MacAddr;

use super::proto as pb;
use topology::{Binding, Topology};

/// Builds the frame; errors name the field.
pub fn build(
    topology: &Topology,
    from: Option<usize>,
    fields: &pb::PacketFields,
) -> Result<Vec<u8>, String> {
    let from = from.map(|i| &topology.logical_ports[i]);
    let dst_ip: IpAddr = fields
        .dst_ip
        .parse()
        .map_err(|_| format!("dst_ip: \"{}\" is not an IP address", fields.dst_ip))?;
    let src_ip: IpAddr = match (&fields.src_ip, from.and_then(|lp| lp.ip)) {
        (Some(text), _) => text
            .parse()
            .map_err(|_| format!("src_ip: \"{text}\" is not an IP address"))?,
        (None, Some(ip)) => ip,
        (None, None) => return Err("src_ip: required (the logical port has no ip)".into()),
    };
    let src_mac = match (&fields.src_mac, from) {
        (Some(text), _) => mac("src_mac", text)?,
        (None, Some(lp)) => lp.mac,
        (None, None) => return Err("src_mac: required without a logical_port".into()),
    };
    let dst_mac = match &fields.dst_mac {
        Some(text) => mac("dst_mac", text)?,
        None => destination_mac(topology, from, dst_ip)
            .ok_or("dst_mac: required (no logical port or router owns dst_ip)")?,
    };
    let vlan = match (fields.vlan, from.map(|lp| &lp.binding)) {
        (Some(v), _) => Some(v),
        (None, Some(Binding::Local { vlan, .. })) => vlan.map(u32::from),
        _ => None,
    };
    let ttl = u8::try_from(fields.ttl.unwrap_or(64)).map_err(|_| "ttl: above 255")?;
    let protocol =
        fields
            .protocol
            .as_deref()
            .unwrap_or(if dst_ip.is_ipv4() { "icmp" } else { "icmpv6" });
    let port = |value: Option<u32>, field: &str| {
        u16::try_from(value.unwrap_or(if field == "src_port" { 49152 } else { 80 }))
            .map_err(|_| format!("{field}: above 65535"))
    };
    let src_port = port(fields.src_port, "src_port")?;
    let dst_port = port(fields.dst_port, "dst_port")?;

    let ethernet = PacketBuilder::ethernet2(src_mac.0, dst_mac.0);
    let mut out = Vec::with_capacity(128);
    macro_rules! transport {
        ($ip:expr, $icmp:ident, $icmp_name:literal) => {
            match protocol {
                "tcp" => $ip
                    .tcp(src_port, dst_port, 1, 65535)
                    .syn()
                    .write(&mut out, &[]),
                "udp" => $ip.udp(src_port, dst_port).write(&mut out, &[]),
                $icmp_name => $ip.$icmp(1, 1).write(&mut out, &[0u8; 8]),
                other => return Err(format!("protocol: unknown or wrong family \"{other}\"")),
            }
        };
    }
    macro_rules! network {
        ($l2:expr) => {
            match (src_ip, dst_ip) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    let ip = $l2.ipv4(s.octets(), d.octets(), ttl);
                    transport!(ip, icmpv4_echo_request, "icmp")
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    let ip = $l2.ipv6(s.octets(), d.octets(), ttl);
                    transport!(ip, icmpv6_echo_request, "icmpv6")
                }
                _ => return Err("src_ip: not the family of dst_ip".into()),
            }
        };
    }
    let written = match vlan {
        Some(v) => {
            let id = u16::try_from(v)
                .ok()
                .and_then(|v| VlanId::try_new(v).ok())
                .ok_or("vlan: outside 0..=4095")?;
            network!(ethernet.single_vlan(id))
        }
        None => network!(ethernet),
    };
    written.map_err(|e| format!("cannot build the frame: {e}"))?;
    Ok(out)
}

fn mac(field: &str, text: &str) -> Result<MacAddr, String> {
    text.parse()
        .map_err(|e| format!("{field}: \"{text}\" is not a MAC address: {e}"))
}

fn destination_mac(
    topology: &Topology,
    from: Option<&topology::LogicalPort>,
    dst: IpAddr,
) -> Option<MacAddr> {
    let network = from?.network;
    let owner = topology
        .logical_ports
        .iter()
        .find(|lp| lp.network == network && lp.ip == Some(dst));
    if let Some(owner) = owner {
        return Some(owner.mac);
    }
    topology
        .routers
        .iter()
        .find(|r| r.networks.contains(&network))
        .map(|r| r.mac)
}
