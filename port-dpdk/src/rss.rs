//! The symmetric RSS key: 0x6d5a repeated makes the Toeplitz hash of a flow the same
//! in both directions (source and destination swapped), so a connection's replies
//! reach the queue, and the worker, that holds its state.

/// A key of `len` bytes (the device's key size; 40 for most NICs).
pub(crate) fn symmetric_key(len: usize) -> Vec<u8> {
    [0x6d, 0x5a].iter().copied().cycle().take(len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Toeplitz over `input` with `key` (the hash NICs compute for RSS).
    fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
        let mut hash = 0u32;
        for (byte_index, byte) in input.iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    let offset = byte_index * 8 + bit;
                    // The 32 key bits starting at `offset`.
                    let mut window = 0u32;
                    for k in 0..32 {
                        let position = offset + k;
                        let key_bit = (key[position / 8] >> (7 - position % 8)) & 1;
                        window = (window << 1) | u32::from(key_bit);
                    }
                    hash ^= window;
                }
            }
        }
        hash
    }

    fn tuple(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut input = Vec::new();
        input.extend(src);
        input.extend(dst);
        input.extend(sport.to_be_bytes());
        input.extend(dport.to_be_bytes());
        input
    }

    #[test]
    fn both_directions_of_a_flow_hash_alike() {
        let key = symmetric_key(40);
        assert_eq!(&key[..4], &[0x6d, 0x5a, 0x6d, 0x5a]);
        let cases = [
            ([10, 0, 0, 5], [203, 0, 113, 9], 40000, 443),
            ([192, 168, 1, 1], [8, 8, 8, 8], 1, 65535),
        ];
        for (a, b, pa, pb) in cases {
            let forward = toeplitz(&key, &tuple(a, b, pa, pb));
            let reverse = toeplitz(&key, &tuple(b, a, pb, pa));
            assert_eq!(forward, reverse);
        }
        // Not a constant: two different flows hash apart.
        let one = toeplitz(&key, &tuple([10, 0, 0, 5], [10, 0, 0, 6], 1000, 80));
        let two = toeplitz(&key, &tuple([10, 0, 0, 5], [10, 0, 0, 7], 1000, 80));
        assert_ne!(one, two);
    }

    #[test]
    fn a_non_symmetric_key_is_not() {
        // An arbitrary key: the two directions differ.
        let key: Vec<u8> = (0..40u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(0x6d))
            .collect();
        let forward = toeplitz(&key, &tuple([10, 0, 0, 5], [203, 0, 113, 9], 40000, 443));
        let reverse = toeplitz(&key, &tuple([203, 0, 113, 9], [10, 0, 0, 5], 443, 40000));
        assert_ne!(forward, reverse, "the test's Toeplitz tells keys apart");
    }
}
