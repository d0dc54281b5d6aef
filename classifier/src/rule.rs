//! One flow classifier as networking-sfc defines it.

/// An address prefix: 16 bytes (IPv4 in the first four) and a length in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub addr: [u8; 16],
    pub len: u8,
}

impl Prefix {
    pub fn v4(addr: std::net::Ipv4Addr, len: u8) -> Prefix {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&addr.octets());
        Prefix {
            addr: bytes,
            len: len.min(32),
        }
    }

    pub fn v6(addr: std::net::Ipv6Addr, len: u8) -> Prefix {
        Prefix {
            addr: addr.octets(),
            len: len.min(128),
        }
    }
}

/// A flow classifier: every `None` is a wildcard. `value` is what a match returns
/// (the dataplane stores its chain there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// IPv6 when true, else IPv4 (the networking-sfc `ethertype`).
    pub ipv6: bool,
    pub protocol: Option<u8>,
    /// Inclusive port ranges (TCP or UDP).
    pub src_ports: Option<(u16, u16)>,
    pub dst_ports: Option<(u16, u16)>,
    pub src_prefix: Option<Prefix>,
    pub dst_prefix: Option<Prefix>,
    pub logical_src: Option<u32>,
    pub logical_dst: Option<u32>,
    pub value: u32,
}

impl Rule {
    /// A rule matching every packet of one family.
    pub fn any(ipv6: bool, value: u32) -> Rule {
        Rule {
            ipv6,
            protocol: None,
            src_ports: None,
            dst_ports: None,
            src_prefix: None,
            dst_prefix: None,
            logical_src: None,
            logical_dst: None,
            value,
        }
    }

    /// The rule for the other direction of the same traffic (symmetric chains):
    /// sources and destinations swapped.
    pub fn reversed(&self, value: u32) -> Rule {
        Rule {
            src_ports: self.dst_ports,
            dst_ports: self.src_ports,
            src_prefix: self.dst_prefix,
            dst_prefix: self.src_prefix,
            logical_src: self.logical_dst,
            logical_dst: self.logical_src,
            value,
            ..*self
        }
    }

    /// How many key bits the rule pins down: prefix lengths, 8 for the protocol, 16
    /// minus the bits a port range leaves free, 32 per logical port. The most specific
    /// matching rule wins (see [`crate::Classifier`]).
    pub fn specificity(&self) -> u32 {
        let range_bits = |range: Option<(u16, u16)>| match range {
            None => 0,
            Some((first, last)) => {
                let size = u32::from(last - first) + 1;
                16 - (32 - (size - 1).leading_zeros()).min(16)
            }
        };
        let prefix_bits = |p: Option<Prefix>| p.map_or(0, |p| u32::from(p.len));
        prefix_bits(self.src_prefix)
            + prefix_bits(self.dst_prefix)
            + if self.protocol.is_some() { 8 } else { 0 }
            + range_bits(self.src_ports)
            + range_bits(self.dst_ports)
            + if self.logical_src.is_some() { 32 } else { 0 }
            + if self.logical_dst.is_some() { 32 } else { 0 }
    }
}

/// Splits an inclusive port range into the fewest (value, prefix length) blocks that
/// cover it exactly: at most 30 for a 16-bit range.
pub(crate) fn range_to_prefixes(first: u16, last: u16) -> Vec<(u16, u8)> {
    let mut out = Vec::new();
    let (mut low, high) = (u32::from(first), u32::from(last));
    while low <= high {
        // The largest aligned block starting at `low` that stays within the range.
        let mut size = if low == 0 {
            1 << 16
        } else {
            low & low.wrapping_neg()
        };
        while low + size - 1 > high {
            size >>= 1;
        }
        out.push((low as u16, 16 - size.trailing_zeros() as u8));
        low += size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(blocks: &[(u16, u8)]) -> Vec<u16> {
        let mut ports: Vec<u16> = blocks
            .iter()
            .flat_map(|&(value, len)| {
                let size = 1u32 << (16 - u32::from(len));
                (u32::from(value)..u32::from(value) + size).map(|p| p as u16)
            })
            .collect();
        ports.sort_unstable();
        ports
    }

    #[test]
    fn ranges_split_into_exact_prefix_blocks() {
        for (first, last) in [
            (80, 80),
            (0, 65535),
            (1024, 65535),
            (1, 2),
            (1000, 2000),
            (0, 0),
        ] {
            let blocks = range_to_prefixes(first, last);
            assert!(blocks.len() <= 30);
            assert_eq!(covered(&blocks), (first..=last).collect::<Vec<_>>());
        }
        assert_eq!(range_to_prefixes(0, 65535), vec![(0, 0)]);
        assert_eq!(range_to_prefixes(80, 80), vec![(80, 16)]);
    }

    #[test]
    fn specificity_counts_pinned_bits() {
        let mut r = Rule::any(false, 0);
        assert_eq!(r.specificity(), 0);
        r.protocol = Some(6);
        r.dst_ports = Some((80, 80));
        assert_eq!(r.specificity(), 8 + 16);
        r.dst_ports = Some((1024, 2047));
        assert_eq!(r.specificity(), 8 + 6);
        r.logical_src = Some(3);
        assert_eq!(r.specificity(), 8 + 6 + 32);
    }
}
