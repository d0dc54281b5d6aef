//! A fixed-capacity hash index from a key's hash to the entries holding that key, in
//! buckets of one cache line: ten slots, each a 16-bit tag from the hash and the
//! index of an entry. A lookup reads the key's home bucket and, for each slot whose
//! tag matches (a false match is one in 6,500 per occupied slot), asks the caller
//! whether that entry holds the key; so finding a key costs that bucket line and
//! the entry's line, and the bucket can be prefetched from the hash alone.
//!
//! Sized at start for at most four keys per bucket on average: no growth, no rehash.
//! A key whose home bucket is full goes to the next bucket with a free slot (linear
//! probing by bucket, wrapping), and every bucket it passed counts one more key
//! overflowing it. A lookup ends at the first bucket that has no overflow, usually
//! the home bucket. Deletion clears the slot and takes the counts back along the
//! same path, so it leaves no tombstones and lookups never slow down with churn.

use crate::pages::{PageArray, Pages};

/// Slots per bucket: ten tags and ten entry indices plus the overflow count fill 64
/// bytes.
pub const SLOTS: usize = 10;

/// Average keys per bucket at capacity (40 % of the slots): a home bucket overflows
/// with probability about 0.3 % (Poisson with mean 4, more than 10).
const KEYS_PER_BUCKET: usize = 4;

/// The tag of an empty slot; no key's tag is 0.
const EMPTY: u16 = 0;

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket {
    tags: [u16; SLOTS],
    /// Keys stored past this bucket whose home is this bucket or an earlier one.
    /// Saturates and then stays (lookups through it keep probing: slower, correct).
    overflow: u32,
    entries: [u32; SLOTS],
}

impl Bucket {
    /// Slots whose tag is `tag`, as a bit set.
    fn matching(&self, tag: u16) -> u16 {
        let mut set = 0;
        for (slot, &t) in self.tags.iter().enumerate() {
            set |= u16::from(t == tag) << slot;
        }
        set
    }
}

/// The index was built too small for one more key (cannot happen while at most the
/// number of keys it was sized for are stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexFull;

pub struct BucketIndex {
    buckets: PageArray<Bucket>,
}

impl BucketIndex {
    /// An index for up to `max_keys` keys.
    pub fn with_capacity(max_keys: usize) -> Self {
        let buckets = max_keys.div_ceil(KEYS_PER_BUCKET).max(1);
        BucketIndex {
            buckets: PageArray::new(buckets, Bucket::default()),
        }
    }

    pub fn allocated_bytes(&self) -> usize {
        self.buckets.allocated_bytes()
    }

    pub fn pages(&self) -> Pages {
        self.buckets.pages()
    }

    /// Brings the home bucket of `hash` towards the cache, for a lookup soon after.
    pub fn prefetch(&self, hash: u64) {
        prefetch(&self.buckets[self.home(hash)]);
    }

    /// The first entry in the home bucket of `hash` whose tag matches: the entry a
    /// lookup of that hash will most likely read (for prefetching it).
    pub fn likely_entry(&self, hash: u64) -> Option<u32> {
        let bucket = &self.buckets[self.home(hash)];
        let set = bucket.matching(tag(hash));
        (set != 0).then(|| bucket.entries[set.trailing_zeros() as usize])
    }

    /// The first entry stored under `hash` for which `holds` says yes.
    pub fn find(&self, hash: u64, mut holds: impl FnMut(u32) -> bool) -> Option<u32> {
        let tag = tag(hash);
        let mut at = self.home(hash);
        for _ in 0..self.buckets.len() {
            let bucket = &self.buckets[at];
            let mut set = bucket.matching(tag);
            while set != 0 {
                let entry = bucket.entries[set.trailing_zeros() as usize];
                if holds(entry) {
                    return Some(entry);
                }
                set &= set - 1;
            }
            if bucket.overflow == 0 {
                return None;
            }
            at = self.next(at);
        }
        None
    }

    /// Stores `entry` under `hash` in the first free slot from its home bucket on.
    pub fn insert(&mut self, hash: u64, entry: u32) -> Result<(), IndexFull> {
        let home = self.home(hash);
        let mut at = home;
        for _ in 0..self.buckets.len() {
            let bucket = &mut self.buckets[at];
            if let Some(slot) = bucket.tags.iter().position(|&t| t == EMPTY) {
                bucket.tags[slot] = tag(hash);
                bucket.entries[slot] = entry;
                self.count_overflow(home, at, |count| count.saturating_add(1));
                return Ok(());
            }
            at = self.next(at);
        }
        Err(IndexFull)
    }

    /// Removes `entry` stored under `hash`; false if it was not there.
    pub fn remove(&mut self, hash: u64, entry: u32) -> bool {
        let (tag, home) = (tag(hash), self.home(hash));
        let mut at = home;
        for _ in 0..self.buckets.len() {
            let bucket = &mut self.buckets[at];
            let set = bucket.matching(tag);
            let found =
                (0..SLOTS).find(|&slot| set & (1 << slot) != 0 && bucket.entries[slot] == entry);
            if let Some(slot) = found {
                bucket.tags[slot] = EMPTY;
                bucket.entries[slot] = 0;
                self.count_overflow(home, at, |count| match count {
                    u32::MAX => count,
                    _ => count - 1,
                });
                return true;
            }
            if bucket.overflow == 0 {
                return false;
            }
            at = self.next(at);
        }
        false
    }

    /// Applies `change` to the overflow count of the buckets from `home` up to
    /// `stored` (excluded): those a key stored in `stored` went past.
    fn count_overflow(&mut self, home: usize, stored: usize, change: impl Fn(u32) -> u32) {
        let mut at = home;
        while at != stored {
            let bucket = &mut self.buckets[at];
            bucket.overflow = change(bucket.overflow);
            at = self.next(at);
        }
    }

    /// The home bucket: the hash's high bits scaled to the bucket count (no modulo,
    /// any count).
    fn home(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.buckets.len() as u128) >> 64) as usize
    }

    fn next(&self, at: usize) -> usize {
        if at + 1 == self.buckets.len() {
            0
        } else {
            at + 1
        }
    }
}

/// The tag: the hash's low 16 bits (independent of the high bits that choose the
/// bucket), never the empty tag.
fn tag(hash: u64) -> u16 {
    (hash as u16).max(1)
}

/// A hint to load `value`'s cache line (a bucket, or the entry a lookup will read
/// next); no effect on correctness.
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing into the program; the pointer
    // comes from a live reference anyway. SSE is part of the x86-64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash whose home is `bucket` of `buckets` with tag `tag`.
    fn hash_to(bucket: usize, buckets: usize, tag: u16) -> u64 {
        let start = ((bucket as u128) << 64).div_ceil(buckets as u128) as u64;
        start.next_multiple_of(0x1_0000) | u64::from(tag)
    }

    #[test]
    fn a_bucket_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Bucket>(), 64);
        assert_eq!(std::mem::align_of::<Bucket>(), 64);
    }

    #[test]
    fn sized_for_four_keys_per_bucket() {
        assert_eq!(BucketIndex::with_capacity(0).buckets.len(), 1);
        assert_eq!(BucketIndex::with_capacity(9).buckets.len(), 3);
        assert_eq!(BucketIndex::with_capacity(2_000_000).buckets.len(), 500_000);
    }

    #[test]
    fn finds_only_entries_the_caller_confirms() {
        let mut index = BucketIndex::with_capacity(40);
        let h = hash_to(3, 10, 7);
        index.insert(h, 11).unwrap();
        index.insert(h, 12).unwrap();
        assert_eq!(index.find(h, |e| e == 12), Some(12));
        assert_eq!(index.find(h, |_| false), None);
        assert_eq!(index.find(hash_to(3, 10, 8), |_| true), None, "other tag");
        assert_eq!(index.likely_entry(h), Some(11));
    }

    #[test]
    fn a_full_bucket_overflows_into_the_next_and_deletion_takes_the_count_back() {
        let mut index = BucketIndex::with_capacity(40);
        let buckets = index.buckets.len();
        let h = hash_to(buckets - 1, buckets, 5);
        for entry in 0..(SLOTS as u32 + 2) {
            index.insert(h, entry).unwrap();
        }
        assert_eq!(index.buckets[buckets - 1].overflow, 2);
        assert_eq!(index.buckets[0].matching(5), 0b11, "wrapped to bucket 0");
        assert_eq!(
            index.find(h, |e| e == SLOTS as u32 + 1),
            Some(SLOTS as u32 + 1)
        );
        // A key homed in bucket 0 is still found there.
        let h0 = hash_to(0, buckets, 9);
        index.insert(h0, 99).unwrap();
        assert_eq!(index.find(h0, |e| e == 99), Some(99));

        assert!(index.remove(h, SLOTS as u32));
        assert_eq!(index.buckets[buckets - 1].overflow, 1);
        assert!(
            index.remove(h, 0),
            "in the home bucket: no count to take back"
        );
        assert_eq!(index.buckets[buckets - 1].overflow, 1);
        assert!(index.remove(h, SLOTS as u32 + 1));
        assert_eq!(index.buckets[buckets - 1].overflow, 0);
        assert!(!index.remove(h, SLOTS as u32 + 1), "already gone");
        assert_eq!(index.find(h, |e| e == SLOTS as u32 + 1), None);
        assert_eq!(index.find(h, |e| e == 5), Some(5));
    }

    #[test]
    fn every_slot_of_the_table_can_be_filled_and_emptied() {
        let mut index = BucketIndex::with_capacity(8);
        let buckets = index.buckets.len();
        let h = hash_to(1, buckets, 1);
        let slots = (buckets * SLOTS) as u32;
        for entry in 0..slots {
            index.insert(h, entry).unwrap();
        }
        assert_eq!(index.insert(h, slots), Err(IndexFull));
        for entry in 0..slots {
            assert_eq!(index.find(h, |e| e == entry), Some(entry));
        }
        for entry in (0..slots).rev() {
            assert!(index.remove(h, entry));
        }
        assert!(index
            .buckets
            .iter()
            .all(|b| b.overflow == 0 && b.matching(EMPTY) == 0x3ff));
    }
}
