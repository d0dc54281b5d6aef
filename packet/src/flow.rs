//! The 5-tuple flow key and its hashes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A flow's 5-tuple. IPv4 addresses sit in the first four bytes of the address
/// fields, the rest zero. For ICMP echo both ports hold the identifier, so that a
/// request and its reply are the two directions of one flow; other ICMP and non-first
/// fragments have ports 0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct FlowKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub ipv6: bool,
}

const SEED: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// 64x64 -> 128 bit multiply folded back to 64 bits: a fast mixer with good
/// avalanche (the core of wyhash and friends).
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

#[inline(always)]
fn words(addr: &[u8; 16]) -> (u64, u64) {
    let (high, low) = addr.split_at(8);
    (
        u64::from_le_bytes(high.try_into().unwrap_or_default()),
        u64::from_le_bytes(low.try_into().unwrap_or_default()),
    )
}

#[inline(always)]
fn hash_ordered(a: &[u8; 16], a_port: u16, b: &[u8; 16], b_port: u16, tail: u64) -> u64 {
    let (a0, a1) = words(a);
    let (b0, b1) = words(b);
    let ports = u64::from(a_port) << 16 | u64::from(b_port);
    let h = fold_mul(a0 ^ SEED[0], b0 ^ SEED[1]) ^ fold_mul(a1 ^ SEED[2], b1 ^ SEED[3]);
    fold_mul(h ^ ports << 24 ^ tail, SEED[0] ^ SEED[3])
}

impl FlowKey {
    pub fn new_v4(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        src_port: u16,
        dst_port: u16,
    ) -> Self {
        let mut key = FlowKey {
            protocol,
            src_port,
            dst_port,
            ..FlowKey::default()
        };
        key.src[..4].copy_from_slice(&src.octets());
        key.dst[..4].copy_from_slice(&dst.octets());
        key
    }

    pub fn new_v6(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        protocol: u8,
        src_port: u16,
        dst_port: u16,
    ) -> Self {
        FlowKey {
            src: src.octets(),
            dst: dst.octets(),
            src_port,
            dst_port,
            protocol,
            ipv6: true,
        }
    }

    pub fn src_ip(&self) -> IpAddr {
        address(&self.src, self.ipv6)
    }

    pub fn dst_ip(&self) -> IpAddr {
        address(&self.dst, self.ipv6)
    }

    /// The key of the other direction of the same flow.
    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..*self
        }
    }

    #[inline]
    fn tail(&self) -> u64 {
        u64::from(self.protocol) | u64::from(self.ipv6) << 8
    }

    /// A fast hash of the key (direction-sensitive).
    #[inline]
    pub fn hash(&self) -> u64 {
        hash_ordered(
            &self.src,
            self.src_port,
            &self.dst,
            self.dst_port,
            self.tail(),
        )
    }

    /// A hash equal for both directions of a flow: the endpoints are put in a fixed
    /// order first (symmetric chains and RSS-style spreading need both directions on
    /// the same path).
    #[inline]
    pub fn symmetric_hash(&self) -> u64 {
        if (self.src, self.src_port) <= (self.dst, self.dst_port) {
            hash_ordered(
                &self.src,
                self.src_port,
                &self.dst,
                self.dst_port,
                self.tail(),
            )
        } else {
            hash_ordered(
                &self.dst,
                self.dst_port,
                &self.src,
                self.src_port,
                self.tail(),
            )
        }
    }
}

fn address(bytes: &[u8; 16], ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::from(*bytes))
    } else {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn key(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16) -> FlowKey {
        FlowKey::new_v4(Ipv4Addr::from(src), Ipv4Addr::from(dst), 6, sp, dp)
    }

    #[test]
    fn symmetric_hash_is_equal_both_ways_and_plain_hash_is_not() {
        let k = key([10, 0, 0, 5], [10, 0, 0, 9], 40000, 80);
        assert_eq!(k.symmetric_hash(), k.reversed().symmetric_hash());
        assert_ne!(k.hash(), k.reversed().hash());
    }

    #[test]
    fn hashes_spread_over_buckets() {
        // 4096 flows differing only in source port into 64 buckets: each bucket
        // should get roughly 64; a weak hash piles them up.
        let mut buckets = [0u32; 64];
        for port in 0..4096u16 {
            let h = key([10, 0, 0, 5], [10, 0, 0, 9], 1024 + port, 80).hash();
            buckets[(h % 64) as usize] += 1;
        }
        let (min, max) = (buckets.iter().min().unwrap(), buckets.iter().max().unwrap());
        assert!(*min > 32 && *max < 110, "min {min} max {max}");
    }

    #[test]
    fn distinct_keys_rarely_collide() {
        let mut seen = HashSet::new();
        for a in 0..256u16 {
            for p in 0..64u16 {
                let k = key(
                    [10, 0, (a >> 8) as u8, a as u8],
                    [192, 0, 2, 1],
                    1000 + p,
                    53,
                );
                seen.insert(k.hash());
            }
        }
        assert_eq!(seen.len(), 256 * 64);
    }

    #[test]
    fn v6_addresses_round_trip() {
        let src: Ipv6Addr = "fd00:a::5".parse().unwrap();
        let dst: Ipv6Addr = "fd00:b::5".parse().unwrap();
        let k = FlowKey::new_v6(src, dst, 17, 1, 2);
        assert_eq!(k.src_ip(), IpAddr::V6(src));
        assert_eq!(k.reversed().src_ip(), IpAddr::V6(dst));
        let v4 = key([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
        assert_eq!(v4.dst_ip(), IpAddr::V4(Ipv4Addr::new(5, 6, 7, 8)));
    }
}
