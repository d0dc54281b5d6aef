//! A per-worker exact-match table of what an established flow needs, so that it pays
//! one lookup: set-associative (the flow hash picks a set of `WAYS` entries), a miss
//! replaces the set's oldest entry. Every entry carries the configuration generation
//! it was computed under and is ignored when that is stale.
//!
//! The sets' tags (a few hash bits per way, and when each way was filled) sit apart
//! from the entries, two sets to a cache line: a lookup reads that line and only the
//! entry whose tag matches, instead of every way of the set. The table starts small
//! and doubles (emptied: it is a cache) while most lookups miss, up to its maximum;
//! the check runs once per burst ([`FlowTable::adapt`]), never per packet.

/// Entries per set.
pub const WAYS: usize = 4;

/// The tag of an empty way; no hash's tag is 0.
const EMPTY: u32 = 0;

/// The tags of one set: 32 bytes, two sets to a cache line.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct SetTags {
    tags: [u32; WAYS],
    /// When each way was filled (the table's insertion clock, wrapping).
    filled: [u32; WAYS],
}

#[derive(Clone, Copy)]
struct Entry<K, V> {
    key: K,
    generation: u64,
    value: V,
}

pub struct FlowTable<K, V> {
    tags: Box<[SetTags]>,
    /// `WAYS` per set; `None` where the tag is empty.
    entries: Box<[Option<Entry<K, V>>]>,
    mask: usize,
    clock: u32,
    /// The largest capacity [`FlowTable::adapt`] grows to.
    max_capacity: usize,
    hits: u64,
    misses: u64,
    /// Lookups and misses since the last growth (or start).
    window_lookups: u64,
    window_misses: u64,
}

impl<K: Copy + Eq, V: Copy> FlowTable<K, V> {
    /// A table of at least `capacity` entries (sets rounded up to a power of two)
    /// that never grows.
    pub fn new(capacity: usize) -> Self {
        Self::growing(capacity, capacity)
    }

    /// A table of `initial` entries that [`FlowTable::adapt`] may grow to `max`.
    pub fn growing(initial: usize, max: usize) -> Self {
        let sets = Self::sets_for(initial);
        FlowTable {
            tags: vec![SetTags::default(); sets].into_boxed_slice(),
            entries: vec![None; sets * WAYS].into_boxed_slice(),
            mask: sets - 1,
            clock: 0,
            max_capacity: Self::sets_for(max.max(initial)) * WAYS,
            hits: 0,
            misses: 0,
            window_lookups: 0,
            window_misses: 0,
        }
    }

    fn sets_for(capacity: usize) -> usize {
        capacity.div_ceil(WAYS).max(1).next_power_of_two()
    }

    /// The entry for `key` under `generation`, filled by `compute` on a miss.
    #[inline]
    pub fn get_or_insert_with(
        &mut self,
        hash: u64,
        key: K,
        generation: u64,
        compute: impl FnOnce() -> V,
    ) -> &mut V {
        let set = hash as usize & self.mask;
        // High bits: independent of the low bits that chose the set.
        let tag = ((hash >> 32) as u32).max(1);
        let tags = &mut self.tags[set];
        let base = set * WAYS;
        self.window_lookups += 1;
        let mut stale = None;
        for way in 0..WAYS {
            if tags.tags[way] != tag {
                continue;
            }
            match &self.entries[base + way] {
                Some(entry) if entry.key == key && entry.generation == generation => {
                    self.hits += 1;
                    return match &mut self.entries[base + way] {
                        Some(entry) => &mut entry.value,
                        None => unreachable!("the way was just read"),
                    };
                }
                // This key under an older configuration: its way is reused.
                Some(entry) if entry.key == key => stale = Some(way),
                _ => {}
            }
        }
        self.misses += 1;
        self.window_misses += 1;
        // The key's stale way, else an empty way, else the oldest.
        let clock = self.clock;
        let way = stale
            .or_else(|| tags.tags.iter().position(|&t| t == EMPTY))
            .unwrap_or_else(|| {
                (0..WAYS)
                    .max_by_key(|&way| clock.wrapping_sub(tags.filled[way]))
                    .unwrap_or(0)
            });
        self.clock = clock.wrapping_add(1);
        tags.tags[way] = tag;
        tags.filled[way] = clock;
        let slot = &mut self.entries[base + way];
        *slot = Some(Entry {
            key,
            generation,
            value: compute(),
        });
        match slot {
            Some(entry) => &mut entry.value,
            None => unreachable!("the way was just filled"),
        }
    }

    /// Once per burst: when more than a quarter of the lookups since the last check
    /// missed, over at least twice as many lookups as the table has entries (more
    /// live flows than it holds), the table doubles, emptied, up to its maximum.
    /// Returns whether it grew.
    pub fn adapt(&mut self) -> bool {
        let capacity = self.capacity();
        if self.window_lookups < 2 * capacity as u64 {
            return false;
        }
        let thrashing = self.window_misses * 4 > self.window_lookups;
        self.window_lookups = 0;
        self.window_misses = 0;
        if !thrashing || capacity >= self.max_capacity {
            return false;
        }
        let sets = 2 * (self.mask + 1);
        self.tags = vec![SetTags::default(); sets].into_boxed_slice();
        self.entries = vec![None; sets * WAYS].into_boxed_slice();
        self.mask = sets - 1;
        true
    }

    pub fn hits(&self) -> u64 {
        self.hits
    }

    pub fn misses(&self) -> u64 {
        self.misses
    }

    pub fn capacity(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash whose set is `set` and whose tag is `tag`.
    fn hash(set: u64, tag: u32) -> u64 {
        u64::from(tag) << 32 | set
    }

    #[test]
    fn keys_sharing_a_set_all_stay_and_the_oldest_goes_first() {
        let mut table: FlowTable<u32, u32> = FlowTable::new(8);
        assert_eq!(table.capacity(), 8);
        // Hashes 0, 2, 4, 6 all pick set 0 of 2.
        for key in 0..4u32 {
            assert_eq!(
                *table.get_or_insert_with(u64::from(key) * 2, key, 1, || key + 10),
                key + 10
            );
        }
        for key in 0..4u32 {
            assert_eq!(
                *table.get_or_insert_with(u64::from(key) * 2, key, 1, || 99),
                key + 10
            );
        }
        assert_eq!((table.hits(), table.misses()), (4, 4));
        // A fifth replaces the oldest (key 0); the others stay.
        assert_eq!(*table.get_or_insert_with(8, 4, 1, || 14), 14);
        assert_eq!(
            *table.get_or_insert_with(0, 0, 1, || 20),
            20,
            "key 0 was replaced"
        );
        assert_eq!(*table.get_or_insert_with(6, 3, 1, || 99), 13);
    }

    #[test]
    fn a_stale_generation_is_recomputed_and_values_can_be_updated() {
        let mut table: FlowTable<u32, u32> = FlowTable::new(4);
        *table.get_or_insert_with(5, 7, 1, || 1) += 5;
        assert_eq!(*table.get_or_insert_with(5, 7, 1, || 99), 6);
        assert_eq!(
            *table.get_or_insert_with(5, 7, 2, || 3),
            3,
            "stale entry ignored"
        );
        assert_eq!((table.hits(), table.misses()), (1, 2));
        // The stale entry's way was reused: the set still has room for three more.
        for key in 10..13u32 {
            table.get_or_insert_with(5, key, 2, || key);
        }
        assert_eq!(*table.get_or_insert_with(5, 7, 2, || 99), 3);
    }

    #[test]
    fn keys_with_the_same_tag_are_told_apart_by_the_key() {
        let mut table: FlowTable<u32, u32> = FlowTable::new(4);
        let h = hash(0, 77);
        assert_eq!(*table.get_or_insert_with(h, 1, 1, || 100), 100);
        assert_eq!(*table.get_or_insert_with(h, 2, 1, || 200), 200);
        assert_eq!(*table.get_or_insert_with(h, 1, 1, || 99), 100);
        assert_eq!(*table.get_or_insert_with(h, 2, 1, || 99), 200);
    }

    #[test]
    fn a_thrashing_table_doubles_up_to_its_maximum_and_a_fitting_one_stays() {
        let mut table: FlowTable<u32, u32> = FlowTable::growing(8, 32);
        // 64 flows round robin in 8 entries: nearly every lookup misses.
        let mut sizes = Vec::new();
        for _ in 0..20 {
            for key in 0..64u32 {
                let h = u64::from(key).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                table.get_or_insert_with(h, key, 1, || key);
            }
            table.adapt();
            sizes.push(table.capacity());
        }
        assert_eq!(sizes[0], 16, "grew after its first window of misses");
        assert_eq!(*sizes.last().unwrap(), 32, "never past the maximum");

        // 4 flows in 16 entries: they all hit after the first round; no growth.
        let mut table: FlowTable<u32, u32> = FlowTable::growing(16, 64);
        for _ in 0..20 {
            for key in 0..4u32 {
                table.get_or_insert_with(hash(u64::from(key), 1), key, 1, || key);
            }
            assert!(!table.adapt());
        }
        assert_eq!(table.capacity(), 16);
        assert_eq!(table.misses(), 4);
    }
}
