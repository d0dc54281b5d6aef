//! The packet fields a classifier looks at, and their masked form (a hash key).

use packet::{FlowKey, Meta};

/// What a packet offers the classifier. Addresses are 16 bytes (IPv4 in the first
/// four, as in [`FlowKey`]); logical ports are the dataplane's ids ([`Key::NO_PORT`]
/// when unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Key {
    pub ipv6: bool,
    pub protocol: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub logical_src: u32,
    pub logical_dst: u32,
}

impl Key {
    /// The id of no logical port: matches only rules without that field.
    pub const NO_PORT: u32 = u32::MAX;

    /// The key of a parsed IP packet.
    pub fn from_flow(flow: &FlowKey, logical_src: u32, logical_dst: u32) -> Key {
        Key {
            ipv6: flow.ipv6,
            protocol: flow.protocol,
            src: flow.src,
            dst: flow.dst,
            src_port: flow.src_port,
            dst_port: flow.dst_port,
            logical_src,
            logical_dst,
        }
    }

    /// The key of a packet from its metadata (logical source from ingress).
    pub fn from_meta(meta: &Meta, logical_dst: u32) -> Key {
        Key::from_flow(&meta.flow, meta.logical_port, logical_dst)
    }
}

/// Which bits of each field a table compares: prefix lengths for addresses and
/// ports, all-or-nothing for protocol and logical ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Mask {
    pub ipv6: bool,
    pub protocol: bool,
    pub src_len: u8,
    pub dst_len: u8,
    pub src_port_len: u8,
    pub dst_port_len: u8,
    pub logical_src: bool,
    pub logical_dst: bool,
}

fn mask_address(addr: &[u8; 16], len: u8) -> [u8; 16] {
    let mut out = [0u8; 16];
    let len = usize::from(len).min(128);
    let full = len / 8;
    out[..full].copy_from_slice(&addr[..full]);
    if len % 8 != 0 {
        out[full] = addr[full] & (0xffu8 << (8 - len % 8));
    }
    out
}

fn mask_port(port: u16, len: u8) -> u16 {
    match len {
        0 => 0,
        len => port & (u16::MAX << (16 - u32::from(len.min(16)))),
    }
}

impl Mask {
    /// `key` with the bits this mask ignores cleared.
    #[inline]
    pub fn apply(&self, key: &Key) -> Key {
        Key {
            ipv6: key.ipv6,
            protocol: if self.protocol { key.protocol } else { 0 },
            src: mask_address(&key.src, self.src_len),
            dst: mask_address(&key.dst, self.dst_len),
            src_port: mask_port(key.src_port, self.src_port_len),
            dst_port: mask_port(key.dst_port, self.dst_port_len),
            logical_src: if self.logical_src { key.logical_src } else { 0 },
            logical_dst: if self.logical_dst { key.logical_dst } else { 0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_clear_low_bits() {
        let a = [10, 0, 0x37, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(&mask_address(&a, 20)[..4], &[10, 0, 0x30, 0]);
        assert_eq!(mask_address(&a, 0), [0; 16]);
        assert_eq!(mask_address(&a, 128), a);
        assert_eq!(mask_port(0x1234, 8), 0x1200);
        assert_eq!(mask_port(0x1234, 16), 0x1234);
        assert_eq!(mask_port(0x1234, 0), 0);
    }
}
