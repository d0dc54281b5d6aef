//! The connection table: a preallocated slab of connections and one hash index over
//! both directions' keys (original tuple in the tenant's zone, reply tuple in the
//! outside zone), each pointing at the connection's slab slot.
//!
//! Bounded memory and no rehash pauses: the slab and the index are allocated at start
//! for `max_connections` (the index `with_capacity(2 * max)`, one key per direction),
//! and an insertion beyond `max_connections` is refused, so the index never grows.
//! Expiry is lazy (an expired connection found by a lookup is removed on the spot)
//! plus a sweep hand that examines a bounded number of slots per call.

use hashbrown::HashMap;

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
    /// Packets translated in either direction (ICMP errors about it excluded).
    pub packets: u64,
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

pub struct ConnTable {
    slab: Vec<Conn>,
    free: Vec<u32>,
    index: HashMap<ConnKey, u32>,
    sweep_at: usize,
}

impl ConnTable {
    pub fn with_capacity(max_connections: u32) -> Self {
        let max = max_connections as usize;
        ConnTable {
            slab: vec![Conn::default(); max],
            // Popped from the end: slot 0 is used first.
            free: (0..max_connections).rev().collect(),
            index: HashMap::with_capacity(2 * max),
            sweep_at: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slab.len()
    }

    pub fn len(&self) -> usize {
        self.slab.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live connections, in slot order (for inspection, never on the packet path).
    pub fn iter(&self) -> impl Iterator<Item = &Conn> {
        self.slab.iter().filter(|conn| conn.live)
    }

    /// Bytes allocated for the slab and the index (hashbrown: one control byte plus
    /// one entry per bucket, buckets a power of two at 7/8 load).
    pub fn allocated_bytes(&self) -> usize {
        let buckets = self.index.capacity().saturating_mul(8) / 7;
        let buckets = buckets.next_power_of_two();
        self.slab.capacity() * std::mem::size_of::<Conn>()
            + self.free.capacity() * std::mem::size_of::<u32>()
            + buckets * (std::mem::size_of::<(ConnKey, u32)>() + 1)
    }

    /// The live connection `key` belongs to and the direction `key` is, removing it
    /// first if it has expired at `now_ns` (and handing it to `on_remove`).
    pub fn lookup(
        &mut self,
        key: &ConnKey,
        now_ns: u64,
        on_remove: impl FnOnce(&Conn),
    ) -> Option<(u32, Direction)> {
        let slot = *self.index.get(key)?;
        let conn = &self.slab[slot as usize];
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
        &self.slab[slot as usize]
    }

    pub fn get_mut(&mut self, slot: u32) -> &mut Conn {
        &mut self.slab[slot as usize]
    }

    /// Inserts a connection whose two keys are free; refused when the table is full
    /// (a live connection is never evicted).
    pub fn insert(&mut self, conn: Conn) -> Result<u32, TableFull> {
        let slot = self.free.pop().ok_or(TableFull)?;
        self.index.insert(conn.original, slot);
        self.index.insert(conn.reply, slot);
        self.slab[slot as usize] = Conn { live: true, ..conn };
        Ok(slot)
    }

    pub fn remove(&mut self, slot: u32) -> Conn {
        let conn = std::mem::take(&mut self.slab[slot as usize]);
        if conn.live {
            self.index.remove(&conn.original);
            self.index.remove(&conn.reply);
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
        for slot in 0..self.slab.len() {
            let conn = &self.slab[slot];
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
        let capacity = self.slab.len();
        if capacity == 0 || self.free.len() == capacity {
            return;
        }
        for _ in 0..(budget as usize).min(capacity) {
            let slot = self.sweep_at;
            self.sweep_at = (self.sweep_at + 1) % capacity;
            let conn = &self.slab[slot];
            if conn.live && conn.expires_ns <= now_ns {
                let conn = self.remove(slot as u32);
                on_remove(&conn);
            }
        }
    }
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
        let capacity_before = table.index.capacity();
        table.insert(conn(1, 100)).unwrap();
        table.insert(conn(2, 100)).unwrap();
        assert_eq!(table.insert(conn(3, 100)), Err(TableFull));
        assert!(table.lookup(&conn(1, 0).original, 50, |_| {}).is_some());
        assert!(table.lookup(&conn(2, 0).reply, 50, |_| {}).is_some());
        assert_eq!(table.index.capacity(), capacity_before, "never rehashed");
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
}
