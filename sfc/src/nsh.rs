//! NSH (RFC 8300) as this dataplane writes it: outer Ethernet (ethertype 0x894F) /
//! base header (version 0, TTL 63, length 2 words, MD type 2 with no metadata, next
//! protocol 3 = Ethernet) / service path header (SPI = chain_id, SI) / the original
//! frame. Hand-written: etherparse does not know NSH.

use packet::{MacAddr, Packet};

pub const ETHER_TYPE: u16 = 0x894f;
const ETHERNET_LEN: usize = 14;
/// Base header and service path header: MD type 2 without metadata.
pub const HEADER_LEN: usize = 8;
pub const TTL: u8 = 63;
pub const MD_TYPE_2: u8 = 2;
pub const NEXT_PROTOCOL_ETHERNET: u8 = 3;

/// What a received NSH frame says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub spi: u32,
    pub si: u8,
    /// Outer Ethernet and NSH bytes in front of the inner frame.
    pub outer_len: usize,
}

/// Wraps the whole frame: `destination` is the service function's MAC, the outer
/// source the inner frame's. `false` when the headroom is short.
pub fn push(packet: &mut Packet, spi: u32, si: u8, destination: MacAddr) -> bool {
    let mut source = [0u8; 6];
    match packet.data().get(6..12) {
        Some(mac) => source.copy_from_slice(mac),
        None => return false,
    }
    let Some(front) = packet.push_front(ETHERNET_LEN + HEADER_LEN) else {
        return false;
    };
    front[..6].copy_from_slice(&destination.0);
    front[6..12].copy_from_slice(&source);
    front[12..14].copy_from_slice(&ETHER_TYPE.to_be_bytes());
    let length_words = (HEADER_LEN / 4) as u16;
    let base = u16::from(TTL) << 6 | length_words;
    front[14..16].copy_from_slice(&base.to_be_bytes());
    front[16] = MD_TYPE_2;
    front[17] = NEXT_PROTOCOL_ETHERNET;
    front[18..22].copy_from_slice(&(spi << 8 | u32::from(si)).to_be_bytes());
    packet.meta.shift((ETHERNET_LEN + HEADER_LEN) as i32);
    packet.meta.ether_type = ETHER_TYPE;
    true
}

/// Reads the NSH of an untagged frame: `None` unless it is NSH version 0 carrying
/// Ethernet, with a length that fits the frame.
pub fn read(frame: &[u8]) -> Option<Header> {
    if frame.get(12..14)? != ETHER_TYPE.to_be_bytes() {
        return None;
    }
    let base = frame.get(ETHERNET_LEN..ETHERNET_LEN + HEADER_LEN)?;
    let first = u16::from_be_bytes([base[0], base[1]]);
    let version = first >> 14;
    let length = usize::from(first & 0x3f) * 4;
    let md_type = base[2] & 0x0f;
    if version != 0 || base[3] != NEXT_PROTOCOL_ETHERNET || length < HEADER_LEN {
        return None;
    }
    // MD type 1 has a fixed 24-byte header; type 2 any length of TLVs.
    if md_type == 1 && length != 24 || !matches!(md_type, 1 | 2) {
        return None;
    }
    let outer_len = ETHERNET_LEN + length;
    // The inner frame needs at least its Ethernet header.
    if frame.len() < outer_len + ETHERNET_LEN {
        return None;
    }
    let path = u32::from_be_bytes([base[4], base[5], base[6], base[7]]);
    Some(Header {
        spi: path >> 8,
        si: path as u8,
        outer_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::{Pool, PoolConfig};

    #[test]
    fn push_then_read_and_strip() {
        let mut pool = Pool::new(PoolConfig::default());
        let inner: Vec<u8> = (0..60u8).collect();
        let mut p = pool.alloc_copy(&inner).unwrap();
        let sf = MacAddr([2, 0, 0, 0, 0, 0x10]);
        assert!(push(&mut p, 9, 254, sf));
        let f = p.data();
        assert_eq!(&f[..6], &sf.0);
        assert_eq!(&f[6..12], &inner[6..12]);
        assert_eq!(
            &f[12..22],
            &[0x89, 0x4f, 0x0f, 0xc2, 0x02, 0x03, 0, 0, 9, 254]
        );
        let h = read(f).unwrap();
        assert_eq!((h.spi, h.si, h.outer_len), (9, 254, 22));
        assert!(p.pull_front(h.outer_len));
        assert_eq!(p.data(), inner.as_slice());
    }

    #[test]
    fn refuses_what_it_cannot_carry() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x89, 0x4f, 0x0f, 0xc2, 0x02, 0x03, 0, 0, 9, 254]);
        assert!(read(&f).is_none(), "no inner frame");
        f.extend_from_slice(&[0; 14]);
        assert!(read(&f).is_some());
        let mut bad = f.clone();
        bad[17] = 1; // next protocol IPv4
        assert!(read(&bad).is_none());
        let mut bad = f.clone();
        bad[14] |= 0x40; // version 1
        assert!(read(&bad).is_none());
        let mut bad = f.clone();
        bad[15] = 0xc0 | 60; // length 240 bytes, beyond the frame
        assert!(read(&bad).is_none());
        assert!(read(&f[..13]).is_none());
    }
}
