//! Sending a packet to a hop's service function, and recognising what comes back.

use packet::meta::ether_type;
use packet::{parse, rewrite, Packet, ParseError};

use crate::chain::{Chain, ChainTables, Encap, HopRef};
use crate::proxy::ProxyTable;
use crate::select::FlowPins;
use crate::{mpls, nsh};

/// One worker's SFC memory.
pub struct SfcState {
    pub pins: FlowPins,
    pub proxy: ProxyTable,
}

impl SfcState {
    pub fn new(pins: usize, proxied_flows: usize) -> Self {
        SfcState {
            pins: FlowPins::new(pins),
            proxy: ProxyTable::new(proxied_flows),
        }
    }
}

impl Default for SfcState {
    fn default() -> Self {
        SfcState::new(1 << 15, 1 << 15)
    }
}

/// Why a packet could not be sent to a service function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteerError {
    /// MPLS carries IP only.
    NotIp,
    NoHeadroom,
    /// The proxy must remember the flow and its table is full.
    ProxyTableFull,
}

/// Why a frame from a service function's port is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnError {
    /// An MPLS label naming no hop that returns on this port.
    UnknownLabel,
    /// An NSH SPI/SI naming no hop that returns on this port.
    UnknownPath,
    /// An NSH header this dataplane does not accept (version, next protocol, length).
    BadNsh,
    /// A plain frame on a proxied function's port that the proxy sent no flow for.
    NoProxyFlow,
    /// The frame inside the NSH does not parse.
    Inner(ParseError),
}

/// Sends `packet` (an untagged frame as its source sent it, or as the previous
/// function returned it) towards the service function of `hop`: picks the pair,
/// encapsulates for it, and returns the logical port to transmit on.
pub fn steer(
    tables: &ChainTables,
    state: &mut SfcState,
    packet: &mut Packet,
    hop: HopRef,
) -> Result<u32, SteerError> {
    let index = select_pair(tables, state, packet, hop);
    steer_to(tables, state, packet, hop, index)
}

/// The pair (index in the hop's group) the packet's flow is pinned to, placing it when
/// it has none.
#[inline]
pub fn select_pair(
    tables: &ChainTables,
    state: &mut SfcState,
    packet: &Packet,
    hop: HopRef,
) -> usize {
    let chain = tables.chain(hop);
    let (group, _) = chain.group_at(hop.position);
    state
        .pins
        .select(chain, group, &packet.meta.flow, packet.timestamp_ns)
}

/// [`steer`] to a pair already selected (a caller that remembers the flow's pin):
/// `index` is a pair of the hop's group, as [`select_pair`] returned it under the
/// same tables.
pub fn steer_to(
    tables: &ChainTables,
    state: &mut SfcState,
    packet: &mut Packet,
    hop: HopRef,
    index: usize,
) -> Result<u32, SteerError> {
    let chain = tables.chain(hop);
    let (group, reverse) = chain.group_at(hop.position);
    let now = packet.timestamp_ns;
    let pair = &chain.groups[group].pairs[index];
    let (send_port, send_mac, return_port) = pair.direction(reverse);
    let si = Chain::service_index(hop.position);
    match pair.encap {
        Encap::Proxy => {
            // A port serving one proxied hop needs no memory: the port says the hop.
            if tables.proxied_hops(return_port).len() > 1
                && !state.proxy.record(return_port, &packet.meta.flow, hop, now)
            {
                return Err(SteerError::ProxyTableFull);
            }
            set_destination(packet, send_mac);
        }
        Encap::Mpls => {
            if !packet.meta.is_ip() {
                return Err(SteerError::NotIp);
            }
            if !mpls::push(packet, chain.chain_id, si, chain.mpls_ttl) {
                return Err(SteerError::NoHeadroom);
            }
            set_destination(packet, send_mac);
        }
        Encap::Nsh => {
            if !nsh::push(packet, u32::from(chain.chain_id), si, send_mac) {
                return Err(SteerError::NoHeadroom);
            }
        }
    }
    Ok(send_port)
}

fn set_destination(packet: &mut Packet, mac: packet::MacAddr) {
    let frame = packet.data_mut();
    let source = rewrite::source_mac(frame);
    rewrite::set_macs(frame, mac, source);
}

/// Looks at a frame received on `logical_port`: `Ok(None)` when it is not a service
/// function's output (the pipeline forwards it as any other), `Ok(Some(hop))` when it
/// completes `hop` (its encapsulation removed, metadata refreshed), or why it is refused.
pub fn take_back(
    tables: &ChainTables,
    state: &mut SfcState,
    packet: &mut Packet,
    logical_port: u32,
) -> Result<Option<HopRef>, ReturnError> {
    if !tables.is_return_port(logical_port) {
        return Ok(None);
    }
    match packet.meta.ether_type {
        ether_type::MPLS => {
            let (chain_id, si) = mpls::label_of(packet.meta.mpls_top);
            let hop = tables
                .hop_of(chain_id, si, logical_port, Encap::Mpls)
                .ok_or(ReturnError::UnknownLabel)?;
            if !mpls::pop(packet) {
                return Err(ReturnError::UnknownLabel);
            }
            Ok(Some(hop))
        }
        nsh::ETHER_TYPE => {
            let header = nsh::read(packet.data()).ok_or(ReturnError::BadNsh)?;
            let chain_id = u16::try_from(header.spi).map_err(|_| ReturnError::UnknownPath)?;
            let hop = tables
                .hop_of(chain_id, header.si, logical_port, Encap::Nsh)
                .ok_or(ReturnError::UnknownPath)?;
            packet.pull_front(header.outer_len);
            let (port, zone) = (packet.meta.logical_port, packet.meta.zone);
            packet.meta = parse(packet.data()).map_err(ReturnError::Inner)?;
            packet.meta.logical_port = port;
            packet.meta.zone = zone;
            Ok(Some(hop))
        }
        _ => {
            let proxied = tables.proxied_hops(logical_port);
            if proxied.is_empty() || !packet.meta.is_ip() {
                return Ok(None);
            }
            if let [only] = proxied {
                return Ok(Some(*only));
            }
            state
                .proxy
                .lookup(logical_port, &packet.meta.flow, packet.timestamp_ns)
                .map(Some)
                .ok_or(ReturnError::NoProxyFlow)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{Group, Pair};
    use packet::{MacAddr, Pool, PoolConfig};

    fn proxied(key: u64, ingress: u32, egress: u32) -> Pair {
        Pair {
            key,
            ingress,
            egress,
            ingress_mac: MacAddr([2, 0, 0, 0, 0, ingress as u8]),
            egress_mac: MacAddr([2, 0, 0, 0, 0, egress as u8]),
            encap: Encap::Proxy,
            weight: 1,
        }
    }

    /// Two chains whose proxied functions both return on logical port 9.
    fn shared_egress() -> ChainTables {
        let chain = |chain_id, key, ingress| Chain {
            chain_id,
            groups: vec![Group {
                pairs: vec![proxied(key, ingress, 9)],
            }],
            symmetric: false,
            mpls_ttl: mpls::TTL,
        };
        ChainTables::build(vec![chain(1, 1, 5), chain(2, 2, 6)])
    }

    fn udp(source_port: u8) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let mut ip = vec![
            0x45, 0, 0, 30, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 5, 10, 0, 0, 6,
        ];
        let sum = packet::checksum::ipv4_header(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&[0x9c, source_port, 0, 53, 0, 10, 0, 0, b'h', b'i']);
        f
    }

    #[test]
    fn proxy_remembers_flows_on_a_shared_egress_within_its_bound() {
        let tables = shared_egress();
        let mut state = SfcState::new(16, 1);
        let mut pool = Pool::new(PoolConfig::default());
        let mut packet = |source_port| {
            let frame = udp(source_port);
            let mut p = pool.alloc_copy(&frame).unwrap();
            p.meta = parse(&frame).unwrap();
            p
        };
        let mut a = packet(1);
        let second_chain = tables.start(1, false);
        assert_eq!(steer(&tables, &mut state, &mut a, second_chain), Ok(6));
        assert_eq!(
            &a.data()[..6],
            &[2, 0, 0, 0, 0, 6],
            "to the function's ingress MAC"
        );
        // The table holds one flow: a second flow cannot be proxied.
        let mut b = packet(2);
        assert_eq!(
            steer(&tables, &mut state, &mut b, tables.start(0, false)),
            Err(SteerError::ProxyTableFull)
        );
        // What comes back on port 9 is re-associated by its 5-tuple.
        assert_eq!(
            take_back(&tables, &mut state, &mut a, 9),
            Ok(Some(second_chain))
        );
        assert_eq!(
            take_back(&tables, &mut state, &mut b, 9),
            Err(ReturnError::NoProxyFlow)
        );
        // Not a function's port: left alone.
        assert_eq!(take_back(&tables, &mut state, &mut b, 3), Ok(None));
    }
}
