//! A bounded hash map whose entries expire after an idle time, measured on packet
//! timestamps (so replays are deterministic). Allocated once at its capacity: no
//! allocation on the packet path.

use std::hash::Hash;

use hashbrown::HashMap;

pub struct ExpiringMap<K, V> {
    map: HashMap<K, (V, u64)>,
    capacity: usize,
    idle_ns: u64,
    last_sweep: u64,
}

impl<K: Hash + Eq, V> ExpiringMap<K, V> {
    pub fn new(capacity: usize, idle_ns: u64) -> Self {
        ExpiringMap {
            map: HashMap::with_capacity(capacity),
            capacity,
            idle_ns,
            last_sweep: 0,
        }
    }

    /// The live entry for `key`, its idle time restarted.
    #[inline]
    pub fn get(&mut self, key: &K, now: u64) -> Option<&mut V> {
        let idle_ns = self.idle_ns;
        match self.map.get_mut(key) {
            Some((value, seen)) if now.saturating_sub(*seen) <= idle_ns => {
                *seen = now;
                Some(value)
            }
            _ => None,
        }
    }

    /// Inserts or replaces; `false` when the map is full of live entries. A full map
    /// sweeps its expired entries at most once per eighth of the idle time, so a flood
    /// of new flows cannot make every insert a full scan.
    pub fn insert(&mut self, key: K, value: V, now: u64) -> bool {
        if let Some(slot) = self.map.get_mut(&key) {
            *slot = (value, now);
            return true;
        }
        if self.map.len() >= self.capacity {
            if now.saturating_sub(self.last_sweep) < self.idle_ns / 8 {
                return false;
            }
            self.last_sweep = now;
            let idle_ns = self.idle_ns;
            self.map
                .retain(|_, (_, seen)| now.saturating_sub(*seen) <= idle_ns);
            if self.map.len() >= self.capacity {
                return false;
            }
        }
        self.map.insert(key, (value, now));
        true
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_full_maps_sweep() {
        let mut m: ExpiringMap<u32, u32> = ExpiringMap::new(2, 100);
        assert!(m.insert(1, 10, 0));
        assert!(m.insert(2, 20, 0));
        assert!(!m.insert(3, 30, 5), "full of live entries");
        assert_eq!(m.get(&1, 50).copied(), Some(10));
        assert_eq!(m.get(&2, 101), None, "idle for more than 100 ns");
        // Entry 2 expired: the sweep makes room.
        assert!(m.insert(3, 30, 120));
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(&1, 120).copied(), Some(10));
    }
}
