//! The first pass over a burst, before any packet goes through the stages (VPP's
//! dual/quad loops): every frame is parsed, and a frame that will be translated by
//! SNAT has its connection's hash computed and its conntrack bucket requested from
//! memory. The second pass (the stages) then asks for the connection itself a few
//! packets ahead, so that a lookup finds both lines in the cache instead of waiting
//! for two loads from memory in turn.

use std::net::IpAddr;

use packet::{Packet, L3, L4};

use super::tables::ForwardingTables;
use crate::counters::DropReason;

/// What the first pass learned about a packet, for the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Staged {
    /// Nothing to look up ahead.
    Plain,
    /// The frame does not parse: dropped for this reason without running a stage
    /// (the stage would parse it again and refuse it the same way).
    Malformed(DropReason),
    /// SNAT will look up the connection filed under this hash (its bucket is on its
    /// way to the cache).
    Connection(u64),
}

/// Parses `packet` (unless a driver or dispatcher did) and starts loading what its
/// lookups will read.
#[inline]
pub(super) fn stage(tables: &ForwardingTables, nat: &nat::Nat, packet: &mut Packet) -> Staged {
    if !packet.meta.parsed {
        if let Err(error) = packet.parse() {
            return Staged::Malformed(error.into());
        }
    }
    let key = if tables.is_uplink(packet.rx_port) {
        if !super::snat::is_for_external_ip(tables, packet) || !translatable(packet) {
            return Staged::Plain;
        }
        nat::inbound_key(packet)
    } else {
        match snat_zone(tables, packet) {
            Some(zone) => nat::outbound_key(packet, zone),
            None => return Staged::Plain,
        }
    };
    let hash = nat.hash(&key);
    nat.prefetch_bucket_hashed(hash);
    Staged::Connection(hash)
}

/// IPv4 TCP, UDP or ICMP echo, not a fragment: what SNAT looks up by its 5-tuple
/// (an ICMP error is looked up by its quote, not worth a prefetch).
fn translatable(packet: &Packet) -> bool {
    let meta = &packet.meta;
    meta.l3 == L3::Ipv4
        && !meta.fragment
        && match meta.l4 {
            L4::Tcp | L4::Udp => true,
            L4::Icmp => !nat::translate::is_error(meta.icmp_type),
            _ => false,
        }
}

/// The zone SNAT will translate a frame from a VM-side port in, when it will: the
/// network of the logical port the frame arrives on (known from the port and VLAN
/// before ingress), whose router translates, for a frame to the router MAC whose
/// destination lies outside the router's networks. A guess that ingress, port
/// security or SFC may still overrule; a wrong one only costs a prefetch.
fn snat_zone(tables: &ForwardingTables, packet: &Packet) -> Option<u32> {
    if !translatable(packet) {
        return None;
    }
    let ingress = tables.ports.get(usize::from(packet.rx_port))?;
    let logical_port = match packet.meta.outer_vlan() {
        None | Some(0) => ingress.untagged?,
        Some(vlan) => *ingress.tagged.get(&vlan)?,
    };
    let zone = tables.logical_port(logical_port).network;
    let network = tables.network(zone);
    let router = network.router?;
    tables.router(router).snat_ip?;
    let frame = packet.data();
    if network.router_mac != Some(packet::rewrite::destination_mac(frame)) {
        return None;
    }
    let destination: IpAddr = packet.meta.flow.dst_ip();
    if tables.routes.lookup(router, destination).is_some() {
        return None;
    }
    Some(zone.0)
}
