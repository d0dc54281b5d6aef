//! The fixed-layout parse of the frames that make up nearly all traffic: Ethernet, up
//! to two VLAN tags or an MPLS label stack, IPv4 without options or IPv6 without
//! extension headers, then TCP, UDP (VXLAN recognised), ICMP or ICMPv6; and ARP for
//! IPv4 over Ethernet. It reads fixed offsets and writes the metadata in place.
//!
//! It accepts a frame only when the general parser (etherparse) would accept it with
//! the very same metadata; anything else, every malformed frame included, it leaves to
//! the general parser, so that results and errors are exactly the general parser's.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::flow::FlowKey;
use crate::meta::{ether_type, ip_proto, Meta, Tunnel, L3, L4, VXLAN_PORT};
use crate::parse::{MAX_FRAME, MAX_MPLS_DEPTH};

/// IP protocol numbers the general parser treats specially: IPv6 extension headers
/// (hop-by-hop, routing, fragment, destination options), the authentication header
/// (an extension of both versions) and IGMP.
const IGMP: u8 = 2;
const AUTH: u8 = 51;
const IPV6_EXTENSIONS: [u8; 4] = [0, 43, 44, 60];

/// The VLAN ethertypes the general parser walks through (802.1Q, 802.1ad, and the
/// pre-standard 0x9100).
const VLAN_DOUBLE_TAGGED: u16 = 0x9100;

/// Fills `meta` from a common frame; `None` when the frame is not one (then `meta`
/// holds partial results, to be overwritten by the general parser).
#[inline]
pub(crate) fn parse_common(meta: &mut Meta, frame: &[u8], checksum_verified: bool) -> Option<()> {
    if frame.len() > MAX_FRAME {
        return None;
    }
    let mut ether_type = be16(frame.get(12..14)?);
    *meta = Meta {
        parsed: true,
        ..Meta::default()
    };
    let mut offset = 14;
    while matches!(
        ether_type,
        ether_type::VLAN | ether_type::QINQ | VLAN_DOUBLE_TAGGED
    ) {
        // A third tag: the general parser decides what that means.
        let slot = meta.vlan_tci.get_mut(usize::from(meta.vlan_count))?;
        let tag = frame.get(offset..offset + 4)?;
        *slot = be16(tag);
        meta.vlan_count += 1;
        ether_type = be16(&tag[2..]);
        offset += 4;
    }
    meta.ether_type = ether_type;
    match ether_type {
        ether_type::IPV4 => ipv4(meta, frame, offset, checksum_verified),
        ether_type::IPV6 => ipv6(meta, frame, offset),
        ether_type::ARP => arp(meta, frame, offset),
        ether_type::MPLS => mpls(meta, frame, offset, checksum_verified),
        _ => None,
    }
}

#[inline(always)]
fn be16(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[0], bytes[1]])
}

/// The label stack, then the IP packet behind the bottom label (as the general
/// parser reads it).
fn mpls(meta: &mut Meta, frame: &[u8], mut offset: usize, checksum_verified: bool) -> Option<()> {
    loop {
        let entry = frame.get(offset..offset + 4)?;
        let entry = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
        if meta.mpls_depth == 0 {
            meta.mpls_top = entry;
        }
        meta.mpls_depth += 1;
        offset += 4;
        if entry & 0x100 != 0 {
            break;
        }
        if meta.mpls_depth == MAX_MPLS_DEPTH {
            return None;
        }
    }
    match frame.get(offset).map(|byte| byte >> 4) {
        Some(4) => ipv4(meta, frame, offset, checksum_verified),
        Some(6) => ipv6(meta, frame, offset),
        _ => Some(()),
    }
}

fn ipv4(meta: &mut Meta, frame: &[u8], offset: usize, checksum_verified: bool) -> Option<()> {
    let packet = frame.get(offset..)?;
    let header: &[u8; 20] = packet.first_chunk()?;
    // Version 4, no options.
    if header[0] != 0x45 {
        return None;
    }
    let total_len = usize::from(be16(&header[2..]));
    if total_len < header.len() || total_len > packet.len() {
        return None;
    }
    let protocol = header[9];
    if protocol == AUTH {
        return None;
    }
    if !checksum_verified && !checksum::verify_ipv4_header_without_options(header) {
        return None;
    }
    // More fragments, or a fragment offset.
    let fragment = be16(&header[6..]) & 0x3fff != 0;
    meta.l3 = L3::Ipv4;
    meta.l3_offset = offset as u16;
    meta.l3_end = meta.l3_offset.saturating_add(total_len as u16);
    meta.ttl = header[8];
    meta.fragment = fragment;
    let address =
        |at: usize| Ipv4Addr::new(header[at], header[at + 1], header[at + 2], header[at + 3]);
    meta.flow = FlowKey::new_v4(address(12), address(16), protocol, 0, 0);
    if !fragment {
        let payload = &packet[header.len()..total_len];
        match protocol {
            ip_proto::TCP => tcp(meta, payload, offset + header.len())?,
            ip_proto::UDP => udp(meta, payload, offset + header.len())?,
            ip_proto::ICMP => icmp(meta, payload, offset + header.len(), L4::Icmp)?,
            ip_proto::ICMPV6 | IGMP => return None,
            _ => {}
        }
    }
    meta.flow_hash = meta.flow.hash();
    Some(())
}

fn ipv6(meta: &mut Meta, frame: &[u8], offset: usize) -> Option<()> {
    let packet = frame.get(offset..)?;
    let header: &[u8; 40] = packet.first_chunk()?;
    if header[0] >> 4 != 6 {
        return None;
    }
    let payload_len = usize::from(be16(&header[4..]));
    // A zero length may announce a jumbogram: the general parser knows that case.
    if payload_len == 0 || header.len() + payload_len > packet.len() {
        return None;
    }
    let next_header = header[6];
    if next_header == AUTH || IPV6_EXTENSIONS.contains(&next_header) {
        return None;
    }
    meta.l3 = L3::Ipv6;
    meta.l3_offset = offset as u16;
    meta.l3_end = meta
        .l3_offset
        .saturating_add(40)
        .saturating_add(payload_len as u16);
    meta.ttl = header[7];
    let address = |at: usize| {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&header[at..at + 16]);
        Ipv6Addr::from(octets)
    };
    meta.flow = FlowKey::new_v6(address(8), address(24), next_header, 0, 0);
    let payload = &packet[header.len()..header.len() + payload_len];
    let l4_offset = offset + header.len();
    match next_header {
        ip_proto::TCP => tcp(meta, payload, l4_offset)?,
        ip_proto::UDP => udp(meta, payload, l4_offset)?,
        ip_proto::ICMPV6 => icmp(meta, payload, l4_offset, L4::Icmpv6)?,
        ip_proto::ICMP | IGMP => return None,
        _ => {}
    }
    meta.flow_hash = meta.flow.hash();
    Some(())
}

fn tcp(meta: &mut Meta, segment: &[u8], offset: usize) -> Option<()> {
    let header: &[u8; 20] = segment.first_chunk()?;
    let header_len = usize::from(header[12] >> 4) * 4;
    if header_len < header.len() || header_len > segment.len() {
        return None;
    }
    meta.l4 = L4::Tcp;
    meta.l4_offset = offset as u16;
    meta.payload_offset = (offset + header_len) as u16;
    meta.tcp_flags = header[13];
    meta.flow.src_port = be16(header);
    meta.flow.dst_port = be16(&header[2..]);
    Some(())
}

fn udp(meta: &mut Meta, datagram: &[u8], offset: usize) -> Option<()> {
    let header: &[u8; 8] = datagram.first_chunk()?;
    let length = usize::from(be16(&header[4..]));
    // Zero (a jumbogram's) and impossible lengths are the general parser's.
    if length < header.len() || length > datagram.len() {
        return None;
    }
    meta.l4 = L4::Udp;
    meta.l4_offset = offset as u16;
    meta.payload_offset = (offset + header.len()) as u16;
    meta.flow.src_port = be16(header);
    meta.flow.dst_port = be16(&header[2..]);
    if meta.flow.dst_port == VXLAN_PORT {
        if let Some(vxlan) = datagram[header.len()..length].first_chunk::<8>() {
            meta.tunnel = Tunnel::Vxlan {
                flags: vxlan[0],
                vni: u32::from_be_bytes([0, vxlan[4], vxlan[5], vxlan[6]]),
                inner_offset: meta.payload_offset + 8,
            };
        }
    }
    Some(())
}

/// ICMP or ICMPv6 (same header shape); the echo identifier stands for both ports.
fn icmp(meta: &mut Meta, message: &[u8], offset: usize, l4: L4) -> Option<()> {
    const TIMESTAMP: u8 = 13;
    const TIMESTAMP_REPLY: u8 = 14;
    let header: &[u8; 8] = message.first_chunk()?;
    let (kind, code) = (header[0], header[1]);
    let echo = match l4 {
        L4::Icmp => {
            // Timestamp messages have a longer header of fixed length.
            if matches!(kind, TIMESTAMP | TIMESTAMP_REPLY) && code == 0 {
                return None;
            }
            matches!(kind, 0 | 8)
        }
        _ => matches!(kind, 128 | 129),
    };
    meta.l4 = l4;
    meta.l4_offset = offset as u16;
    meta.payload_offset = (offset + header.len()) as u16;
    (meta.icmp_type, meta.icmp_code) = (kind, code);
    if echo {
        let id = be16(&header[4..]);
        meta.flow.src_port = id;
        meta.flow.dst_port = id;
    }
    Some(())
}

/// ARP for IPv4 over Ethernet; other ARP flavours go to the general parser.
fn arp(meta: &mut Meta, frame: &[u8], offset: usize) -> Option<()> {
    let arp: &[u8; 28] = frame.get(offset..)?.first_chunk()?;
    if arp[..6] != [0, 1, 8, 0, 6, 4] {
        return None;
    }
    meta.l3 = L3::Arp;
    meta.l3_offset = offset as u16;
    meta.l3_end = meta.l3_offset + 28;
    meta.arp_op = be16(&arp[6..]);
    let address = |at: usize| Ipv4Addr::new(arp[at], arp[at + 1], arp[at + 2], arp[at + 3]);
    meta.flow = FlowKey::new_v4(address(14), address(24), 0, 0, 0);
    Some(())
}

#[cfg(test)]
mod tests {
    use etherparse::{PacketBuilder, VlanId};

    use super::*;

    const SRC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 1, 1];
    const DST: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 2, 1];

    fn common_frames() -> Vec<Vec<u8>> {
        let vlan = |id| VlanId::try_new(id).unwrap();
        let mut frames = Vec::new();
        let mut out = Vec::new();
        PacketBuilder::ethernet2(SRC, DST)
            .ipv4([10, 0, 0, 5], [10, 0, 0, 6], 64)
            .udp(40000, 53)
            .write(&mut out, &[0; 18])
            .unwrap();
        frames.push(std::mem::take(&mut out));
        PacketBuilder::ethernet2(SRC, DST)
            .single_vlan(vlan(101))
            .ipv6([0xfd; 16], [0xfe; 16], 64)
            .tcp(40000, 80, 1, 1000)
            .write(&mut out, &[0; 100])
            .unwrap();
        frames.push(std::mem::take(&mut out));
        PacketBuilder::ethernet2(SRC, DST)
            .double_vlan(vlan(5), vlan(6))
            .ipv4([10, 0, 0, 5], [10, 0, 0, 6], 64)
            .icmpv4_echo_request(7, 1)
            .write(&mut out, b"ping")
            .unwrap();
        frames.push(std::mem::take(&mut out));
        PacketBuilder::ethernet2(SRC, DST)
            .ipv6([0xfd; 16], [0xfe; 16], 64)
            .icmpv6_echo_reply(7, 1)
            .write(&mut out, b"pong")
            .unwrap();
        frames.push(std::mem::take(&mut out));
        PacketBuilder::ethernet2(SRC, DST)
            .ipv4([10, 0, 0, 5], [10, 0, 0, 6], 64)
            .udp(50000, VXLAN_PORT)
            .write(&mut out, &[8, 0, 0, 0, 0, 0, 1, 0, 0xaa, 0xbb])
            .unwrap();
        frames.push(std::mem::take(&mut out));
        // MPLS label, then the UDP packet of the first frame.
        let mut mpls = [DST, SRC].concat();
        mpls.extend_from_slice(&ether_type::MPLS.to_be_bytes());
        mpls.extend_from_slice(&(0x7ff_u32 << 12 | 1 << 8 | 255).to_be_bytes());
        mpls.extend_from_slice(&frames[0][14..]);
        frames.push(mpls);
        let mut arp = [[0xff; 6], SRC].concat();
        arp.extend_from_slice(&[8, 6, 0, 1, 8, 0, 6, 4, 0, 1]);
        arp.extend_from_slice(&SRC);
        arp.extend_from_slice(&[10, 0, 0, 5, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]);
        frames.push(arp);
        frames
    }

    #[test]
    fn common_frames_take_the_fixed_layout_path() {
        for frame in common_frames() {
            let mut meta = Meta::default();
            assert!(
                parse_common(&mut meta, &frame, false).is_some(),
                "{frame:02x?}"
            );
            assert_eq!(Ok(meta), crate::parse::parse_general(&frame, false));
        }
    }
}
