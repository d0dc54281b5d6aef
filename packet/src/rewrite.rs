//! In-place header rewrites shared by the stages: Ethernet addresses, VLAN tags, TTL.
//! Each keeps the metadata's offsets and the checksums right.

use crate::buffer::Packet;
use crate::checksum;
use crate::mac::MacAddr;
use crate::meta::{ether_type, L3};

const MACS_LEN: usize = 12;
const VLAN_TAG_LEN: usize = 4;

/// The destination MAC of a frame of at least 6 bytes.
#[inline]
pub fn destination_mac(frame: &[u8]) -> MacAddr {
    MacAddr(frame.first_chunk::<6>().copied().unwrap_or_default())
}

/// The source MAC of a frame of at least 12 bytes.
#[inline]
pub fn source_mac(frame: &[u8]) -> MacAddr {
    let mut mac = [0u8; 6];
    if let Some(bytes) = frame.get(6..12) {
        mac.copy_from_slice(bytes);
    }
    MacAddr(mac)
}

/// Sets both Ethernet addresses (the frame is at least 12 bytes, as every parsed
/// frame is).
#[inline]
pub fn set_macs(frame: &mut [u8], destination: MacAddr, source: MacAddr) {
    if let Some(macs) = frame.get_mut(..MACS_LEN) {
        macs[..6].copy_from_slice(&destination.0);
        macs[6..].copy_from_slice(&source.0);
    }
}

/// Removes the outer VLAN tag in place (the MACs move forward by four bytes, the
/// payload stays). Returns `false` when the frame has no tag.
pub fn pop_vlan(packet: &mut Packet) -> bool {
    if packet.meta.vlan_count == 0 || !packet.remove_gap(MACS_LEN, VLAN_TAG_LEN) {
        return false;
    }
    let meta = &mut packet.meta;
    meta.vlan_count -= 1;
    meta.vlan_tci = [meta.vlan_tci[1], 0];
    meta.shift(-(VLAN_TAG_LEN as i32));
    true
}

/// Inserts an 802.1Q tag (TPID 0x8100, priority 0) with `vlan` behind the MACs, using
/// the headroom. Returns `false` when the headroom is exhausted.
pub fn push_vlan(packet: &mut Packet, vlan: u16) -> bool {
    let Some(tag) = packet.insert_gap(MACS_LEN, VLAN_TAG_LEN) else {
        return false;
    };
    tag[..2].copy_from_slice(&ether_type::VLAN.to_be_bytes());
    tag[2..].copy_from_slice(&(vlan & 0x0fff).to_be_bytes());
    let meta = &mut packet.meta;
    meta.vlan_tci = [vlan & 0x0fff, meta.vlan_tci[0]];
    meta.vlan_count = (meta.vlan_count + 1).min(2);
    meta.shift(VLAN_TAG_LEN as i32);
    true
}

/// Decrements the IPv4 TTL (updating the header checksum, RFC 1624) or the IPv6 hop
/// limit. The caller has checked that the TTL is above 1.
pub fn decrement_ttl(packet: &mut Packet) {
    let l3 = usize::from(packet.meta.l3_offset);
    let l3_kind = packet.meta.l3;
    let frame = packet.data_mut();
    match l3_kind {
        L3::Ipv4 => {
            let Some(header) = frame.get_mut(l3..l3 + 20) else {
                return;
            };
            let old = u16::from_be_bytes([header[8], header[9]]);
            header[8] = header[8].saturating_sub(1);
            let new = u16::from_be_bytes([header[8], header[9]]);
            let sum = u16::from_be_bytes([header[10], header[11]]);
            header[10..12].copy_from_slice(&checksum::update_word(sum, old, new).to_be_bytes());
        }
        L3::Ipv6 => {
            if let Some(hop_limit) = frame.get_mut(l3 + 7) {
                *hop_limit = hop_limit.saturating_sub(1);
            }
        }
        L3::Arp | L3::None => return,
    }
    packet.meta.ttl = packet.meta.ttl.saturating_sub(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;
    use crate::pool::{Pool, PoolConfig};

    fn udp_frame(tagged: Option<u16>) -> Vec<u8> {
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        if let Some(vlan) = tagged {
            frame.extend_from_slice(&[0x81, 0x00]);
            frame.extend_from_slice(&vlan.to_be_bytes());
        }
        frame.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 30, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 1, 5, 10, 0, 2, 5,
        ];
        let sum = checksum::ipv4_header(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&[0x9c, 0x40, 0, 53, 0, 10, 0, 0, b'h', b'i']);
        frame
    }

    fn packet(pool: &mut Pool, frame: &[u8]) -> Packet {
        let mut packet = pool.alloc_copy(frame).unwrap();
        packet.meta = parse(frame).unwrap();
        packet
    }

    #[test]
    fn pop_then_push_restores_the_tagged_frame() {
        let mut pool = Pool::new(PoolConfig {
            buffers: 4,
            ..PoolConfig::default()
        });
        let tagged = udp_frame(Some(101));
        let mut p = packet(&mut pool, &tagged);
        assert!(pop_vlan(&mut p));
        assert_eq!(p.data(), udp_frame(None).as_slice());
        assert_eq!(
            p.meta,
            parse(p.data()).unwrap(),
            "metadata follows the frame"
        );
        assert!(push_vlan(&mut p, 101));
        assert_eq!(p.data(), tagged.as_slice());
        assert_eq!(p.meta, parse(&tagged).unwrap());
        let mut untagged = packet(&mut pool, &udp_frame(None));
        assert!(!pop_vlan(&mut untagged));
    }

    #[test]
    fn ttl_decrement_keeps_the_checksum_valid() {
        let mut pool = Pool::new(PoolConfig {
            buffers: 4,
            ..PoolConfig::default()
        });
        let mut p = packet(&mut pool, &udp_frame(None));
        decrement_ttl(&mut p);
        let header = &p.data()[14..34];
        assert_eq!(header[8], 63);
        assert!(checksum::verify_ipv4_header(header));
        assert_eq!(p.meta.ttl, 63);
    }

    #[test]
    fn macs_read_and_written() {
        let mut frame = udp_frame(None);
        let (a, b) = (MacAddr([2, 0, 0, 0, 0, 9]), MacAddr([2, 0, 0, 0, 0, 8]));
        set_macs(&mut frame, a, b);
        assert_eq!((destination_mac(&frame), source_mac(&frame)), (a, b));
        assert_eq!(destination_mac(&[1, 2]), MacAddr::ZERO);
    }
}
