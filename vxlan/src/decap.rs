//! Decapsulation: checks the outer headers the ingress parse already read, then moves
//! the frame start to the inner Ethernet header (no copy).

use std::net::IpAddr;

use packet::meta::VXLAN_PORT;
use packet::{Packet, Tunnel, L4};

use crate::FLAG_I;

/// What the outer headers said about an accepted frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decapsulated {
    pub vni: u32,
    /// The sending VTEP (the outer source address).
    pub source: IpAddr,
}

/// Why a frame on the uplink is not (valid) VXLAN for this VTEP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecapError {
    #[error("not UDP to port 4789")]
    NotVxlan,
    #[error("outer destination is not this VTEP")]
    WrongDestination,
    #[error("VXLAN header or inner Ethernet header cut short, or an outer fragment")]
    Truncated,
    #[error("I flag not set")]
    BadFlags,
}

const INNER_ETHERNET: usize = 14;

/// Strips the outer headers of a VXLAN frame whose outer metadata is in `packet.meta`
/// (from `packet::parse`), when it is addressed to `local` (this node's VTEP).
/// Reserved bits of the header are ignored, as RFC 7348 says receivers do; the I flag
/// must be set. On error the packet is unchanged. The metadata still describes the
/// outer frame afterwards: the caller parses the inner frame.
pub fn decapsulate(packet: &mut Packet, local: IpAddr) -> Result<Decapsulated, DecapError> {
    let meta = &packet.meta;
    if meta.l4 != L4::Udp || meta.flow.dst_port != VXLAN_PORT {
        return Err(DecapError::NotVxlan);
    }
    if meta.flow.dst_ip() != local {
        return Err(DecapError::WrongDestination);
    }
    // Outer fragments are not reassembled: the inner frame would be incomplete.
    if meta.fragment {
        return Err(DecapError::Truncated);
    }
    let Tunnel::Vxlan {
        vni,
        flags,
        inner_offset,
    } = meta.tunnel
    else {
        return Err(DecapError::Truncated);
    };
    if flags & FLAG_I == 0 {
        return Err(DecapError::BadFlags);
    }
    // The inner frame ends where the UDP datagram does (outer Ethernet padding and
    // anything beyond the UDP length are not part of it).
    let udp_at = usize::from(meta.l4_offset);
    let udp_len = packet
        .data()
        .get(udp_at + 4..udp_at + 6)
        .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let end = (udp_at + udp_len).min(usize::from(meta.l3_end));
    let inner = usize::from(inner_offset);
    if inner + INNER_ETHERNET > end || end > packet.len() {
        return Err(DecapError::Truncated);
    }
    let source = meta.flow.src_ip();
    packet.truncate(end);
    packet.pull_front(inner);
    Ok(Decapsulated { vni, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encap::{encapsulate, Endpoint};
    use packet::{parse, Pool, PoolConfig};
    use proptest::prelude::*;

    const INNER: &[u8] = b"\xfa\x16\x3e\x00\x01\x09\xfa\x16\x3e\x00\x01\x01\x88\xb5inner payload";

    fn endpoints(v6: bool) -> (Endpoint, Endpoint) {
        let (a, b) = if v6 {
            ("2001:db8::11", "2001:db8::12")
        } else {
            ("192.0.2.11", "192.0.2.12")
        };
        (
            Endpoint {
                ip: a.parse().unwrap(),
                mac: "02:00:c0:00:02:0b".parse().unwrap(),
            },
            Endpoint {
                ip: b.parse().unwrap(),
                mac: "02:00:c0:00:02:0c".parse().unwrap(),
            },
        )
    }

    fn encapsulated(pool: &mut Pool, v6: bool, vni: u32) -> Packet {
        let mut p = pool.alloc_copy(INNER).unwrap();
        let (a, b) = endpoints(v6);
        encapsulate(&mut p, &a, &b, vni, 50000).unwrap();
        p.meta = parse(p.data()).unwrap();
        p
    }

    #[test]
    fn round_trip_restores_the_inner_frame_in_place() {
        let mut pool = Pool::new(PoolConfig::default());
        for v6 in [false, true] {
            let mut p = encapsulated(&mut pool, v6, 1001);
            let headroom = p.headroom();
            let (a, b) = endpoints(v6);
            let got = decapsulate(&mut p, b.ip).unwrap();
            assert_eq!(
                got,
                Decapsulated {
                    vni: 1001,
                    source: a.ip
                }
            );
            assert_eq!(p.data(), INNER);
            assert_eq!(p.headroom(), headroom + if v6 { 70 } else { 50 });
            pool.free(p);
        }
    }

    #[test]
    fn refusals_leave_the_packet_alone() {
        let mut pool = Pool::new(PoolConfig::default());
        let (a, b) = endpoints(false);
        let mut p = encapsulated(&mut pool, false, 7);
        assert_eq!(decapsulate(&mut p, a.ip), Err(DecapError::WrongDestination));
        // Flags 0x00: no I flag.
        p.data_mut()[42] = 0;
        p.meta = parse(p.data()).unwrap();
        assert_eq!(decapsulate(&mut p, b.ip), Err(DecapError::BadFlags));
        // Reserved bits beside the I flag are ignored.
        p.data_mut()[42] = 0x0c;
        p.meta = parse(p.data()).unwrap();
        assert!(decapsulate(&mut p, b.ip).is_ok());
    }

    #[test]
    fn a_vxlan_header_without_an_inner_frame_is_truncated() {
        let mut pool = Pool::new(PoolConfig::default());
        let (_, b) = endpoints(false);
        let mut p = encapsulated(&mut pool, false, 7);
        let full = p.data().to_vec();
        // Outer headers and 10 bytes of inner Ethernet, lengths fixed to match.
        let mut cut = full[..60].to_vec();
        cut[16..18].copy_from_slice(&46u16.to_be_bytes());
        cut[38..40].copy_from_slice(&26u16.to_be_bytes());
        cut[24..26].copy_from_slice(&[0, 0]);
        let sum = packet::checksum::ipv4_header(&cut[14..34]);
        cut[24..26].copy_from_slice(&sum.to_be_bytes());
        pool.free(p);
        p = pool.alloc_copy(&cut).unwrap();
        p.meta = parse(p.data()).unwrap();
        assert_eq!(decapsulate(&mut p, b.ip), Err(DecapError::Truncated));
    }

    proptest! {
        /// Whatever bytes follow the outer headers, decapsulation never panics and
        /// never yields a frame beyond the received one.
        #[test]
        fn hostile_frames_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..80), flags: u8) {
            let mut pool = Pool::new(PoolConfig::default());
            let (_, b) = endpoints(false);
            let mut p = encapsulated(&mut pool, false, 7);
            let mut bytes = p.data()[..50].to_vec();
            bytes[42] = flags;
            bytes.extend_from_slice(&tail);
            pool.free(p);
            p = pool.alloc_copy(&bytes).unwrap();
            if let Ok(meta) = parse(p.data()) {
                p.meta = meta;
                let before = p.len();
                if decapsulate(&mut p, b.ip).is_ok() {
                    prop_assert!(p.len() + 50 <= before);
                }
            }
        }
    }
}
