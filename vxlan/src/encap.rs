//! Encapsulation in place: the outer Ethernet, IPv4 or IPv6, UDP and VXLAN headers are
//! written into the headroom in front of the inner frame, which does not move.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use packet::meta::{ether_type, ip_proto, VXLAN_PORT};
use packet::{checksum, FlowKey, MacAddr, Meta, Packet};

use crate::{FLAG_I, SOURCE_PORT_MIN, VXLAN_HEADER};

const ETHERNET: usize = 14;
const IPV4: usize = 20;
const IPV6: usize = 40;
const UDP: usize = 8;
/// The outer IP TTL / hop limit (the underlay is routed, not one hop).
const OUTER_TTL: u8 = 64;

/// The outer IP addresses, of one family.
#[derive(Clone, Copy)]
enum OuterIp {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

/// One end of a tunnel on the underlay: a VTEP address and the MAC it is reached at
/// (for the destination, the next hop's MAC on the uplink).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub mac: MacAddr,
}

/// Why a frame could not be encapsulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncapError {
    #[error("not enough headroom for the outer headers")]
    NoHeadroom,
    #[error("the outer IP length field cannot count the frame")]
    TooLarge,
    #[error("source and destination VTEP are of different IP families")]
    FamilyMismatch,
}

/// Bytes the encapsulation prepends: outer Ethernet, IP, UDP and VXLAN headers.
pub const fn overhead(ipv6: bool) -> usize {
    ETHERNET + if ipv6 { IPV6 } else { IPV4 } + UDP + VXLAN_HEADER
}

/// The outer IP packet's length for an inner frame of `inner_len` bytes: what the
/// underlay MTU is compared with.
pub const fn outer_ip_len(inner_len: usize, ipv6: bool) -> usize {
    overhead(ipv6) - ETHERNET + inner_len
}

/// The largest inner IP packet that fits an underlay MTU once encapsulated (the inner
/// Ethernet header travels inside the tunnel): what ICMP "too big" reports.
pub const fn inner_ip_mtu(underlay_mtu: u16, ipv6: bool) -> u16 {
    let outer_ip = if ipv6 { IPV6 } else { IPV4 };
    underlay_mtu.saturating_sub((outer_ip + UDP + VXLAN_HEADER + ETHERNET) as u16)
}

/// The entropy of an inner frame for the outer source port: its flow hash when it is
/// IP (so every packet of a flow takes the same underlay path), else a hash of its two
/// MAC addresses (ARP and other non-IP frames of one conversation stay together).
#[inline]
pub fn inner_entropy(frame: &[u8], meta: &Meta) -> u64 {
    if meta.is_ip() {
        return meta.flow_hash;
    }
    let mut key = FlowKey::default();
    if let Some(macs) = frame.first_chunk::<12>() {
        key.dst[..6].copy_from_slice(&macs[..6]);
        key.src[..6].copy_from_slice(&macs[6..]);
    }
    key.hash()
}

/// The outer UDP source port for an entropy value: within 49152-65535 (RFC 7348),
/// all 64 bits folded in so that hashes differing only in their high bits spread.
#[inline]
pub fn source_port(entropy: u64) -> u16 {
    let folded = entropy ^ (entropy >> 16) ^ (entropy >> 32) ^ (entropy >> 48);
    SOURCE_PORT_MIN | (folded as u16 & 0x3fff)
}

/// Prepends the outer headers to the frame in `packet`: Ethernet from `source.mac` to
/// `destination.mac`, IP from `source.ip` to `destination.ip` (IPv4: DF set, ID 0,
/// header checksum; IPv6: traffic class and flow label 0), UDP from `source_port` to
/// 4789 (checksum 0 over IPv4 as RFC 7348 allows; computed over IPv6, so that
/// receivers need not enable RFC 6935's zero-checksum exception), and VXLAN with the
/// I flag and `vni`. The metadata is left describing the inner frame.
pub fn encapsulate(
    packet: &mut Packet,
    source: &Endpoint,
    destination: &Endpoint,
    vni: u32,
    source_port: u16,
) -> Result<(), EncapError> {
    let inner_len = packet.len();
    let outer = match (source.ip, destination.ip) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => OuterIp::V4(src, dst),
        (IpAddr::V6(src), IpAddr::V6(dst)) => OuterIp::V6(src, dst),
        _ => return Err(EncapError::FamilyMismatch),
    };
    let ipv6 = matches!(outer, OuterIp::V6(..));
    if outer_ip_len(inner_len, ipv6) > usize::from(u16::MAX) {
        return Err(EncapError::TooLarge);
    }
    let udp_len = (UDP + VXLAN_HEADER + inner_len) as u16;
    let header = packet
        .push_front(overhead(ipv6))
        .ok_or(EncapError::NoHeadroom)?;
    header[0..6].copy_from_slice(&destination.mac.0);
    header[6..12].copy_from_slice(&source.mac.0);
    let (ether, ip_len) = if ipv6 {
        (ether_type::IPV6, IPV6)
    } else {
        (ether_type::IPV4, IPV4)
    };
    header[12..14].copy_from_slice(&ether.to_be_bytes());
    let udp_at = ETHERNET + ip_len;
    match outer {
        OuterIp::V4(src, dst) => {
            let ip = &mut header[ETHERNET..udp_at];
            ip[0] = 0x45;
            ip[1] = 0;
            ip[2..4].copy_from_slice(&(IPV4 as u16 + udp_len).to_be_bytes());
            ip[4..6].copy_from_slice(&[0, 0]); // ID 0: DF is set, RFC 6864
            ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
            ip[8] = OUTER_TTL;
            ip[9] = ip_proto::UDP;
            ip[10..12].copy_from_slice(&[0, 0]);
            ip[12..16].copy_from_slice(&src.octets());
            ip[16..20].copy_from_slice(&dst.octets());
            let sum = checksum::ipv4_header(ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        OuterIp::V6(src, dst) => {
            let ip = &mut header[ETHERNET..udp_at];
            ip[0..4].copy_from_slice(&0x6000_0000u32.to_be_bytes());
            ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
            ip[6] = ip_proto::UDP;
            ip[7] = OUTER_TTL;
            ip[8..24].copy_from_slice(&src.octets());
            ip[24..40].copy_from_slice(&dst.octets());
        }
    }
    let udp = &mut header[udp_at..udp_at + UDP + VXLAN_HEADER];
    udp[0..2].copy_from_slice(&source_port.to_be_bytes());
    udp[2..4].copy_from_slice(&VXLAN_PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    udp[6..8].copy_from_slice(&[0, 0]);
    udp[8..16].copy_from_slice(&[FLAG_I, 0, 0, 0, 0, 0, 0, 0]);
    udp[12..15].copy_from_slice(&vni.to_be_bytes()[1..]);
    if let OuterIp::V6(src, dst) = outer {
        let pseudo = checksum::pseudo_header_v6(src, dst, ip_proto::UDP, u32::from(udp_len));
        let mut sum = checksum::transport(pseudo, &packet.data()[udp_at..]);
        if sum == 0 {
            sum = 0xffff; // a computed zero is sent as all ones (RFC 8200 8.1)
        }
        packet.data_mut()[udp_at + 6..udp_at + 8].copy_from_slice(&sum.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use packet::{Pool, PoolConfig};
    use proptest::prelude::*;

    fn v4_ends() -> (Endpoint, Endpoint) {
        (
            Endpoint {
                ip: "192.0.2.11".parse().unwrap(),
                mac: "02:00:c0:00:02:0b".parse().unwrap(),
            },
            Endpoint {
                ip: "192.0.2.12".parse().unwrap(),
                mac: "02:00:c0:00:02:0c".parse().unwrap(),
            },
        )
    }

    fn v6_ends() -> (Endpoint, Endpoint) {
        (
            Endpoint {
                ip: "2001:db8::11".parse().unwrap(),
                mac: "02:00:c0:00:02:0b".parse().unwrap(),
            },
            Endpoint {
                ip: "2001:db8::12".parse().unwrap(),
                mac: "02:00:c0:00:02:0c".parse().unwrap(),
            },
        )
    }

    const INNER: &[u8] = b"\xfa\x16\x3e\x00\x01\x09\xfa\x16\x3e\x00\x01\x01\x88\xb5inner payload";

    #[test]
    fn ipv4_outer_headers_are_exact() {
        let mut pool = Pool::new(PoolConfig::default());
        let mut p = pool.alloc_copy(INNER).unwrap();
        let (src, dst) = v4_ends();
        encapsulate(&mut p, &src, &dst, 1001, 50000).unwrap();
        let frame = p.data();
        assert_eq!(frame.len(), INNER.len() + 50);
        assert_eq!(&frame[50..], INNER, "the inner frame is untouched");
        let sliced = SlicedPacket::from_ethernet(frame).unwrap();
        let Some(NetSlice::Ipv4(ip)) = sliced.net else {
            panic!("not IPv4")
        };
        let h = ip.header();
        assert!(h.dont_fragment());
        assert_eq!((h.ttl(), h.identification()), (64, 0));
        assert_eq!(usize::from(h.total_len()), INNER.len() + 36);
        assert!(checksum::verify_ipv4_header(h.slice()));
        let Some(TransportSlice::Udp(udp)) = sliced.transport else {
            panic!("not UDP")
        };
        assert_eq!(
            (udp.source_port(), udp.destination_port(), udp.checksum()),
            (50000, 4789, 0)
        );
        assert_eq!(&udp.payload()[..8], &[0x08, 0, 0, 0, 0, 0x03, 0xe9, 0]);
        let meta = packet::parse(frame).unwrap();
        assert!(matches!(
            meta.tunnel,
            packet::Tunnel::Vxlan {
                vni: 1001,
                flags: 0x08,
                inner_offset: 50
            }
        ));
    }

    #[test]
    fn ipv6_udp_checksum_verifies() {
        let mut pool = Pool::new(PoolConfig::default());
        let mut p = pool.alloc_copy(INNER).unwrap();
        let (src, dst) = v6_ends();
        encapsulate(&mut p, &src, &dst, 0xabcdef, 65535).unwrap();
        let frame = p.data();
        assert_eq!(frame.len(), INNER.len() + 70);
        let pseudo = checksum::pseudo_header_v6(
            "2001:db8::11".parse().unwrap(),
            "2001:db8::12".parse().unwrap(),
            17,
            (INNER.len() + 16) as u32,
        );
        let udp = &frame[54..];
        assert_ne!(&udp[6..8], &[0, 0]);
        assert!(checksum::verify_transport(pseudo, udp));
        assert_eq!(&udp[8..16], &[0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0]);
    }

    #[test]
    fn refuses_mixed_families_and_short_headroom() {
        let mut pool = Pool::new(PoolConfig::default());
        let mut p = pool.alloc_copy(INNER).unwrap();
        let (src, _) = v4_ends();
        let (_, dst) = v6_ends();
        assert_eq!(
            encapsulate(&mut p, &src, &dst, 1, 50000),
            Err(EncapError::FamilyMismatch)
        );
        assert_eq!(p.data(), INNER);
        let (src, dst) = v6_ends();
        p.push_front(packet::MIN_HEADROOM - 60).unwrap();
        assert_eq!(
            encapsulate(&mut p, &src, &dst, 1, 50000),
            Err(EncapError::NoHeadroom)
        );
    }

    #[test]
    fn usable_mtu() {
        assert_eq!(inner_ip_mtu(1500, false), 1450);
        assert_eq!(inner_ip_mtu(1500, true), 1430);
        assert_eq!(outer_ip_len(1464, false), 1500);
        assert_eq!(outer_ip_len(1444, true), 1500);
    }

    #[test]
    fn non_ip_entropy_follows_the_macs() {
        let meta = Meta::default();
        let a = inner_entropy(INNER, &meta);
        assert_eq!(a, inner_entropy(INNER, &meta));
        let mut other = INNER.to_vec();
        other[5] ^= 1;
        assert_ne!(a, inner_entropy(&other, &meta));
    }

    proptest! {
        #[test]
        fn source_port_stays_in_the_dynamic_range(entropy: u64) {
            let port = source_port(entropy);
            prop_assert!(port >= SOURCE_PORT_MIN);
        }
    }
}
