//! Address and port translation of a parsed IPv4 packet, and of the packet an ICMP
//! error quotes (RFC 5508): every checksum covering a changed field is updated.

use packet::meta::ip_proto;
use packet::{Packet, L4};

use crate::rewrite::{patch, read16, read32, updated, Sum};

/// Which end of a packet (or of the quoted packet) is rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Source,
    Destination,
}

impl End {
    fn address_at(self) -> usize {
        match self {
            End::Source => 12,
            End::Destination => 16,
        }
    }

    fn port_at(self) -> usize {
        match self {
            End::Source => 0,
            End::Destination => 2,
        }
    }
}

/// Rewrites one end's address and port (the ICMP echo identifier for ICMP) of the
/// packet, with the IP, TCP/UDP or ICMP checksums, and keeps `meta.flow` in step.
pub fn translate(packet: &mut Packet, end: End, ip: u32, port: u16) {
    let l3 = usize::from(packet.meta.l3_offset);
    let l4 = usize::from(packet.meta.l4_offset);
    let kind = packet.meta.l4;
    let frame = packet.data_mut();
    let ip_sum = Sum::Plain(l3 + 10);
    let (l4_sum, port_at) = match kind {
        L4::Tcp => (Some(Sum::Plain(l4 + 16)), l4 + end.port_at()),
        L4::Udp => (Some(Sum::Udp(l4 + 6)), l4 + end.port_at()),
        // The ICMP checksum has no pseudo-header: only the identifier matters.
        _ => (None, l4 + 4),
    };
    let address_sums: &[Sum] = match l4_sum {
        Some(sum) => &[ip_sum, sum],
        None => &[ip_sum],
    };
    patch(
        frame,
        l3 + end.address_at(),
        &ip.to_be_bytes(),
        address_sums,
    );
    let port_sum = l4_sum.unwrap_or(Sum::Plain(l4 + 2));
    patch(frame, port_at, &port.to_be_bytes(), &[port_sum]);
    set_flow(packet, end, ip, port);
}

fn set_flow(packet: &mut Packet, end: End, ip: u32, port: u16) {
    let flow = &mut packet.meta.flow;
    let echo = flow.protocol == ip_proto::ICMP;
    match end {
        End::Source => {
            flow.src[..4].copy_from_slice(&ip.to_be_bytes());
            flow.src_port = port;
        }
        End::Destination => {
            flow.dst[..4].copy_from_slice(&ip.to_be_bytes());
            flow.dst_port = port;
        }
    }
    if echo {
        flow.src_port = port;
        flow.dst_port = port;
    }
    packet.meta.flow_hash = packet.meta.flow.hash();
}

/// The packet an ICMP error quotes: offsets in the frame and its 5-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    pub ip: usize,
    pub l4: usize,
    /// End of what the error carries of the quoted packet.
    pub end: usize,
    pub protocol: u8,
    pub src: u32,
    pub dst: u32,
    pub src_port: u16,
    pub dst_port: u16,
}

/// ICMP types whose body quotes the offending packet: destination unreachable,
/// time exceeded, parameter problem.
pub fn is_error(icmp_type: u8) -> bool {
    matches!(icmp_type, 3 | 11 | 12)
}

/// Reads the quoted IPv4 header and the first 8 bytes of its transport header (all
/// RFC 792 promises). `None` when they are not all there, or for a non-first
/// fragment or a protocol without ports.
pub fn quote(packet: &Packet) -> Option<Quote> {
    let frame = packet.data();
    let end = usize::from(packet.meta.l3_end).min(frame.len());
    let ip = usize::from(packet.meta.l4_offset) + 8;
    let frame = frame.get(..end)?;
    let first = *frame.get(ip)?;
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < 20 {
        return None;
    }
    let fragment_offset = read16(frame, ip + 6)? & 0x1fff;
    let l4 = ip + header_len;
    if fragment_offset != 0 || l4 + 8 > end {
        return None;
    }
    let protocol = frame[ip + 9];
    let (src_port, dst_port) = match protocol {
        ip_proto::TCP | ip_proto::UDP => (read16(frame, l4)?, read16(frame, l4 + 2)?),
        ip_proto::ICMP if matches!(frame[l4], 0 | 8) => {
            let id = read16(frame, l4 + 4)?;
            (id, id)
        }
        _ => return None,
    };
    Some(Quote {
        ip,
        l4,
        end,
        protocol,
        src: read32(frame, ip + 12)?,
        dst: read32(frame, ip + 16)?,
        src_port,
        dst_port,
    })
}

/// Translates an ICMP error: `end` of the quoted packet becomes `ip`/`port`, and the
/// opposite end of the outer packet becomes `ip` (the error travels the other way).
pub fn translate_error(packet: &mut Packet, quote: &Quote, end: End, ip: u32, port: u16) {
    let l3 = usize::from(packet.meta.l3_offset);
    let icmp_sum = Sum::Plain(usize::from(packet.meta.l4_offset) + 2);
    let outer_end = match end {
        End::Source => End::Destination,
        End::Destination => End::Source,
    };
    let frame = packet.data_mut();
    patch(
        frame,
        l3 + outer_end.address_at(),
        &ip.to_be_bytes(),
        &[Sum::Plain(l3 + 10)],
    );

    let old_ip = match end {
        End::Source => quote.src,
        End::Destination => quote.dst,
    }
    .to_be_bytes();
    let new_ip = ip.to_be_bytes();
    let port_at = match quote.protocol {
        ip_proto::ICMP => quote.l4 + 4,
        _ => quote.l4 + end.port_at(),
    };
    // The quoted transport checksum, when the quote reaches it: it covers the
    // quoted port and (TCP/UDP pseudo-header) the quoted address.
    let inner_sum = match quote.protocol {
        ip_proto::TCP => Some((Sum::Plain(quote.l4 + 16), true)),
        ip_proto::UDP => Some((Sum::Udp(quote.l4 + 6), true)),
        _ => Some((Sum::Plain(quote.l4 + 2), false)),
    };
    if let Some((sum, pseudo)) = inner_sum {
        let (Sum::Plain(at) | Sum::Udp(at)) = sum;
        if at + 2 <= quote.end {
            if let (Some(value), Some(old_port)) = (read16(frame, at), read16(frame, port_at)) {
                let mut value = updated(sum, value, &old_port.to_be_bytes(), &port.to_be_bytes());
                if pseudo {
                    value = updated(sum, value, &old_ip, &new_ip);
                }
                patch(frame, at, &value.to_be_bytes(), &[icmp_sum]);
            }
        }
    }
    // The quoted IP header checksum, then its address and port; all under the
    // outer ICMP checksum.
    if let Some(value) = read16(frame, quote.ip + 10) {
        let value = updated(Sum::Plain(0), value, &old_ip, &new_ip);
        patch(frame, quote.ip + 10, &value.to_be_bytes(), &[icmp_sum]);
    }
    patch(frame, quote.ip + end.address_at(), &new_ip, &[icmp_sum]);
    patch(frame, port_at, &port.to_be_bytes(), &[icmp_sum]);

    let flow = &mut packet.meta.flow;
    match outer_end {
        End::Source => flow.src[..4].copy_from_slice(&new_ip),
        End::Destination => flow.dst[..4].copy_from_slice(&new_ip),
    }
    packet.meta.flow_hash = packet.meta.flow.hash();
}
