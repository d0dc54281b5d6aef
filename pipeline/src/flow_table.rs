//! A per-worker exact-match table of what an established flow needs, so that it pays
//! one lookup: set-associative (the flow hash picks a set of `WAYS` entries in one
//! contiguous block), a miss replaces the set's oldest entry; allocated once, never
//! grows. Every entry carries the configuration generation it was computed under and
//! is ignored when that is stale.

/// Entries per set.
pub const WAYS: usize = 4;

#[derive(Clone, Copy)]
struct Entry<K, V> {
    key: K,
    generation: u64,
    /// When it was filled (a per-table counter): the oldest of a set is replaced.
    stamp: u64,
    value: V,
}

/// The ways of one set, contiguous in memory.
type Set<K, V> = [Option<Entry<K, V>>; WAYS];

pub struct FlowTable<K, V> {
    sets: Box<[Set<K, V>]>,
    mask: usize,
    clock: u64,
    hits: u64,
    misses: u64,
}

impl<K: Copy + Eq, V: Copy> FlowTable<K, V> {
    /// A table of at least `capacity` entries (sets rounded up to a power of two).
    pub fn new(capacity: usize) -> Self {
        let sets = capacity.div_ceil(WAYS).max(1).next_power_of_two();
        FlowTable {
            sets: (0..sets).map(|_| [None; WAYS]).collect(),
            mask: sets - 1,
            clock: 0,
            hits: 0,
            misses: 0,
        }
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
        let set = &mut self.sets[hash as usize & self.mask];
        let found = set.iter().position(|slot| {
            matches!(slot, Some(entry) if entry.generation == generation && entry.key == key)
        });
        let way = match found {
            Some(way) => {
                self.hits += 1;
                way
            }
            None => {
                self.misses += 1;
                // An empty or stale way first, else the oldest.
                let way = set
                    .iter()
                    .position(|slot| !matches!(slot, Some(e) if e.generation == generation))
                    .unwrap_or_else(|| {
                        (0..WAYS)
                            .min_by_key(|&way| set[way].as_ref().map_or(0, |e| e.stamp))
                            .unwrap_or(0)
                    });
                self.clock += 1;
                set[way] = Some(Entry {
                    key,
                    generation,
                    stamp: self.clock,
                    value: compute(),
                });
                way
            }
        };
        match &mut set[way] {
            Some(entry) => &mut entry.value,
            None => unreachable!("the way was just found or filled"),
        }
    }

    pub fn hits(&self) -> u64 {
        self.hits
    }

    pub fn misses(&self) -> u64 {
        self.misses
    }

    pub fn capacity(&self) -> usize {
        self.sets.len() * WAYS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
