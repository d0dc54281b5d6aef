//! A per-worker exact-match cache of a decision per flow, so that established flows
//! skip the expensive lookup (classification). Direct-mapped: the flow hash picks one
//! slot, a miss overwrites it; allocated once, never grows. Every entry carries the
//! configuration generation it was computed under and is ignored when that is stale.

pub struct FlowCache<K, V> {
    slots: Box<[Option<Entry<K, V>>]>,
    mask: usize,
    hits: u64,
    misses: u64,
}

struct Entry<K, V> {
    key: K,
    generation: u64,
    value: V,
}

impl<K: Copy + Eq, V: Copy> FlowCache<K, V> {
    /// A cache of `capacity` slots, rounded up to a power of two (at least 1).
    pub fn new(capacity: usize) -> Self {
        let size = capacity.max(1).next_power_of_two();
        FlowCache {
            slots: (0..size).map(|_| None).collect(),
            mask: size - 1,
            hits: 0,
            misses: 0,
        }
    }

    /// The value cached for `key` under `generation`, if any.
    #[inline]
    pub fn get(&mut self, hash: u64, key: &K, generation: u64) -> Option<V> {
        match &self.slots[hash as usize & self.mask] {
            Some(entry) if entry.generation == generation && entry.key == *key => {
                self.hits += 1;
                Some(entry.value)
            }
            _ => {
                self.misses += 1;
                None
            }
        }
    }

    /// Remembers `value` for `key` under `generation`, replacing the slot's entry.
    #[inline]
    pub fn insert(&mut self, hash: u64, key: K, generation: u64, value: V) {
        self.slots[hash as usize & self.mask] = Some(Entry {
            key,
            generation,
            value,
        });
    }

    /// The cached value, or `compute`'s (then cached).
    #[inline]
    pub fn get_or_insert_with(
        &mut self,
        hash: u64,
        key: K,
        generation: u64,
        compute: impl FnOnce() -> V,
    ) -> V {
        if let Some(value) = self.get(hash, &key, generation) {
            return value;
        }
        let value = compute();
        self.insert(hash, key, generation, value);
        value
    }

    pub fn hits(&self) -> u64 {
        self.hits
    }

    pub fn misses(&self) -> u64 {
        self.misses
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_after_insert_and_misses_on_another_generation() {
        let mut cache: FlowCache<u32, &str> = FlowCache::new(4);
        assert_eq!(cache.get(1, &7, 1), None);
        cache.insert(1, 7, 1, "chain 7");
        assert_eq!(cache.get(1, &7, 1), Some("chain 7"));
        assert_eq!(cache.get(1, &7, 2), None, "stale generation is ignored");
        assert_eq!(cache.get(1, &8, 1), None, "another key in the same slot");
        assert_eq!((cache.hits(), cache.misses()), (1, 3));
    }

    #[test]
    fn colliding_keys_replace_each_other_and_capacity_is_a_power_of_two() {
        let mut cache: FlowCache<u32, u32> = FlowCache::new(3);
        assert_eq!(cache.capacity(), 4);
        cache.insert(5, 1, 0, 10);
        cache.insert(9, 2, 0, 20); // 9 & 3 == 5 & 3
        assert_eq!(cache.get(5, &1, 0), None);
        assert_eq!(cache.get(9, &2, 0), Some(20));
        let mut computed = 0;
        let value = cache.get_or_insert_with(2, 3, 0, || {
            computed += 1;
            30
        });
        assert_eq!((value, computed), (30, 1));
        assert_eq!(cache.get_or_insert_with(2, 3, 0, || unreachable!()), 30);
    }
}
