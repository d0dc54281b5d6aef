//! The connection table: connections in a preallocated array of cache-line slots, and
//! one bucket index over both directions' keys (original tuple in the tenant's zone,
//! reply tuple in the outside zone), each naming the connection's slot. A lookup
//! reads one bucket line, then the connection's line; both can be prefetched for a
//! burst (`hash`, `prefetch_bucket`, `prefetch_connection`, `lookup_hashed`).
//!
//! Bounded memory and no rehash pauses: the slots and the index are allocated at
//! start for `max_connections` (on huge pages when big, see `pages`), and an
//! insertion beyond `max_connections` is refused, never evicting a live connection.
//! Expiry is lazy (an expired connection found by a lookup is removed on the spot)
//! plus a sweep hand that examines a bounded number of slots per call.

use std::hash::{BuildHasher, RandomState};

use crate::buckets::{prefetch, BucketIndex};
use crate::pages::{PageArray, Pages};
use crate::tcp::{Direction, Tcp};

/// The zone of the outside world: reply keys live there, tenant zones are network ids.
pub const OUTSIDE: u32 = u32::MAX;

/// One direction of a connection: zone and IPv4 5-tuple. For ICMP echo both ports
/// hold the identifier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnKey {
    pub zone: u32,
    pub src: u32,
    pub dst: u32,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProtoState {
    Tcp(Tcp),
    #[default]
    UdpUnreplied,
    UdpReplied,
    Icmp,
}

/// A tracked, translated connection. The original key is the tenant's view
/// (zone, internal address and port -> remote); the reply key is what the remote
/// sends back (outside zone, remote -> external address and port).
#[derive(Clone, Copy, Debug, Default)]
pub struct Conn {
    pub original: ConnKey,
    pub reply: ConnKey,
    pub state: ProtoState,
    pub expires_ns: u64,
    pub live: bool,
    /// Packets translated in either direction (ICMP errors about it excluded);
    /// 32 bits (saturating) keep a connection within one 64-byte slot.
    pub packets: u32,
    /// Their IP bytes (header included), as Linux conntrack counts them.
    pub bytes: u64,
}

impl Conn {
    pub fn external(&self) -> (u32, u16) {
        (self.reply.dst, self.reply.dst_port)
    }

    pub fn internal(&self) -> (u32, u16) {
        (self.original.src, self.original.src_port)
    }
}

/// Why an insertion was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

// A connection fills one cache line, no more.
const _: () = assert!(std::mem::size_of::<Slot>() == 64);

/// A connection in a slot of its own cache line, so a lookup reads one line for it.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Slot {
    conn: Conn,
}

pub struct ConnTable {
    slots: PageArray<Slot>,
    free: Vec<u32>,
    index: BucketIndex,
    /// The hash's keys, drawn at start so that nobody outside can aim keys at one
    /// bucket.
    seed: [u64; 2],
    sweep_at: usize,
}

impl ConnTable {
    pub fn with_capacity(max_connections: u32) -> Self {
        let max = max_connections as usize;
        let random = RandomState::new();
        ConnTable {
            slots: PageArray::new(max, Slot::default()),
            // Popped from the end: slot 0 is used first.
            free: (0..max_connections).rev().collect(),
            index: BucketIndex::with_capacity(2 * max),
            seed: [random.hash_one(0_u64), random.hash_one(1_u64)],
            sweep_at: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live connections, in slot order (for inspection, never on the packet path).
    pub fn iter(&self) -> impl Iterator<Item = &Conn> {
        self.slots
            .iter()
            .map(|slot| &slot.conn)
            .filter(|conn| conn.live)
    }

    /// Bytes allocated for the slots, the free list and the index.
    pub fn allocated_bytes(&self) -> usize {
        self.slots.allocated_bytes()
            + self.free.capacity() * std::mem::size_of::<u32>()
            + self.index.allocated_bytes()
    }

    /// What backs the slots and the index.
    pub fn pages(&self) -> (Pages, Pages) {
        (self.slots.pages(), self.index.pages())
    }

    /// The hash of `key` the index files it under (for `prefetch_bucket` and
    /// `lookup_hashed`).
    pub fn hash(&self, key: &ConnKey) -> u64 {
        let addresses = u64::from(key.src) | u64::from(key.dst) << 32;
        let rest =
            u64::from(key.zone) | u64::from(key.src_port) << 32 | u64::from(key.dst_port) << 48;
        let mixed = folded_multiply(addresses ^ self.seed[0], rest ^ self.seed[1]);
        folded_multiply(mixed ^ u64::from(key.protocol), MULTIPLIER)
    }

    /// First step of a lookup ahead of time: loads the bucket of `hash`.
    pub fn prefetch_bucket(&self, hash: u64) {
        self.index.prefetch(hash);
    }

    /// Second step, once the bucket has had time to arrive: loads the connection the
    /// lookup of `hash` will most likely read.
    pub fn prefetch_connection(&self, hash: u64) {
        if let Some(slot) = self.index.likely_entry(hash) {
            prefetch(&self.slots[slot as usize]);
        }
    }

    /// The live connection `key` belongs to and the direction `key` is, removing it
    /// first if it has expired at `now_ns` (and handing it to `on_remove`).
    pub fn lookup(
        &mut self,
        key: &ConnKey,
        now_ns: u64,
        on_remove: impl FnOnce(&Conn),
    ) -> Option<(u32, Direction)> {
        self.lookup_hashed(key, self.hash(key), now_ns, on_remove)
    }

    /// `lookup` with the key's `hash` already computed.
    pub fn lookup_hashed(
        &mut self,
        key: &ConnKey,
        hash: u64,
        now_ns: u64,
        on_remove: impl FnOnce(&Conn),
    ) -> Option<(u32, Direction)> {
        let slots = &self.slots;
        let slot = self.index.find(hash, |slot| {
            let conn = &slots[slot as usize].conn;
            conn.original == *key || conn.reply == *key
        })?;
        let conn = &self.slots[slot as usize].conn;
        if conn.expires_ns <= now_ns {
            on_remove(&self.remove(slot));
            return None;
        }
        let direction = if conn.original == *key {
            Direction::Original
        } else {
            Direction::Reply
        };
        Some((slot, direction))
    }

    pub fn get(&self, slot: u32) -> &Conn {
        &self.slots[slot as usize].conn
    }

    pub fn get_mut(&mut self, slot: u32) -> &mut Conn {
        &mut self.slots[slot as usize].conn
    }

    /// Inserts a connection whose two keys are free; refused when the table is full
    /// (a live connection is never evicted).
    pub fn insert(&mut self, conn: Conn) -> Result<u32, TableFull> {
        let slot = self.free.pop().ok_or(TableFull)?;
        let (original, reply) = (self.hash(&conn.original), self.hash(&conn.reply));
        // The index has room for both keys of every connection the slots can hold.
        if self.index.insert(original, slot).is_err() {
            self.free.push(slot);
            return Err(TableFull);
        }
        if self.index.insert(reply, slot).is_err() {
            self.index.remove(original, slot);
            self.free.push(slot);
            return Err(TableFull);
        }
        self.slots[slot as usize].conn = Conn { live: true, ..conn };
        Ok(slot)
    }

    pub fn remove(&mut self, slot: u32) -> Conn {
        let conn = std::mem::take(&mut self.slots[slot as usize].conn);
        if conn.live {
            let (original, reply) = (self.hash(&conn.original), self.hash(&conn.reply));
            self.index.remove(original, slot);
            self.index.remove(reply, slot);
            self.free.push(slot);
        }
        conn
    }

    /// Removes every live connection `doomed` picks; calls `on_remove` for each.
    pub fn remove_if(
        &mut self,
        mut doomed: impl FnMut(&Conn) -> bool,
        mut on_remove: impl FnMut(&Conn),
    ) -> usize {
        let mut removed = 0;
        for slot in 0..self.slots.len() {
            let conn = &self.slots[slot].conn;
            if conn.live && doomed(conn) {
                let conn = self.remove(slot as u32);
                on_remove(&conn);
                removed += 1;
            }
        }
        removed
    }

    /// Examines up to `budget` slots after the last one examined and removes the
    /// expired connections among them; calls `on_remove` for each. Bounded work: a
    /// full table is swept every `capacity / budget` calls.
    pub fn sweep(&mut self, now_ns: u64, budget: u32, mut on_remove: impl FnMut(&Conn)) {
        let capacity = self.slots.len();
        if capacity == 0 || self.free.len() == capacity {
            return;
        }
        for _ in 0..(budget as usize).min(capacity) {
            let slot = self.sweep_at;
            self.sweep_at = (self.sweep_at + 1) % capacity;
            let conn = &self.slots[slot].conn;
            if conn.live && conn.expires_ns <= now_ns {
                let conn = self.remove(slot as u32);
                on_remove(&conn);
            }
        }
    }
}

/// An odd constant with well-spread bits (the fractional part of pi), for the final
/// mix.
const MULTIPLIER: u64 = 0x243f_6a88_85a3_08d3;

/// The full 128-bit product of `a` and `b` folded to 64 bits: every input bit moves
/// many output bits (the mixing step of foldhash and wyhash).
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(port: u16, expires_ns: u64) -> Conn {
        let original = ConnKey {
            zone: 1,
            src: 10,
            dst: 20,
            src_port: port,
            dst_port: 80,
            protocol: 6,
        };
        let reply = ConnKey {
            zone: OUTSIDE,
            src: 20,
            dst: 30,
            src_port: 80,
            dst_port: port,
            protocol: 6,
        };
        Conn {
            original,
            reply,
            expires_ns,
            ..Conn::default()
        }
    }

    #[test]
    fn both_directions_find_one_slot() {
        let mut table = ConnTable::with_capacity(4);
        let c = conn(1000, 100);
        let slot = table.insert(c).unwrap();
        assert_eq!(
            table.lookup(&c.original, 0, |_| {}),
            Some((slot, Direction::Original))
        );
        assert_eq!(
            table.lookup(&c.reply, 0, |_| {}),
            Some((slot, Direction::Reply))
        );
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn full_table_refuses_and_keeps_live_connections() {
        let mut table = ConnTable::with_capacity(2);
        let bytes_before = table.allocated_bytes();
        table.insert(conn(1, 100)).unwrap();
        table.insert(conn(2, 100)).unwrap();
        assert_eq!(table.insert(conn(3, 100)), Err(TableFull));
        assert!(table.lookup(&conn(1, 0).original, 50, |_| {}).is_some());
        assert!(table.lookup(&conn(2, 0).reply, 50, |_| {}).is_some());
        assert_eq!(table.allocated_bytes(), bytes_before, "never grown");
    }

    #[test]
    fn expired_connection_is_removed_by_lookup() {
        let mut table = ConnTable::with_capacity(2);
        let c = conn(1, 100);
        table.insert(c).unwrap();
        assert!(table.lookup(&c.reply, 99, |_| {}).is_some());
        assert!(table.lookup(&c.reply, 100, |_| {}).is_none());
        assert!(
            table.lookup(&c.original, 0, |_| {}).is_none(),
            "both keys gone"
        );
        assert!(table.is_empty());
    }

    #[test]
    fn sweep_examines_a_bounded_number_of_slots() {
        let mut table = ConnTable::with_capacity(8);
        for port in 0..8 {
            table.insert(conn(port, 100 + u64::from(port))).unwrap();
        }
        let mut removed = 0;
        table.sweep(104, 3, |_| removed += 1);
        assert_eq!(removed, 3, "slots 0-2 expired and examined");
        table.sweep(104, 3, |_| removed += 1);
        assert_eq!(removed, 5, "slots 3, 4 expired; 5 not yet");
        table.sweep(1000, 100, |_| removed += 1);
        assert_eq!((removed, table.len()), (8, 0));
    }

    #[test]
    fn a_connection_fills_whole_cache_lines() {
        assert_eq!(std::mem::align_of::<Slot>(), 64);
        assert_eq!(std::mem::size_of::<Slot>() % 64, 0);
    }

    #[test]
    fn the_hashed_lookup_and_prefetches_agree_with_the_plain_lookup() {
        let mut table = ConnTable::with_capacity(8);
        let c = conn(7, 100);
        let slot = table.insert(c).unwrap();
        let (original, reply) = (table.hash(&c.original), table.hash(&c.reply));
        assert_ne!(original, reply);
        table.prefetch_bucket(reply);
        table.prefetch_connection(reply);
        assert_eq!(
            table.lookup_hashed(&c.reply, reply, 0, |_| {}),
            Some((slot, Direction::Reply))
        );
        assert_eq!(
            table.lookup_hashed(&c.original, original, 0, |_| {}),
            Some((slot, Direction::Original))
        );
        assert_eq!(table.index.likely_entry(original), Some(slot));
    }

    /// Churn on a table big enough to be mapped, checked against a plain map: every
    /// key is found in its own direction until removed, never after, and a full table
    /// takes a new connection as soon as one leaves.
    #[test]
    fn churn_at_capacity_matches_a_model() {
        const CAPACITY: u32 = 40_000;
        let mut table = ConnTable::with_capacity(CAPACITY);
        assert_ne!(table.pages().0, Pages::Heap, "slots mapped");
        // The live connections and their slots, in no particular order.
        let mut model: Vec<(Conn, u32)> = Vec::new();
        let mut random = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            random
        };
        for id in 0..120_000u32 {
            let mut c = conn((id % 60_000) as u16, u64::MAX);
            c.original.src = id;
            c.reply.dst = id / 3;
            if model.len() == CAPACITY as usize {
                assert_eq!(table.insert(c), Err(TableFull));
                let victim = (next() % model.len() as u64) as usize;
                let (gone, slot) = model.swap_remove(victim);
                assert_eq!(table.remove(slot).original, gone.original);
                assert_eq!(table.lookup(&gone.original, 0, |_| {}), None);
                assert_eq!(table.lookup(&gone.reply, 0, |_| {}), None);
            }
            let slot = table.insert(c).unwrap();
            model.push((c, slot));
            if id % 20_011 == 0 {
                for (c, slot) in &model {
                    assert_eq!(
                        table.lookup(&c.original, 0, |_| {}),
                        Some((*slot, Direction::Original))
                    );
                    assert_eq!(
                        table.lookup(&c.reply, 0, |_| {}),
                        Some((*slot, Direction::Reply))
                    );
                }
            }
        }
        assert_eq!(table.len(), model.len());
        let mut listed: Vec<u32> = table.iter().map(|c| c.original.src).collect();
        let mut expected: Vec<u32> = model.iter().map(|(c, _)| c.original.src).collect();
        listed.sort_unstable();
        expected.sort_unstable();
        assert_eq!(listed, expected);
    }
}
