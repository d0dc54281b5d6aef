//! Which pair a flow last went to in a group of one pair, kept in one cache line per
//! lookup: set-associative, four 16-byte ways to a 64-byte set (a 32-bit tag from the
//! hash, when it was last seen, the pair's key). A group of one pair has no choice to
//! remember, so its flows need no pin; they need only this record, so that when the
//! group grows its established flows stay on their pair (see `FlowPins`).
//!
//! Lossy where the pin map is exact: a set holds four flows and a fifth replaces the
//! one seen longest ago (that flow may then move when its group grows, as an unpinned
//! flow of a full pin map would); a record found under another flow's key (same set
//! and tag, about one in four billion) only places a new flow on an existing pair.

/// Ways per set: 4 x 16 bytes, one cache line.
const WAYS: usize = 4;

/// The tag of an empty way; no hash's tag is 0.
const EMPTY: u32 = 0;

#[derive(Clone, Copy, Default)]
struct Way {
    tag: u32,
    /// Packet time of the last packet, in units of 2^20 ns (about a millisecond),
    /// wrapping after about 52 days (an older record reads as recent again, once).
    seen: u32,
    pair: u64,
}

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Set {
    ways: [Way; WAYS],
}

const _: () = assert!(std::mem::size_of::<Set>() == 64);

/// The time unit of [`Way::seen`]: 2^20 ns.
const TIME_SHIFT: u32 = 20;

pub struct RecentPairs {
    sets: Box<[Set]>,
    mask: usize,
}

impl RecentPairs {
    /// Room for about `capacity` flows (sets rounded up to a power of two).
    pub fn new(capacity: usize) -> Self {
        let sets = capacity.div_ceil(WAYS).max(1).next_power_of_two();
        RecentPairs {
            sets: vec![Set::default(); sets].into_boxed_slice(),
            mask: sets - 1,
        }
    }

    fn place(&self, hash: u64) -> (usize, u32) {
        (hash as usize & self.mask, ((hash >> 32) as u32).max(1))
    }

    /// Records that the flow of `hash` went to `pair` at `now`.
    #[inline]
    pub fn record(&mut self, hash: u64, pair: u64, now: u64) {
        let (set, tag) = self.place(hash);
        let seen = (now >> TIME_SHIFT) as u32;
        let ways = &mut self.sets[set].ways;
        let way = ways
            .iter()
            .position(|w| w.tag == tag)
            .or_else(|| ways.iter().position(|w| w.tag == EMPTY))
            .unwrap_or_else(|| {
                (0..WAYS)
                    .max_by_key(|&i| seen.wrapping_sub(ways[i].seen))
                    .unwrap_or(0)
            });
        ways[way] = Way { tag, seen, pair };
    }

    /// The pair the flow of `hash` went to, if it was seen within `idle_ns` of `now`;
    /// the record is consumed (its flow gets a pin instead).
    #[inline]
    pub fn take(&mut self, hash: u64, now: u64, idle_ns: u64) -> Option<u64> {
        let (set, tag) = self.place(hash);
        let way = self.sets[set].ways.iter_mut().find(|w| w.tag == tag)?;
        let taken = std::mem::take(way);
        let idle = ((now >> TIME_SHIFT) as u32).wrapping_sub(taken.seen);
        (u64::from(idle) <= idle_ns >> TIME_SHIFT).then_some(taken.pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_recorded_flow_is_taken_once_while_recent() {
        let mut recent = RecentPairs::new(16);
        recent.record(0x1234_0000_0003, 7, 10 * SECOND);
        assert_eq!(
            recent.take(0x9999_0000_0003, 11 * SECOND, SECOND),
            None,
            "other tag"
        );
        assert_eq!(recent.take(0x1234_0000_0003, 10 * SECOND, SECOND), Some(7));
        assert_eq!(
            recent.take(0x1234_0000_0003, 10 * SECOND, SECOND),
            None,
            "taken"
        );
        recent.record(0x1234_0000_0003, 8, 10 * SECOND);
        assert_eq!(
            recent.take(0x1234_0000_0003, 12 * SECOND, SECOND),
            None,
            "idle too long"
        );
    }

    #[test]
    fn a_full_set_forgets_the_flow_seen_longest_ago() {
        let mut recent = RecentPairs::new(4);
        // Five flows in the one set; flow 1 was seen first.
        for flow in 1..=5u64 {
            recent.record(flow << 32, flow, flow * SECOND);
        }
        assert_eq!(recent.take(1 << 32, 6 * SECOND, 10 * SECOND), None);
        for flow in 2..=5u64 {
            assert_eq!(recent.take(flow << 32, 6 * SECOND, 10 * SECOND), Some(flow));
        }
    }
}
