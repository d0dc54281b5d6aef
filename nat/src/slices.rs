//! Worker slices of the SNAT port range: disjoint, together the whole range, and the
//! owner of a port computable from the port alone, so a reply can be handed to the
//! worker that owns its connection without a lookup.

/// The range `[first, last]` split among `workers`: slice `i` starts at
/// `first + floor(i * len / workers)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSlices {
    first: u16,
    len: u32,
    workers: u32,
}

impl PortSlices {
    /// `workers` is clamped to 1..=len so that no slice is empty.
    pub fn new((first, last): (u16, u16), workers: u16) -> Self {
        let len = u32::from(last.max(first) - first) + 1;
        PortSlices {
            first,
            len,
            workers: u32::from(workers).clamp(1, len),
        }
    }

    fn start(&self, worker: u32) -> u32 {
        u32::from(self.first)
            + (u64::from(worker) * u64::from(self.len) / u64::from(self.workers)) as u32
    }

    /// The inclusive port range of `worker`'s slice.
    pub fn slice(&self, worker: u16) -> (u16, u16) {
        let worker = u32::from(worker).min(self.workers - 1);
        (
            self.start(worker) as u16,
            (self.start(worker + 1) - 1) as u16,
        )
    }

    /// The worker owning `port`, or `None` outside the range: the largest `i` with
    /// `floor(i * len / workers) <= port - first`.
    pub fn owner(&self, port: u16) -> Option<u16> {
        let offset = u32::from(port).checked_sub(u32::from(self.first))?;
        if offset >= self.len {
            return None;
        }
        let owner = ((u64::from(offset) + 1) * u64::from(self.workers) - 1) / u64::from(self.len);
        Some(owner as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_disjoint_cover_the_range_and_owner_inverts_them() {
        for (range, workers) in [
            ((1024, 65535), 1),
            ((1024, 65535), 3),
            ((1, 10), 4),
            ((5, 5), 3),
            ((100, 107), 8),
        ] {
            let slices = PortSlices::new(range, workers);
            let mut next = range.0 as u32;
            let count = u32::from(workers).clamp(1, u32::from(range.1 - range.0) + 1);
            for w in 0..count as u16 {
                let (a, b) = slices.slice(w);
                assert_eq!(
                    u32::from(a),
                    next,
                    "{range:?}/{workers}: slice {w} starts after the previous"
                );
                assert!(a <= b);
                for port in a..=b {
                    assert_eq!(
                        slices.owner(port),
                        Some(w),
                        "{range:?}/{workers} port {port}"
                    );
                }
                next = u32::from(b) + 1;
            }
            assert_eq!(
                next,
                u32::from(range.1) + 1,
                "{range:?}/{workers}: covers the range"
            );
            assert_eq!(slices.owner(range.0 - 1), None);
            if range.1 < u16::MAX {
                assert_eq!(slices.owner(range.1 + 1), None);
            }
        }
    }
}
