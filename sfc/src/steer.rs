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
    let chain = tables.chain(hop);
    let (group, reverse) = chain.group_at(hop.position);
    let now = packet.timestamp_ns;
    let index = state.pins.select(chain, group, &packet.meta.flow, now);
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
            if !mpls::push(packet, chain.chain_id, si) {
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
