//! Internet checksums (RFC 1071): full computation and verification, and the
//! incremental update of RFC 1624 used when a stage rewrites an address, a port or
//! the TTL. Written by hand: etherparse computes checksums only from its decoded
//! header structs, and the rewrite path works on the bytes in place.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` as big-endian 16-bit words to a running ones'-complement sum (an odd
/// last byte is padded with zero, as RFC 1071 says).
#[inline]
pub fn accumulate(mut sum: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        sum += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    sum + u64::from(u32::from_be_bytes(tail))
}

/// Folds a running sum to 16 bits (without complementing it).
#[inline]
pub fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The checksum field value for data whose running sum is `sum`.
#[inline]
pub fn finish(sum: u64) -> u16 {
    !fold(sum)
}

/// The IPv4 header checksum of `header` (its checksum field, bytes 10-11, skipped).
pub fn ipv4_header(header: &[u8]) -> u16 {
    let sum = accumulate(accumulate(0, &header[..10]), &header[12..]);
    finish(sum)
}

/// True when an IPv4 header (checksum field included) sums to all ones.
pub fn verify_ipv4_header(header: &[u8]) -> bool {
    fold(accumulate(0, header)) == 0xffff
}

/// [`verify_ipv4_header`] for the common header without options: five 32-bit words
/// summed, no loop over a slice of unknown length.
#[inline]
pub fn verify_ipv4_header_without_options(header: &[u8; 20]) -> bool {
    let word = |at: usize| {
        u64::from(u32::from_be_bytes([
            header[at],
            header[at + 1],
            header[at + 2],
            header[at + 3],
        ]))
    };
    fold(word(0) + word(4) + word(8) + word(12) + word(16)) == 0xffff
}

/// The running sum of the IPv4 pseudo-header for a TCP/UDP/ICMP-style checksum.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4_len: u16) -> u64 {
    let sum = accumulate(accumulate(0, &src.octets()), &dst.octets());
    sum + u64::from(protocol) + u64::from(l4_len)
}

/// The running sum of the IPv6 pseudo-header (RFC 8200 section 8.1).
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, l4_len: u32) -> u64 {
    let sum = accumulate(accumulate(0, &src.octets()), &dst.octets());
    sum + u64::from(l4_len) + u64::from(next_header)
}

/// The checksum of a transport segment (checksum field zeroed or skipped by the
/// caller) over a pseudo-header sum.
pub fn transport(pseudo_header: u64, segment: &[u8]) -> u16 {
    finish(accumulate(pseudo_header, segment))
}

/// True when a transport segment, checksum field included, verifies against the
/// pseudo-header sum.
pub fn verify_transport(pseudo_header: u64, segment: &[u8]) -> bool {
    fold(accumulate(pseudo_header, segment)) == 0xffff
}

/// RFC 1624 equation 3: the checksum after one 16-bit word of the covered data
/// changes from `old` to `new`: HC' = ~(~HC + ~m + m').
#[inline]
pub fn update_word(checksum: u16, old: u16, new: u16) -> u16 {
    let sum = u64::from(!checksum) + u64::from(!old) + u64::from(new);
    !fold(sum)
}

/// The checksum after the covered bytes `old` are replaced by `new` (same even
/// length, 16-bit aligned in the covered data): addresses, ports.
#[inline]
pub fn update_bytes(checksum: u16, old: &[u8], new: &[u8]) -> u16 {
    debug_assert_eq!(old.len(), new.len());
    debug_assert_eq!(old.len() % 2, 0);
    let mut sum = u64::from(!checksum);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        sum += u64::from(!u16::from_be_bytes([o[0], o[1]]));
        sum += u64::from(u16::from_be_bytes([n[0], n[1]]));
    }
    !fold(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IPv4 header of RFC 1071's usual worked example (checksum 0xb861).
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn ipv4_header_checksum_matches_known_value() {
        assert_eq!(ipv4_header(&HEADER), 0xb861);
        assert!(verify_ipv4_header(&HEADER));
        let mut bad = HEADER;
        bad[11] ^= 1;
        assert!(!verify_ipv4_header(&bad));
        assert!(verify_ipv4_header_without_options(&HEADER));
        assert!(!verify_ipv4_header_without_options(&bad));
    }

    #[test]
    fn incremental_ttl_update_equals_recomputation() {
        let mut header = HEADER;
        let old = u16::from_be_bytes([header[8], header[9]]);
        header[8] -= 1;
        let new = u16::from_be_bytes([header[8], header[9]]);
        let updated = update_word(0xb861, old, new);
        assert_eq!(updated, ipv4_header(&header));
    }

    #[test]
    fn incremental_address_update_equals_recomputation() {
        let mut header = HEADER;
        let new_src = [203, 0, 113, 11];
        let updated = update_bytes(0xb861, &header[12..16], &new_src);
        header[12..16].copy_from_slice(&new_src);
        assert_eq!(updated, ipv4_header(&header));
    }

    #[test]
    fn odd_length_data_is_zero_padded() {
        assert_eq!(fold(accumulate(0, &[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }

    #[test]
    fn udp_checksum_known_value() {
        // UDP 10.0.0.5:1000 -> 10.0.0.6:2000, payload "hi", checksum computed by hand:
        // pseudo 0x0a00+0x0005+0x0a00+0x0006+0x0011+0x000a = 0x1426
        // header 0x03e8+0x07d0+0x000a = 0x0bc2, payload 0x6869 -> total 0x8851 -> !0x77ae
        let segment = [0x03, 0xe8, 0x07, 0xd0, 0x00, 0x0a, 0x00, 0x00, b'h', b'i'];
        let pseudo = pseudo_header_v4(
            Ipv4Addr::new(10, 0, 0, 5),
            Ipv4Addr::new(10, 0, 0, 6),
            17,
            10,
        );
        assert_eq!(transport(pseudo, &segment), 0x77ae);
        let mut with_sum = segment;
        with_sum[6..8].copy_from_slice(&0x77aeu16.to_be_bytes());
        assert!(verify_transport(pseudo, &with_sum));
    }
}
