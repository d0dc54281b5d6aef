//! The error a VM gets when its packet does not fit the underlay once encapsulated:
//! ICMP "fragmentation needed" (IPv4 with DF, RFC 1191) or ICMPv6 "packet too big"
//! (RFC 8201). Built in place in the refused packet's own buffer: the quoted part of
//! the original already sits behind where the new headers go, so nothing is
//! allocated and only the headers are written.

use std::net::IpAddr;

use packet::meta::{ether_type, ip_proto};
use packet::{checksum, MacAddr, Packet, L3, L4};

const ETHERNET: usize = 14;
/// ICMP errors quote at most this much IPv6 so they fit the IPv6 minimum MTU (1280).
const IPV6_QUOTE_MAX: usize = 1280 - 40 - 8;
const ERROR_TTL: u8 = 64;

/// Who sends the error: the network's router, from its gateway address.
#[derive(Clone, Copy, Debug)]
pub struct Sender {
    pub mac: MacAddr,
    pub ip: IpAddr,
}

/// Whether the packet in `packet` (an untagged frame, `packet.meta` its parse) earns a
/// "too big" error: IPv4 with DF or IPv6, not itself an ICMP error, from a unicast
/// source of the sender's family.
pub fn earns_too_big(packet: &Packet, sender: &Sender) -> bool {
    let meta = &packet.meta;
    let frame = packet.data();
    let l3 = usize::from(meta.l3_offset);
    let source = meta.flow.src_ip();
    if source.is_unspecified() || source.is_multicast() {
        return false;
    }
    match (meta.l3, sender.ip) {
        (L3::Ipv4, IpAddr::V4(_)) => {
            let dont_fragment = frame.get(l3 + 6).is_some_and(|b| b & 0x40 != 0);
            let is_error = meta.l4 == L4::Icmp && matches!(meta.icmp_type, 3 | 4 | 5 | 11 | 12);
            dont_fragment && !is_error
        }
        (L3::Ipv6, IpAddr::V6(_)) => !(meta.l4 == L4::Icmpv6 && meta.icmp_type < 128),
        _ => false,
    }
}

/// Rewrites the packet into the "too big" error for its source, reporting `mtu`,
/// from `sender` to `destination_mac` (the sending VM). The caller has checked
/// [`earns_too_big`]. Returns `false` (packet unusable, to be dropped) when the
/// headroom is short.
pub fn into_too_big(
    packet: &mut Packet,
    sender: &Sender,
    destination_mac: MacAddr,
    mtu: u16,
) -> bool {
    let meta = packet.meta;
    let l3 = usize::from(meta.l3_offset);
    let ip_end = usize::from(meta.l3_end).min(packet.len());
    let original_source = meta.flow.src_ip();
    let (ip_header, quote_len) = match meta.l3 {
        L3::Ipv4 => {
            let ihl = usize::from(packet.data()[l3] & 0x0f) * 4;
            // RFC 792: the header and the first 8 bytes of the datagram.
            (20, (ihl + 8).min(ip_end - l3))
        }
        _ => (40, (ip_end - l3).min(IPV6_QUOTE_MAX)),
    };
    let quote_at = ETHERNET + ip_header + 8;
    // Move the frame start so that the quote (now at `l3`) lands at `quote_at`.
    if quote_at > l3 {
        if packet.push_front(quote_at - l3).is_none() {
            return false;
        }
    } else {
        packet.pull_front(l3 - quote_at);
    }
    packet.truncate(quote_at + quote_len);
    let icmp_len = 8 + quote_len;
    let frame = packet.data_mut();
    frame[0..6].copy_from_slice(&destination_mac.0);
    frame[6..12].copy_from_slice(&sender.mac.0);
    let (icmp_at, icmp_sum) = match (sender.ip, original_source) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            frame[12..14].copy_from_slice(&ether_type::IPV4.to_be_bytes());
            let ip = &mut frame[ETHERNET..ETHERNET + 20];
            ip[0] = 0x45;
            ip[1] = 0;
            ip[2..4].copy_from_slice(&((20 + icmp_len) as u16).to_be_bytes());
            ip[4..8].copy_from_slice(&[0, 0, 0, 0]);
            ip[8] = ERROR_TTL;
            ip[9] = ip_proto::ICMP;
            ip[10..12].copy_from_slice(&[0, 0]);
            ip[12..16].copy_from_slice(&src.octets());
            ip[16..20].copy_from_slice(&dst.octets());
            let sum = checksum::ipv4_header(ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            let icmp = &mut frame[ETHERNET + 20..ETHERNET + 28];
            // Type 3 code 4, unused 16 bits, next-hop MTU (RFC 1191).
            icmp[0..4].copy_from_slice(&[3, 4, 0, 0]);
            icmp[4..6].copy_from_slice(&[0, 0]);
            icmp[6..8].copy_from_slice(&mtu.to_be_bytes());
            (ETHERNET + 20, 0)
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            frame[12..14].copy_from_slice(&ether_type::IPV6.to_be_bytes());
            let ip = &mut frame[ETHERNET..ETHERNET + 40];
            ip[0..4].copy_from_slice(&0x6000_0000u32.to_be_bytes());
            ip[4..6].copy_from_slice(&(icmp_len as u16).to_be_bytes());
            ip[6] = ip_proto::ICMPV6;
            ip[7] = ERROR_TTL;
            ip[8..24].copy_from_slice(&src.octets());
            ip[24..40].copy_from_slice(&dst.octets());
            let icmp = &mut frame[ETHERNET + 40..ETHERNET + 48];
            // Type 2 code 0, 32-bit MTU.
            icmp[0..4].copy_from_slice(&[2, 0, 0, 0]);
            icmp[4..8].copy_from_slice(&u32::from(mtu).to_be_bytes());
            let pseudo = checksum::pseudo_header_v6(src, dst, ip_proto::ICMPV6, icmp_len as u32);
            (ETHERNET + 40, pseudo)
        }
        _ => return false,
    };
    let sum = checksum::transport(icmp_sum, &frame[icmp_at..]);
    frame[icmp_at + 2..icmp_at + 4].copy_from_slice(&sum.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use packet::{parse, Pool, PoolConfig};

    const VM: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 1, 1];
    const ROUTER: [u8; 6] = [2, 0, 0x0a, 0, 0, 1];

    fn sender(ip: &str) -> Sender {
        Sender {
            mac: MacAddr(ROUTER),
            ip: ip.parse().unwrap(),
        }
    }

    #[test]
    fn ipv4_frag_needed_quotes_header_and_8_bytes() {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(VM, ROUTER)
            .ipv4([10, 0, 0, 5], [10, 0, 0, 9], 64)
            .udp(40000, 53)
            .write(&mut frame, &[7u8; 1460])
            .unwrap();
        // DF set (the error is only due to packets that forbid fragmentation).
        frame[20] |= 0x40;
        let sum = checksum::ipv4_header(&frame[14..34]);
        frame[24..26].copy_from_slice(&sum.to_be_bytes());
        let original = frame.clone();
        let mut pool = Pool::new(PoolConfig::default());
        let mut p = pool.alloc_copy(&frame).unwrap();
        p.meta = parse(p.data()).unwrap();
        let s = sender("10.0.0.1");
        assert!(earns_too_big(&p, &s));
        assert!(into_too_big(&mut p, &s, MacAddr(VM), 1450));
        let out = p.data();
        assert_eq!(out.len(), 14 + 20 + 8 + 28);
        assert_eq!(&out[0..6], &VM);
        assert_eq!(&out[42..], &original[14..14 + 28]);
        let meta = parse(out).unwrap();
        assert_eq!((meta.icmp_type, meta.icmp_code), (3, 4));
        assert_eq!(&out[40..42], &1450u16.to_be_bytes());
        assert!(checksum::verify_transport(0, &out[34..]));
        assert_eq!(meta.flow.dst_ip().to_string(), "10.0.0.5");
    }

    #[test]
    fn ipv6_packet_too_big_fits_the_minimum_mtu() {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(VM, ROUTER)
            .ipv6(
                [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5],
                [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
                64,
            )
            .udp(40000, 53)
            .write(&mut frame, &[7u8; 1440])
            .unwrap();
        let mut pool = Pool::new(PoolConfig::default());
        let mut p = pool.alloc_copy(&frame).unwrap();
        p.meta = parse(p.data()).unwrap();
        let s = sender("fd00:1::1");
        assert!(earns_too_big(&p, &s));
        assert!(into_too_big(&mut p, &s, MacAddr(VM), 1430));
        let out = p.data();
        assert_eq!(out.len(), 14 + 1280);
        assert_eq!(&out[62..], &frame[14..14 + 1232]);
        let meta = parse(out).unwrap();
        assert_eq!((meta.icmp_type, meta.icmp_code), (2, 0));
        assert_eq!(&out[58..62], &1430u32.to_be_bytes());
        let pseudo = checksum::pseudo_header_v6(
            "fd00:1::1".parse().unwrap(),
            "fd00:1::5".parse().unwrap(),
            58,
            1240,
        );
        assert!(checksum::verify_transport(pseudo, &out[54..]));
    }

    #[test]
    fn no_error_without_df_or_about_an_error() {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(VM, ROUTER)
            .ipv4([10, 0, 0, 5], [10, 0, 0, 9], 64)
            .udp(40000, 53)
            .write(&mut frame, &[7u8; 100])
            .unwrap();
        frame[20] &= !0x40;
        let sum = checksum::ipv4_header(&frame[14..34]);
        frame[24..26].copy_from_slice(&sum.to_be_bytes());
        let mut pool = Pool::new(PoolConfig::default());
        let mut p = pool.alloc_copy(&frame).unwrap();
        p.meta = parse(p.data()).unwrap();
        assert!(!earns_too_big(&p, &sender("10.0.0.1")));
        assert!(!earns_too_big(&p, &sender("fd00:1::1")));
    }
}
