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

/// Below this many tracked connections (128 KiB of them, with their buckets) the
/// first pass requests none: the table is in the core's caches already.
const PREFETCH_MIN_CONNECTIONS: usize = 2048;

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
    // A small table stays in the core's caches: nothing to prefetch.
    if nat.connections() < PREFETCH_MIN_CONNECTIONS {
        return Staged::Plain;
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
    // Most frames that are not routed leave here.
    if network.router_mac != Some(packet::rewrite::destination_mac(packet.data())) {
        return None;
    }
    let router = network.router?;
    tables.router(router).snat_ip?;
    let destination: IpAddr = packet.meta.flow.dst_ip();
    if tables.routes.lookup(router, destination).is_some() {
        return None;
    }
    Some(zone.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::LogicalPortId;
    use topology::Topology;

    const EXAMPLE: &str = include_str!("../../dataplane/tests/data/topology-example.toml");

    /// A UDP frame from green-vm1 (on port vm1) to `dst_mac`, `dst_ip`, from UDP port
    /// `src_port`.
    fn from_green_vm1(
        topology: &Topology,
        pool: &mut packet::Pool,
        dst_mac: [u8; 6],
        dst_ip: [u8; 4],
        src_port: u16,
    ) -> Packet {
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([0xfa, 0x16, 0x3e, 0, 1, 1], dst_mac)
            .ipv4([10, 0, 0, 5], dst_ip, 64)
            .udp(src_port, 53)
            .write(&mut frame, &[0; 8])
            .unwrap();
        let mut packet = pool.alloc_copy(&frame).unwrap();
        packet.rx_port = topology.ports.iter().position(|p| p.name == "vm1").unwrap() as u16;
        packet
    }

    const ROUTER_MAC: [u8; 6] = [0x02, 0, 0x0a, 0, 0, 1];

    #[test]
    fn only_a_frame_snat_will_translate_gets_its_connection_requested() {
        let topology = Topology::from_toml_str(EXAMPLE).unwrap();
        let tables = ForwardingTables::build(&topology);
        let mut pool = packet::Pool::new(packet::PoolConfig {
            buffers: 8,
            ..packet::PoolConfig::default()
        });
        let mut nat = nat::Nat::new(tables.snat.config);
        // To the router MAC, outside green-router's networks: SNAT, in green-net's zone;
        // but not while the connection table is small enough to stay in the caches.
        let server = [198, 51, 100, 7];
        let mut outside = from_green_vm1(&topology, &mut pool, ROUTER_MAC, server, 40000);
        assert_eq!(stage(&tables, &nat, &mut outside), Staged::Plain);
        let external = std::net::Ipv4Addr::new(203, 0, 113, 11);
        for port in 0..PREFETCH_MIN_CONNECTIONS as u16 {
            let mut other = from_green_vm1(&topology, &mut pool, ROUTER_MAC, server, 10_000 + port);
            other.parse().unwrap();
            nat.outbound(&mut other, 0, external).unwrap();
            pool.free(other);
        }
        assert_eq!(nat.connections(), PREFETCH_MIN_CONNECTIONS);
        let staged = stage(&tables, &nat, &mut outside);
        assert!(outside.meta.parsed, "parsed in the first pass");
        let zone = tables
            .logical_port(LogicalPortId(outside_port(&topology)))
            .network
            .0;
        assert_eq!(
            staged,
            Staged::Connection(nat.hash(&nat::outbound_key(&outside, zone)))
        );
        // Inside the router's networks, or to a VM's MAC: nothing to look up.
        let mut routed = from_green_vm1(&topology, &mut pool, ROUTER_MAC, [10, 0, 0, 9], 40000);
        assert_eq!(stage(&tables, &nat, &mut routed), Staged::Plain);
        let web_mac = [0xfa, 0x16, 0x3e, 0, 1, 9];
        let mut switched = from_green_vm1(&topology, &mut pool, web_mac, [10, 0, 0, 9], 40000);
        assert_eq!(stage(&tables, &nat, &mut switched), Staged::Plain);
        // A frame that does not parse keeps its reason for the drop.
        let mut broken = from_green_vm1(&topology, &mut pool, ROUTER_MAC, server, 40000);
        broken.data_mut()[14] = 0x05;
        assert_eq!(
            stage(&tables, &nat, &mut broken),
            Staged::Malformed(DropReason::Malformed)
        );
        for packet in [outside, routed, switched, broken] {
            pool.free(packet);
        }
    }

    /// The logical port of green-vm1.
    fn outside_port(topology: &Topology) -> u32 {
        topology.logical_port_by_name("green-vm1").unwrap().index() as u32
    }
}
