//! The networking-sfc MPLS encapsulation: one label between the Ethernet header and
//! the IP packet, label = chain_id << 8 | service index, TC 0 for IPv4 and 1 for IPv6,
//! bottom of stack, TTL 255 unless the chain sets another.

use packet::meta::ether_type;
use packet::{Packet, L3};

pub const LABEL_LEN: usize = 4;
/// The contract's label TTL when the chain sets none.
pub const TTL: u8 = 255;

/// The label stack entry for a hop.
pub fn entry(chain_id: u16, si: u8, l3: L3, ttl: u8) -> u32 {
    let label = u32::from(chain_id) << 8 | u32::from(si);
    let tc = u32::from(l3 == L3::Ipv6);
    label << 12 | tc << 9 | 1 << 8 | u32::from(ttl)
}

/// (chain_id, service index) of a label stack entry.
pub fn label_of(entry: u32) -> (u16, u8) {
    let label = entry >> 12;
    ((label >> 8) as u16, label as u8)
}

fn ether_type_offset(packet: &Packet) -> usize {
    12 + 4 * usize::from(packet.meta.vlan_count)
}

/// Pushes the label behind the Ethernet header (headers move into the headroom, the
/// IP packet stays). `false` when the packet is not IP or the headroom is short.
pub fn push(packet: &mut Packet, chain_id: u16, si: u8, ttl: u8) -> bool {
    let l3 = packet.meta.l3;
    if !matches!(l3, L3::Ipv4 | L3::Ipv6) {
        return false;
    }
    let at = ether_type_offset(packet);
    let stack_entry = entry(chain_id, si, l3, ttl);
    let Some(gap) = packet.insert_gap(at + 2, LABEL_LEN) else {
        return false;
    };
    gap.copy_from_slice(&stack_entry.to_be_bytes());
    packet.data_mut()[at..at + 2].copy_from_slice(&ether_type::MPLS.to_be_bytes());
    let meta = &mut packet.meta;
    meta.shift(LABEL_LEN as i32);
    meta.ether_type = ether_type::MPLS;
    meta.mpls_depth = 1;
    meta.mpls_top = stack_entry;
    true
}

/// Pops a single label in front of an IP packet; `false` (nothing changed) for a
/// deeper stack or a non-IP payload.
pub fn pop(packet: &mut Packet) -> bool {
    let inner = match packet.meta.l3 {
        L3::Ipv4 => ether_type::IPV4,
        L3::Ipv6 => ether_type::IPV6,
        L3::Arp | L3::None => return false,
    };
    if packet.meta.ether_type != ether_type::MPLS || packet.meta.mpls_depth != 1 {
        return false;
    }
    let at = ether_type_offset(packet);
    if !packet.remove_gap(at + 2, LABEL_LEN) {
        return false;
    }
    packet.data_mut()[at..at + 2].copy_from_slice(&inner.to_be_bytes());
    let meta = &mut packet.meta;
    meta.shift(-(LABEL_LEN as i32));
    meta.ether_type = inner;
    meta.mpls_depth = 0;
    meta.mpls_top = 0;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::{parse, Pool, PoolConfig};

    fn ipv6_udp() -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, 10, 17, 64]);
        f.extend_from_slice(&[0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
        f.extend_from_slice(&[0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6]);
        f.extend_from_slice(&[0x9c, 0x40, 0, 53, 0, 10, 0, 0, b'h', b'i']);
        f
    }

    #[test]
    fn push_then_pop_restores_frame_and_metadata() {
        let mut pool = Pool::new(PoolConfig::default());
        let frame = ipv6_udp();
        let mut p = pool.alloc_copy(&frame).unwrap();
        p.meta = parse(&frame).unwrap();
        assert!(push(&mut p, 7, 254, TTL));
        assert_eq!(&p.data()[12..18], &[0x88, 0x47, 0x00, 0x7f, 0xe3, 0xff]);
        let reparsed = parse(p.data()).unwrap();
        assert_eq!(p.meta, reparsed, "metadata follows the frame");
        assert_eq!(label_of(p.meta.mpls_top), (7, 254));
        assert!(pop(&mut p));
        assert_eq!(p.data(), frame.as_slice());
        assert_eq!(p.meta, parse(&frame).unwrap());
        assert!(!pop(&mut p), "no label left");
    }

    #[test]
    fn label_layout() {
        // chain 7, SI 255, IPv4: label 0x7ff, TC 0, S 1, TTL 255.
        assert_eq!(entry(7, 255, L3::Ipv4, TTL), 0x007f_f1ff);
        assert_eq!(entry(4095, 1, L3::Ipv6, TTL) >> 9 & 7, 1);
        assert_eq!(label_of(entry(4095, 1, L3::Ipv6, TTL)), (4095, 1));
        // A chain that sets its own TTL: only the low byte changes.
        assert_eq!(entry(7, 255, L3::Ipv4, 64), 0x007f_f140);
    }
}
