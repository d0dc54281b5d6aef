//! Connection tracking and distributed SNAT (IPv4).
//!
//! A tenant's packet towards the outside leaves with the node's (or its router's)
//! external address and a port from this worker's slice of the SNAT range; the
//! connection is tracked under the tenant's zone so overlapping tenants never
//! collide, and replies (and ICMP errors about the connection) are translated back.
//!
//! Behaviour (RFC 4787 / RFC 5382): mapping is address-and-port-dependent by default
//! (an external port is unique per remote endpoint, like Linux masquerading), or
//! endpoint-independent with [`Mapping::EndpointIndependent`]; filtering is always
//! address-and-port-dependent: only the remote endpoint a connection was opened to
//! gets in. Port choice: the tenant's own port (ICMP: identifier) when it lies in
//! this worker's slice and is free, else the next higher free port of the slice,
//! wrapping at its end; a tenant port outside the slice starts the search at
//! `first + port % slice_len`. IP fragments are not translated (dropped and counted
//! by the caller): a non-first fragment carries no ports to look up.

mod buckets;
pub mod config;
pub mod conntrack;
mod eim;
pub mod pages;
mod rewrite;
pub mod slices;
pub mod tcp;
pub mod translate;

use std::net::Ipv4Addr;

use packet::meta::ip_proto;
use packet::{Packet, L3, L4};

pub use config::{Mapping, NatConfig, Timeouts};
use conntrack::{Conn, ConnKey, ConnTable, ProtoState, OUTSIDE};
use eim::Endpoints;
pub use slices::PortSlices;
use tcp::{Direction, Tcp};
use translate::{is_error, quote, translate, translate_error, End};

const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
const NS_PER_SECOND: u64 = 1_000_000_000;

/// Why a packet was not translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatError {
    /// Not IPv4 TCP, UDP, ICMP echo or an ICMP error quoting one of those.
    Unsupported,
    /// An IP fragment.
    Fragment,
    /// A TCP packet other than a bare SYN for no known connection.
    TcpNotSyn,
    /// No free external port in this worker's slice for a new connection.
    PortsExhausted,
    /// The connection table is full.
    TableFull,
    /// Inbound (or an ICMP error) matching no connection.
    NoConnection,
}

/// Where a translated inbound packet goes: the tenant zone (network) and address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inbound {
    pub zone: u32,
    pub internal_ip: Ipv4Addr,
}

/// One worker's connection tracking and SNAT state.
pub struct Nat {
    config: NatConfig,
    slice: (u16, u16),
    table: ConnTable,
    endpoints: Endpoints,
}

impl Nat {
    pub fn new(config: NatConfig) -> Self {
        let slice = PortSlices::new(config.port_range, config.workers).slice(config.worker);
        let eim_capacity = match config.mapping {
            Mapping::EndpointIndependent => config.max_connections as usize,
            Mapping::AddressAndPortDependent => 0,
        };
        Nat {
            config,
            slice,
            table: ConnTable::with_capacity(config.max_connections),
            endpoints: Endpoints::with_capacity(eim_capacity),
        }
    }

    pub fn config(&self) -> &NatConfig {
        &self.config
    }

    /// This worker's slice of the port range.
    pub fn slice(&self) -> (u16, u16) {
        self.slice
    }

    /// The live connections (expired ones the sweep has not reached yet included).
    pub fn iter(&self) -> impl Iterator<Item = &conntrack::Conn> {
        self.table.iter()
    }

    pub fn connections(&self) -> usize {
        self.table.len()
    }

    /// Bytes allocated at start for the connection state.
    pub fn allocated_bytes(&self) -> usize {
        self.table.allocated_bytes()
    }

    /// What backs the connection slots and their index.
    pub fn pages(&self) -> (pages::Pages, pages::Pages) {
        self.table.pages()
    }

    /// For a burst: call a few packets ahead of `outbound` (or `inbound`) with the
    /// packet's key (`outbound_key`, `inbound_key`) to bring its bucket to the cache.
    pub fn prefetch_bucket(&self, key: &ConnKey) {
        self.table.prefetch_bucket(self.table.hash(key));
    }

    /// For a burst: call between `prefetch_bucket` and the translation (a couple of
    /// packets later) to bring the connection itself to the cache.
    pub fn prefetch_connection(&self, key: &ConnKey) {
        self.table.prefetch_connection(self.table.hash(key));
    }

    /// The hash the table files `key` under: computed once per packet of a burst for
    /// both prefetches (`prefetch_bucket_hashed`, `prefetch_connection_hashed`).
    pub fn hash(&self, key: &ConnKey) -> u64 {
        self.table.hash(key)
    }

    /// `prefetch_bucket` with the key's `hash` already computed.
    pub fn prefetch_bucket_hashed(&self, hash: u64) {
        self.table.prefetch_bucket(hash);
    }

    /// `prefetch_connection` with the key's `hash` already computed.
    pub fn prefetch_connection_hashed(&self, hash: u64) {
        self.table.prefetch_connection(hash);
    }

    /// The live connection with this original (tenant-side) key.
    pub fn find(&mut self, key: &ConnKey, now_ns: u64) -> Option<&Conn> {
        let (slot, _) = self.lookup(key, now_ns)?;
        Some(self.table.get(slot))
    }

    /// Takes in a copy of another table's connection (a trace against the live
    /// tables); refused when the table is full or the connection's keys are taken.
    pub fn adopt(&mut self, conn: Conn) -> Result<(), conntrack::TableFull> {
        if self.table.len() == self.table.capacity()
            || self.lookup(&conn.original, 0).is_some()
            || self.lookup(&conn.reply, 0).is_some()
        {
            return Err(conntrack::TableFull);
        }
        self.table.insert(conn)?;
        if self.config.mapping == Mapping::EndpointIndependent {
            let (ip, port) = conn.external();
            self.endpoints.acquire(&conn.original, ip, port);
        }
        Ok(())
    }

    /// Removes the connections `doomed` picks (an operator's flush), releasing their
    /// ports; returns how many.
    pub fn remove_if(&mut self, doomed: impl FnMut(&Conn) -> bool) -> usize {
        let endpoints = &mut self.endpoints;
        self.table.remove_if(doomed, |conn| endpoints.release(conn))
    }

    /// Bounded expiry work, called once per burst.
    pub fn sweep(&mut self, now_ns: u64) {
        let endpoints = &mut self.endpoints;
        self.table.sweep(now_ns, self.config.sweep_budget, |conn| {
            endpoints.release(conn)
        });
    }

    fn lookup(&mut self, key: &ConnKey, now_ns: u64) -> Option<(u32, Direction)> {
        let endpoints = &mut self.endpoints;
        self.table
            .lookup(key, now_ns, |conn| endpoints.release(conn))
    }

    /// Translates a tenant's IPv4 packet from `zone` to leave from `external_ip`,
    /// creating its connection if it is new.
    pub fn outbound(
        &mut self,
        packet: &mut Packet,
        zone: u32,
        external_ip: Ipv4Addr,
    ) -> Result<(), NatError> {
        let meta = &packet.meta;
        translatable(meta)?;
        let now = packet.timestamp_ns;
        match meta.l4 {
            L4::Tcp | L4::Udp => {}
            L4::Icmp if meta.icmp_type == ICMP_ECHO_REQUEST => {}
            L4::Icmp if is_error(meta.icmp_type) => return self.outbound_error(packet, zone),
            _ => return Err(NatError::Unsupported),
        }
        let key = key_of(packet, zone);
        let slot = match self.lookup(&key, now) {
            Some((slot, _)) => slot,
            None => self.open(packet, key, u32::from(external_ip))?,
        };
        let conn = self.table.get_mut(slot);
        touch(
            conn,
            Direction::Original,
            &packet.meta,
            &self.config.timeouts,
            now,
        );
        let (ip, port) = conn.external();
        translate(packet, End::Source, ip, port);
        Ok(())
    }

    /// Translates an IPv4 packet that arrived for an external address back to its
    /// tenant; refuses what matches no connection (no unsolicited inbound).
    pub fn inbound(&mut self, packet: &mut Packet) -> Result<Inbound, NatError> {
        let meta = &packet.meta;
        translatable(meta)?;
        let now = packet.timestamp_ns;
        match meta.l4 {
            L4::Tcp | L4::Udp => {}
            L4::Icmp if meta.icmp_type == ICMP_ECHO_REPLY => {}
            L4::Icmp if is_error(meta.icmp_type) => return self.inbound_error(packet),
            _ => return Err(NatError::NoConnection),
        }
        let key = key_of(packet, OUTSIDE);
        let (slot, _) = self.lookup(&key, now).ok_or(NatError::NoConnection)?;
        let conn = self.table.get_mut(slot);
        touch(
            conn,
            Direction::Reply,
            &packet.meta,
            &self.config.timeouts,
            now,
        );
        let (ip, port) = conn.internal();
        let zone = conn.original.zone;
        translate(packet, End::Destination, ip, port);
        Ok(Inbound {
            zone,
            internal_ip: Ipv4Addr::from(ip),
        })
    }

    /// An ICMP error from outside about a packet this node sent out translated.
    fn inbound_error(&mut self, packet: &mut Packet) -> Result<Inbound, NatError> {
        let quote = quote(packet).ok_or(NatError::NoConnection)?;
        let outer_dst =
            u32::from_be_bytes(packet.meta.flow.dst[..4].try_into().unwrap_or_default());
        if quote.src != outer_dst {
            return Err(NatError::NoConnection);
        }
        // The quoted packet went out; its reversal is the connection's reply key.
        let key = ConnKey {
            zone: OUTSIDE,
            src: quote.dst,
            dst: quote.src,
            src_port: quote.dst_port,
            dst_port: quote.src_port,
            protocol: quote.protocol,
        };
        let (slot, _) = self
            .lookup(&key, packet.timestamp_ns)
            .ok_or(NatError::NoConnection)?;
        let conn = self.table.get(slot);
        let (ip, port) = conn.internal();
        let zone = conn.original.zone;
        translate_error(packet, &quote, End::Source, ip, port);
        Ok(Inbound {
            zone,
            internal_ip: Ipv4Addr::from(ip),
        })
    }

    /// An ICMP error from a tenant about a reply it received translated.
    fn outbound_error(&mut self, packet: &mut Packet, zone: u32) -> Result<(), NatError> {
        let quote = quote(packet).ok_or(NatError::NoConnection)?;
        let outer_src =
            u32::from_be_bytes(packet.meta.flow.src[..4].try_into().unwrap_or_default());
        if quote.dst != outer_src {
            return Err(NatError::NoConnection);
        }
        let key = ConnKey {
            zone,
            src: quote.dst,
            dst: quote.src,
            src_port: quote.dst_port,
            dst_port: quote.src_port,
            protocol: quote.protocol,
        };
        let (slot, _) = self
            .lookup(&key, packet.timestamp_ns)
            .ok_or(NatError::NoConnection)?;
        let (ip, port) = self.table.get(slot).external();
        translate_error(packet, &quote, End::Destination, ip, port);
        Ok(())
    }

    /// Opens a connection for `original`: checks TCP may open it, picks the
    /// external port, inserts both keys.
    fn open(
        &mut self,
        packet: &Packet,
        original: ConnKey,
        external_ip: u32,
    ) -> Result<u32, NatError> {
        let state = match packet.meta.l4 {
            L4::Tcp if !tcp::opens(packet.meta.tcp_flags) => return Err(NatError::TcpNotSyn),
            L4::Tcp => ProtoState::Tcp(Tcp::default()),
            L4::Udp => ProtoState::UdpUnreplied,
            _ => ProtoState::Icmp,
        };
        if self.table.len() == self.table.capacity() {
            return Err(NatError::TableFull);
        }
        let port = self.allocate(&original, external_ip, packet.timestamp_ns)?;
        let conn = Conn {
            original,
            reply: reply_key(&original, external_ip, port),
            state,
            expires_ns: 0,
            live: true,
            packets: 0,
            bytes: 0,
        };
        let slot = self.table.insert(conn).map_err(|_| NatError::TableFull)?;
        if self.config.mapping == Mapping::EndpointIndependent {
            self.endpoints.acquire(&original, external_ip, port);
        }
        Ok(slot)
    }

    /// The external port for a new connection: the tenant's own when in this
    /// worker's slice and free, else the next higher free one, wrapping in the slice.
    fn allocate(
        &mut self,
        original: &ConnKey,
        external_ip: u32,
        now: u64,
    ) -> Result<u16, NatError> {
        let eim = self.config.mapping == Mapping::EndpointIndependent;
        if eim {
            if let Some(port) = self.endpoints.mapped(original, external_ip) {
                return Ok(port);
            }
        }
        let (first, last) = self.slice;
        let len = u32::from(last - first) + 1;
        let preferred = u32::from(original.src_port);
        let start = if (u32::from(first)..=u32::from(last)).contains(&preferred) {
            preferred - u32::from(first)
        } else {
            preferred % len
        };
        // The next few ports after the preferred one, then a walk from a point the
        // connection hashes to: many tenants wanting one port of one server would
        // otherwise each walk the run of ports the earlier ones took (quadratic).
        let scatter = scatter_start(original, len);
        let offsets = (0..NEXT_PORTS.min(len))
            .map(|step| start + step)
            .chain((0..len).map(|step| scatter + step));
        for offset in offsets {
            let port = (u32::from(first) + offset % len) as u16;
            let free = if eim {
                self.endpoints.is_free(external_ip, original.protocol, port)
            } else {
                self.lookup(&reply_key(original, external_ip, port), now)
                    .is_none()
            };
            if free {
                return Ok(port);
            }
        }
        Err(NatError::PortsExhausted)
    }
}

/// Ports tried after the preferred one before the search scatters.
const NEXT_PORTS: u32 = 8;

/// Where a connection's port search goes on once the ports next to its preferred one
/// are taken: spread by its source, so tenants clashing on one port spread out.
fn scatter_start(original: &ConnKey, len: u32) -> u32 {
    let mixed = (original.src ^ (u32::from(original.src_port) << 16) ^ original.zone)
        .wrapping_mul(0x9e37_79b1);
    ((u64::from(mixed) * u64::from(len)) >> 32) as u32
}

/// Only unfragmented IPv4 is translated (a non-first fragment has no ports).
fn translatable(meta: &packet::Meta) -> Result<(), NatError> {
    if meta.l3 != L3::Ipv4 {
        return Err(NatError::Unsupported);
    }
    if meta.fragment {
        return Err(NatError::Fragment);
    }
    Ok(())
}

/// The key `Nat::outbound` looks up for a tenant's packet from `zone` (an ICMP error
/// is looked up by its quote instead: prefetching this key for it is only wasted).
pub fn outbound_key(packet: &Packet, zone: u32) -> ConnKey {
    key_of(packet, zone)
}

/// The key `Nat::inbound` looks up for a packet from outside.
pub fn inbound_key(packet: &Packet) -> ConnKey {
    key_of(packet, OUTSIDE)
}

/// The key of a parsed packet in `zone` (ICMP echo: both ports are the identifier,
/// as `FlowKey` has them).
fn key_of(packet: &Packet, zone: u32) -> ConnKey {
    let flow = &packet.meta.flow;
    let word = |bytes: &[u8; 16]| u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    ConnKey {
        zone,
        src: word(&flow.src),
        dst: word(&flow.dst),
        src_port: flow.src_port,
        dst_port: flow.dst_port,
        protocol: flow.protocol,
    }
}

/// What the remote sends back to `external_ip:port` for a connection.
fn reply_key(original: &ConnKey, external_ip: u32, port: u16) -> ConnKey {
    let remote_port = if original.protocol == ip_proto::ICMP {
        port
    } else {
        original.dst_port
    };
    ConnKey {
        zone: OUTSIDE,
        src: original.dst,
        dst: external_ip,
        src_port: remote_port,
        dst_port: port,
        protocol: original.protocol,
    }
}

/// Moves a connection's state for a packet and sets its expiry from the new state.
fn touch(
    conn: &mut Conn,
    direction: Direction,
    meta: &packet::Meta,
    timeouts: &Timeouts,
    now: u64,
) {
    let seconds = match &mut conn.state {
        ProtoState::Tcp(tcp) => {
            tcp.update(direction, meta.tcp_flags);
            tcp.timeout(timeouts)
        }
        state @ ProtoState::UdpUnreplied if direction == Direction::Reply => {
            *state = ProtoState::UdpReplied;
            timeouts.udp_replied
        }
        ProtoState::UdpUnreplied => timeouts.udp_unreplied,
        ProtoState::UdpReplied => timeouts.udp_replied,
        ProtoState::Icmp => timeouts.icmp,
    };
    conn.expires_ns = now.saturating_add(u64::from(seconds) * NS_PER_SECOND);
    conn.packets = conn.packets.saturating_add(1);
    conn.bytes += u64::from(meta.l3_end.saturating_sub(meta.l3_offset));
}

#[cfg(test)]
mod tests;
