//! In-place header rewrites with incremental checksum updates (RFC 1624): each
//! changed field updates every checksum that covers it.

use packet::checksum::update_bytes;

/// A checksum field covering a rewritten field: its offset in the frame, and whether
/// it is a UDP checksum (zero means "none" and stays zero; a computed zero is sent
/// as 0xffff, RFC 768).
#[derive(Clone, Copy, Debug)]
pub enum Sum {
    Plain(usize),
    Udp(usize),
}

pub fn read16(frame: &[u8], at: usize) -> Option<u16> {
    frame
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
}

pub fn read32(frame: &[u8], at: usize) -> Option<u32> {
    frame
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The checksum `sum` after `old` became `new`, with UDP's zero rule.
pub fn updated(sum: Sum, value: u16, old: &[u8], new: &[u8]) -> u16 {
    match sum {
        Sum::Plain(_) => update_bytes(value, old, new),
        Sum::Udp(_) if value == 0 => 0,
        Sum::Udp(_) => match update_bytes(value, old, new) {
            0 => 0xffff,
            v => v,
        },
    }
}

/// Writes `new` (2 or 4 bytes) at `at` and updates the checksums in `sums` that lie
/// inside the frame. Returns `false`, changing nothing, when the field does not.
pub fn patch(frame: &mut [u8], at: usize, new: &[u8], sums: &[Sum]) -> bool {
    let mut old = [0u8; 4];
    let len = new.len().min(4);
    let Some(field) = frame.get(at..at + len) else {
        return false;
    };
    old[..len].copy_from_slice(field);
    for &sum in sums {
        let (Sum::Plain(s) | Sum::Udp(s)) = sum;
        if let Some(value) = read16(frame, s) {
            let value = updated(sum, value, &old[..len], &new[..len]);
            frame[s..s + 2].copy_from_slice(&value.to_be_bytes());
        }
    }
    frame[at..at + len].copy_from_slice(&new[..len]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::checksum::{ipv4_header, verify_ipv4_header};

    #[test]
    fn patch_keeps_ip_header_checksum_valid() {
        let mut header = [
            0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0,
            0xc7,
        ];
        let sum = ipv4_header(&header);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
        assert!(patch(
            &mut header,
            12,
            &[203, 0, 113, 11],
            &[Sum::Plain(10)]
        ));
        assert!(verify_ipv4_header(&header));
        assert_eq!(&header[12..16], &[203, 0, 113, 11]);
        assert!(!patch(&mut header, 19, &[1, 2], &[Sum::Plain(10)]));
    }

    #[test]
    fn udp_zero_checksum_stays_zero_and_computed_zero_is_all_ones() {
        assert_eq!(updated(Sum::Udp(0), 0, &[0, 1], &[0, 2]), 0);
        // ~(~0xfffe + ~0x0001 + 0x0000) folds to 0 -> sent as 0xffff.
        let v = updated(Sum::Plain(0), 0xfffe, &[0, 1], &[0, 0]);
        let u = updated(Sum::Udp(0), 0xfffe, &[0, 1], &[0, 0]);
        assert_eq!((v, u), (0, 0xffff));
    }
}
