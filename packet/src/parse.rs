//! Ingress parsing: one pass over the frame fills [`Meta`]. Common frames take the
//! fixed-layout path of `fast_parse`; everything else (IPv4 options, IPv6 extension
//! headers, unusual protocols, every malformed frame) the general path here: Ethernet,
//! VLAN, ARP, IPv4, IPv6, TCP, UDP, ICMP and ICMPv6 from etherparse's slicing, and the
//! MPLS label stack and VXLAN, which it does not know, read by hand. Both give the same
//! metadata for the frames they both accept.

use etherparse::{err, LenSource, LinkExtSlice, LinkSlice, NetSlice, SlicedPacket, TransportSlice};

use crate::buffer::Packet;
use crate::checksum;
use crate::fast_parse::parse_common;
use crate::flow::FlowKey;
use crate::meta::{ether_type, Meta, Tunnel, L3, L4, VXLAN_PORT};

/// The largest frame the parser accepts (offsets are 16-bit).
pub const MAX_FRAME: usize = u16::MAX as usize;

/// The deepest MPLS label stack parsed; deeper stacks are refused as malformed.
pub const MAX_MPLS_DEPTH: u8 = 8;

/// The protocol layer at which a frame was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    Ethernet,
    Vlan,
    Mpls,
    Arp,
    /// An IP header whose version nibble is neither 4 nor 6 (behind MPLS).
    Ip,
    Ipv4,
    Ipv6,
    Ipv6Extension,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Igmp,
}

/// How a frame is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseErrorKind {
    /// The frame ends before a header, or before the length a header declares.
    Truncated,
    /// A header field holds an impossible value.
    Malformed,
    /// The IPv4 header checksum is wrong.
    BadChecksum,
}

/// A refused frame: what is wrong and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{kind:?} {layer:?}")]
pub struct ParseError {
    pub kind: ParseErrorKind,
    pub layer: Layer,
}

impl ParseError {
    const fn new(kind: ParseErrorKind, layer: Layer) -> Self {
        ParseError { kind, layer }
    }
}

/// Parses an Ethernet frame into metadata, or says why it cannot be forwarded.
/// Never panics, whatever the bytes.
pub fn parse(frame: &[u8]) -> Result<Meta, ParseError> {
    let mut meta = Meta::default();
    parse_into(&mut meta, frame, false)?;
    Ok(meta)
}

/// [`parse`] writing the metadata in place. `checksum_verified` (a NIC checked the
/// IPv4 header checksum) skips that check. On an error `meta` is reset to its default
/// (not parsed).
#[inline]
pub fn parse_into(
    meta: &mut Meta,
    frame: &[u8],
    checksum_verified: bool,
) -> Result<(), ParseError> {
    if parse_common(meta, frame, checksum_verified).is_some() {
        return Ok(());
    }
    match parse_general(frame, checksum_verified) {
        Ok(general) => {
            *meta = general;
            Ok(())
        }
        Err(error) => {
            *meta = Meta::default();
            Err(error)
        }
    }
}

impl Packet {
    /// Parses the frame into `self.meta` in place, trusting the IPv4 header checksum
    /// when the driver says the NIC verified it.
    #[inline]
    pub fn parse(&mut self) -> Result<(), ParseError> {
        let (header, frame) = self.parts_mut();
        parse_into(&mut header.meta, frame, header.checksum_verified)
    }
}

/// The general parser alone (etherparse's slicing), whatever the frame: the reference
/// the fixed-layout path is checked against, and the path of unusual frames.
pub fn parse_general(frame: &[u8], checksum_verified: bool) -> Result<Meta, ParseError> {
    if frame.len() > MAX_FRAME {
        return Err(ParseError::new(ParseErrorKind::Malformed, Layer::Ethernet));
    }
    let sliced = SlicedPacket::from_ethernet(frame).map_err(classify)?;
    let mut meta = Meta {
        parsed: true,
        ..Meta::default()
    };

    let Some(LinkSlice::Ethernet2(ethernet)) = &sliced.link else {
        return Err(ParseError::new(ParseErrorKind::Truncated, Layer::Ethernet));
    };
    let mut ether_payload = ethernet.payload();
    for ext in &sliced.link_exts {
        let LinkExtSlice::Vlan(vlan) = ext else {
            // MACsec and the like: switched as opaque L2.
            return Ok(meta);
        };
        if usize::from(meta.vlan_count) == meta.vlan_tci.len() {
            // Beyond two tags: keep the outer two, look no deeper.
            return Ok(meta);
        }
        let tag = vlan.header_slice();
        meta.vlan_tci[usize::from(meta.vlan_count)] = u16::from_be_bytes([tag[0], tag[1]]);
        meta.vlan_count += 1;
        ether_payload = vlan.payload();
    }
    meta.ether_type = ether_payload.ether_type.0;

    if meta.ether_type == ether_type::MPLS {
        return parse_mpls(frame, ether_payload.payload, meta, checksum_verified);
    }
    fill_network(frame, &sliced, &mut meta, checksum_verified)?;
    Ok(meta)
}

/// Reads the label stack, then the IP packet that follows the bottom label (the
/// networking-sfc MPLS encapsulation carries IP directly behind the label).
fn parse_mpls(
    frame: &[u8],
    stack: &[u8],
    mut meta: Meta,
    checksum_verified: bool,
) -> Result<Meta, ParseError> {
    let mut rest = stack;
    loop {
        let Some((entry, tail)) = rest.split_first_chunk::<4>() else {
            return Err(ParseError::new(ParseErrorKind::Truncated, Layer::Mpls));
        };
        let entry = u32::from_be_bytes(*entry);
        if meta.mpls_depth == 0 {
            meta.mpls_top = entry;
        }
        meta.mpls_depth += 1;
        rest = tail;
        if entry & 0x100 != 0 {
            break;
        }
        if meta.mpls_depth == MAX_MPLS_DEPTH {
            return Err(ParseError::new(ParseErrorKind::Malformed, Layer::Mpls));
        }
    }
    match rest.first().map(|byte| byte >> 4) {
        Some(4) | Some(6) => {
            let sliced = SlicedPacket::from_ip(rest).map_err(classify)?;
            fill_network(frame, &sliced, &mut meta, checksum_verified)?;
        }
        // An empty or non-IP payload (pseudowire): label only.
        _ => {}
    }
    Ok(meta)
}

/// Fills the L3 and L4 parts of the metadata from etherparse's slices.
fn fill_network(
    frame: &[u8],
    sliced: &SlicedPacket,
    meta: &mut Meta,
    checksum_verified: bool,
) -> Result<(), ParseError> {
    match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => {
            let header = ip.header();
            if !checksum_verified && !checksum::verify_ipv4_header(header.slice()) {
                return Err(ParseError::new(ParseErrorKind::BadChecksum, Layer::Ipv4));
            }
            meta.l3 = L3::Ipv4;
            meta.l3_offset = offset_in(frame, header.slice());
            meta.l3_end = meta.l3_offset.saturating_add(header.total_len());
            meta.ttl = header.ttl();
            meta.fragment = ip.is_payload_fragmented();
            meta.flow = FlowKey::new_v4(
                header.source_addr(),
                header.destination_addr(),
                ip.payload_ip_number().0,
                0,
                0,
            );
        }
        Some(NetSlice::Ipv6(ip)) => {
            let header = ip.header();
            meta.l3 = L3::Ipv6;
            meta.l3_offset = offset_in(frame, header.slice());
            meta.l3_end = meta
                .l3_offset
                .saturating_add(40)
                .saturating_add(header.payload_length());
            meta.ttl = header.hop_limit();
            meta.fragment = ip.is_payload_fragmented();
            meta.flow = FlowKey::new_v6(
                header.source_addr(),
                header.destination_addr(),
                ip.payload().ip_number.0,
                0,
                0,
            );
        }
        Some(NetSlice::Arp(arp)) => {
            let ethernet_ipv4 = arp.hw_addr_type().0 == 1
                && arp.proto_addr_type().0 == ether_type::IPV4
                && arp.hw_addr_size() == 6
                && arp.proto_addr_size() == 4;
            if ethernet_ipv4 {
                meta.l3 = L3::Arp;
                meta.l3_offset = offset_in(frame, arp.slice());
                meta.l3_end = meta.l3_offset + 28;
                meta.arp_op = arp.operation().0;
                meta.flow = FlowKey::new_v4(
                    ipv4_at(arp.sender_protocol_addr()),
                    ipv4_at(arp.target_protocol_addr()),
                    0,
                    0,
                    0,
                );
            }
            return Ok(());
        }
        None => return Ok(()),
    }
    fill_transport(frame, sliced, meta);
    meta.flow_hash = meta.flow.hash();
    Ok(())
}

fn fill_transport(frame: &[u8], sliced: &SlicedPacket, meta: &mut Meta) {
    match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => {
            meta.l4 = L4::Tcp;
            meta.l4_offset = offset_in(frame, tcp.slice());
            meta.payload_offset = meta.l4_offset + tcp.header_len() as u16;
            meta.tcp_flags = tcp.slice()[13];
            meta.flow.src_port = tcp.source_port();
            meta.flow.dst_port = tcp.destination_port();
        }
        Some(TransportSlice::Udp(udp)) => {
            meta.l4 = L4::Udp;
            meta.l4_offset = offset_in(frame, udp.slice());
            meta.payload_offset = meta.l4_offset + 8;
            meta.flow.src_port = udp.source_port();
            meta.flow.dst_port = udp.destination_port();
            if udp.destination_port() == VXLAN_PORT {
                meta.tunnel = vxlan(udp.payload(), meta.payload_offset);
            }
        }
        Some(TransportSlice::Icmpv4(icmp)) => {
            meta.l4 = L4::Icmp;
            meta.l4_offset = offset_in(frame, icmp.slice());
            meta.payload_offset = meta.l4_offset + icmp.header_len() as u16;
            (meta.icmp_type, meta.icmp_code) = (icmp.type_u8(), icmp.code_u8());
            if matches!(meta.icmp_type, 0 | 8) {
                echo_identifier(meta, icmp.bytes5to8());
            }
        }
        Some(TransportSlice::Icmpv6(icmp)) => {
            meta.l4 = L4::Icmpv6;
            meta.l4_offset = offset_in(frame, icmp.slice());
            meta.payload_offset = meta.l4_offset + icmp.header_len() as u16;
            (meta.icmp_type, meta.icmp_code) = (icmp.type_u8(), icmp.code_u8());
            if matches!(meta.icmp_type, 128 | 129) {
                echo_identifier(meta, icmp.bytes5to8());
            }
        }
        Some(TransportSlice::Igmp(_)) | None => {}
    }
}

/// ICMP echo: the identifier stands for both ports (see [`FlowKey`]).
fn echo_identifier(meta: &mut Meta, rest_of_header: [u8; 4]) {
    let id = u16::from_be_bytes([rest_of_header[0], rest_of_header[1]]);
    meta.flow.src_port = id;
    meta.flow.dst_port = id;
}

/// Recognises a VXLAN header (RFC 7348) at the start of a UDP payload. Validation of
/// the flags and the VNI is the VXLAN stage's.
fn vxlan(udp_payload: &[u8], payload_offset: u16) -> Tunnel {
    match udp_payload.first_chunk::<8>() {
        Some(header) => Tunnel::Vxlan {
            flags: header[0],
            vni: u32::from_be_bytes([0, header[4], header[5], header[6]]),
            inner_offset: payload_offset + 8,
        },
        None => Tunnel::None,
    }
}

fn ipv4_at(bytes: &[u8]) -> std::net::Ipv4Addr {
    match bytes.first_chunk::<4>() {
        Some(octets) => std::net::Ipv4Addr::from(*octets),
        None => std::net::Ipv4Addr::UNSPECIFIED,
    }
}

/// Where `part`, a sub-slice of `frame`, starts in it.
fn offset_in(frame: &[u8], part: &[u8]) -> u16 {
    (part.as_ptr() as usize).saturating_sub(frame.as_ptr() as usize) as u16
}

/// Maps etherparse's error to our two-part classification.
fn classify(error: err::packet::SliceError) -> ParseError {
    use err::packet::SliceError as E;
    use ParseErrorKind::{Malformed, Truncated};
    match error {
        E::Len(len) => {
            // A length field that declares less than its own header is a lie, not a
            // short frame.
            let field_too_small = matches!(
                (len.len_source, len.layer),
                (LenSource::Ipv4HeaderTotalLen, err::Layer::Ipv4Packet)
                    | (LenSource::UdpHeaderLen, err::Layer::UdpHeader)
            );
            let kind = if field_too_small {
                Malformed
            } else {
                Truncated
            };
            ParseError::new(kind, layer_of(len.layer))
        }
        E::LinuxSll(_) | E::Macsec(_) => ParseError::new(Malformed, Layer::Ethernet),
        E::Ip(_) => ParseError::new(Malformed, Layer::Ip),
        E::Ipv4(_) | E::Ipv4Exts(_) => ParseError::new(Malformed, Layer::Ipv4),
        E::Ipv6(_) => ParseError::new(Malformed, Layer::Ipv6),
        E::Ipv6Exts(_) => ParseError::new(Malformed, Layer::Ipv6Extension),
        E::Tcp(_) => ParseError::new(Malformed, Layer::Tcp),
    }
}

fn layer_of(layer: err::Layer) -> Layer {
    use err::Layer as L;
    match layer {
        L::LinuxSllHeader
        | L::Ethernet2Header
        | L::EtherPayload
        | L::MacsecHeader
        | L::MacsecPacket => Layer::Ethernet,
        L::VlanHeader => Layer::Vlan,
        L::IpHeader => Layer::Ip,
        L::Ipv4Header | L::Ipv4Packet | L::IpAuthHeader => Layer::Ipv4,
        L::Ipv6Header | L::Ipv6Packet => Layer::Ipv6,
        L::Ipv6ExtHeader
        | L::Ipv6HopByHopHeader
        | L::Ipv6DestOptionsHeader
        | L::Ipv6RouteHeader
        | L::Ipv6FragHeader => Layer::Ipv6Extension,
        L::UdpHeader | L::UdpPayload => Layer::Udp,
        L::TcpHeader => Layer::Tcp,
        L::Icmpv4 | L::Icmpv4Timestamp | L::Icmpv4TimestampReply => Layer::Icmp,
        L::Icmpv6 => Layer::Icmpv6,
        L::Igmp => Layer::Igmp,
        L::Arp => Layer::Arp,
    }
}
