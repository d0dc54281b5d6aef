//! Chassis MACs the topology leaves out, resolved by ARP on the uplink. What is
//! learned is shared by the workers and outlives every snapshot ([`LearnedMacs`],
//! keyed by address): the answer may reach another worker than the one that asked,
//! and a configuration change forgets nothing. Per worker: which addresses it asked
//! for, and the encapsulated frames waiting for a resolution in a small bounded queue
//! (overflow is counted by the caller), released by the first burst that finds the
//! address learned. Hand-written rather than smoltcp's neighbour cache: smoltcp's
//! cache lives inside its interface and transmits through its own device, while these
//! frames are already in the pipeline's buffers and only their destination MAC is
//! missing.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use hashbrown::HashMap;
use packet::{MacAddr, Packet};

/// Set in an entry's MAC word once a MAC is stored there (the MAC is the low 48 bits).
const LEARNED: u64 = 1 << 48;
/// Entry states: free, being claimed by a writer, holding an address.
const FREE: u8 = 0;
const CLAIMING: u8 = 1;
const READY: u8 = 2;
/// How far a lookup or an insertion probes from an address's home entry.
const MAX_PROBES: usize = 16;

/// One learned address. The address never changes once the entry is ready, so a
/// reader needs no lock: it compares the address, then loads the MAC word.
#[derive(Default)]
struct Entry {
    state: AtomicU8,
    /// The address as IPv6 (IPv4 mapped), high and low halves.
    key: [AtomicU64; 2],
    /// MAC | LEARNED, or 0 while none is known.
    mac: AtomicU64,
    /// The packet time of the answer.
    at: AtomicU64,
}

/// MACs learned on the uplink, by address: written by whichever worker sees an answer
/// and read by all (a few atomic loads per encapsulation to a chassis without a MAC).
/// Fixed capacity, allocated once; entries are never removed.
pub struct LearnedMacs {
    entries: Box<[Entry]>,
}

/// Addresses a node resolves on its uplink: its chassis and its external gateway.
pub const DEFAULT_LEARNED_CAPACITY: usize = 4096;

fn key_of(ip: IpAddr) -> u128 {
    let v6 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    u128::from(v6)
}

fn mac_word(mac: MacAddr) -> u64 {
    let [a, b, c, d, e, f] = mac.0;
    LEARNED | u64::from_be_bytes([0, 0, a, b, c, d, e, f])
}

fn word_mac(word: u64) -> MacAddr {
    let bytes = word.to_be_bytes();
    MacAddr([bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]])
}

impl Default for LearnedMacs {
    fn default() -> Self {
        LearnedMacs::new(DEFAULT_LEARNED_CAPACITY)
    }
}

impl LearnedMacs {
    pub fn new(capacity: usize) -> Self {
        LearnedMacs {
            entries: (0..capacity.max(1)).map(|_| Entry::default()).collect(),
        }
    }

    /// The entries `ip` may live in, from its home entry on.
    fn probe(&self, key: u128) -> impl Iterator<Item = &Entry> {
        let folded = (key as u64) ^ ((key >> 64) as u64);
        let home = (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % self.entries.len();
        let probes = MAX_PROBES.min(self.entries.len());
        (0..probes).map(move |i| &self.entries[(home + i) % self.entries.len()])
    }

    fn holds(entry: &Entry, key: u128) -> bool {
        entry.key[0].load(Ordering::Relaxed) == (key >> 64) as u64
            && entry.key[1].load(Ordering::Relaxed) == key as u64
    }

    fn find(&self, key: u128) -> Option<&Entry> {
        for entry in self.probe(key) {
            match entry.state.load(Ordering::Acquire) {
                FREE => return None,
                READY if Self::holds(entry, key) => return Some(entry),
                _ => {}
            }
        }
        None
    }

    pub fn get(&self, ip: IpAddr) -> Option<MacAddr> {
        self.get_with_time(ip).map(|(mac, _)| mac)
    }

    /// The MAC and the time it was learned at.
    pub fn get_with_time(&self, ip: IpAddr) -> Option<(MacAddr, u64)> {
        let entry = self.find(key_of(ip))?;
        // Acquire pairs with `set`'s release: the time is read after the MAC.
        let word = entry.mac.load(Ordering::Acquire);
        (word & LEARNED != 0).then(|| (word_mac(word), entry.at.load(Ordering::Relaxed)))
    }

    /// Learns `ip`'s MAC; `false` when the table has no room near its home entry.
    pub fn set(&self, ip: IpAddr, mac: MacAddr, now: u64) -> bool {
        let key = key_of(ip);
        let entry = match self.find(key) {
            Some(entry) => entry,
            None => match self.claim(key) {
                Some(entry) => entry,
                None => return false,
            },
        };
        entry.at.store(now, Ordering::Relaxed);
        entry.mac.store(mac_word(mac), Ordering::Release);
        true
    }

    /// Takes a free entry for `key` (two workers learning the same new address at
    /// once may each take one: lookups find the first, and both hold a MAC).
    fn claim(&self, key: u128) -> Option<&Entry> {
        self.probe(key).find(|entry| {
            let claimed = entry
                .state
                .compare_exchange(FREE, CLAIMING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok();
            if claimed {
                entry.key[0].store((key >> 64) as u64, Ordering::Relaxed);
                entry.key[1].store(key as u64, Ordering::Relaxed);
                entry.state.store(READY, Ordering::Release);
            }
            claimed
        })
    }

    /// Every learned address and its MAC (for the control plane).
    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, MacAddr)> + '_ {
        self.entries.iter().filter_map(|entry| {
            if entry.state.load(Ordering::Acquire) != READY {
                return None;
            }
            let word = entry.mac.load(Ordering::Acquire);
            if word & LEARNED == 0 {
                return None;
            }
            let high = u128::from(entry.key[0].load(Ordering::Relaxed));
            let v6 = std::net::Ipv6Addr::from(
                high << 64 | u128::from(entry.key[1].load(Ordering::Relaxed)),
            );
            let ip = v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4);
            Some((ip, word_mac(word)))
        })
    }
}

impl std::fmt::Debug for LearnedMacs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Frames a worker holds while resolving, all chassis together.
pub const WAITING_CAPACITY: usize = 16;
/// A request unanswered for this long (packet time) is sent again.
pub const RETRY_NS: u64 = 1_000_000_000;
/// A frame waits at most this long (packet time), so that a chassis that never
/// answers does not keep the queue full for the others.
pub const HOLD_NS: u64 = 3_000_000_000;

/// One worker's resolutions under way: the addresses it asked for (and when), and
/// the frames waiting for them.
pub struct Neighbours {
    /// Address -> when it was last asked for (`None`: a request is due).
    requested: HashMap<IpAddr, Option<u64>>,
    waiting: Vec<(IpAddr, Packet)>,
    requests_due: bool,
}

impl Neighbours {
    /// Room for `chassis` entries and the waiting queue, allocated once.
    pub fn new(chassis: usize) -> Self {
        Neighbours {
            requested: HashMap::with_capacity(chassis),
            waiting: Vec::with_capacity(WAITING_CAPACITY),
            requests_due: false,
        }
    }

    /// Holds an encapsulated frame whose destination MAC is `ip`'s until it resolves;
    /// gives it back when the queue is full.
    pub fn hold(&mut self, ip: IpAddr, packet: Packet, now: u64) -> Result<(), Packet> {
        if self.waiting.len() == WAITING_CAPACITY {
            return Err(packet);
        }
        let requested_at = self.requested.entry(ip).or_insert(None);
        if requested_at.is_none_or(|at| now.saturating_sub(at) >= RETRY_NS) {
            *requested_at = None;
            self.requests_due = true;
        }
        self.waiting.push((ip, packet));
        Ok(())
    }

    /// True when an ARP request is to be sent (checked after each packet).
    pub fn requests_due(&self) -> bool {
        self.requests_due
    }

    /// The next address to send a request for, marked as requested at `now`.
    pub fn next_request(&mut self, now: u64) -> Option<IpAddr> {
        let due = self
            .requested
            .iter_mut()
            .find_map(|(ip, requested_at)| match requested_at {
                None => {
                    *requested_at = Some(now);
                    Some(*ip)
                }
                Some(_) => None,
            });
        if due.is_none() {
            self.requests_due = false;
        }
        due
    }

    /// The oldest waiting frame when it has waited `HOLD_NS` or more (the queue is in
    /// arrival order), to be dropped by the caller. Checked after each packet.
    #[inline]
    pub fn expired(&mut self, now: u64) -> Option<Packet> {
        let (_, oldest) = self.waiting.first()?;
        if now.saturating_sub(oldest.timestamp_ns) < HOLD_NS {
            return None;
        }
        Some(self.waiting.remove(0).1)
    }

    /// The oldest waiting frame whose address `learned` now knows, with what it knows
    /// (the MAC and when it was learned): this worker may not be the one that saw the
    /// answer.
    pub fn take_resolved<T>(
        &mut self,
        learned: impl Fn(IpAddr) -> Option<T>,
    ) -> Option<(Packet, T)> {
        let (index, mac) = self
            .waiting
            .iter()
            .enumerate()
            .find_map(|(index, (ip, _))| learned(*ip).map(|mac| (index, mac)))?;
        let (ip, packet) = self.waiting.remove(index);
        self.requested.remove(&ip);
        Some((packet, mac))
    }

    /// Takes every waiting frame (the pipeline is finishing: they are dropped).
    pub fn take_all(&mut self) -> impl Iterator<Item = Packet> + '_ {
        self.requested.clear();
        self.waiting.drain(..).map(|(_, packet)| packet)
    }

    /// True when frames wait for a resolution.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::{Pool, PoolConfig};

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    #[test]
    fn learned_macs_are_kept_by_address() {
        let learned = LearnedMacs::new(8);
        let (v4, v6): (IpAddr, IpAddr) = (
            "192.0.2.12".parse().unwrap(),
            "2001:db8::12".parse().unwrap(),
        );
        assert_eq!(learned.get(v4), None);
        assert!(learned.set(v4, MAC, 42));
        assert_eq!(learned.get(v4), Some(MAC));
        assert_eq!(learned.get_with_time(v4), Some((MAC, 42)));
        assert_eq!(learned.get(v6), None);
        let other = MacAddr([2, 0, 0, 0, 0, 3]);
        assert!(learned.set(v6, other, 43));
        assert!(learned.set(v4, other, 44), "a new answer replaces the MAC");
        assert_eq!(learned.get_with_time(v4), Some((other, 44)));
        let mut all: Vec<_> = learned.iter().collect();
        all.sort();
        assert_eq!(all, vec![(v4, other), (v6, other)]);
    }

    #[test]
    fn a_full_table_refuses_new_addresses_and_keeps_the_old() {
        let learned = LearnedMacs::new(2);
        let ip = |n: u8| IpAddr::from([192, 0, 2, n]);
        assert!(learned.set(ip(1), MAC, 0));
        assert!(learned.set(ip(2), MAC, 0));
        assert!(!learned.set(ip(3), MAC, 0));
        assert_eq!(learned.get(ip(3)), None);
        assert_eq!(learned.get(ip(1)), Some(MAC));
        assert_eq!(learned.get(ip(2)), Some(MAC));
    }

    #[test]
    fn holds_requests_once_then_releases_in_order() {
        let mut pool = Pool::new(PoolConfig::default());
        let mut n = Neighbours::new(2);
        let ip: IpAddr = "192.0.2.12".parse().unwrap();
        let other: IpAddr = "192.0.2.13".parse().unwrap();
        for (at, byte) in [(10, 1u8), (20, 2)] {
            let p = pool.alloc_copy(&[byte]).unwrap();
            n.hold(ip, p, at).unwrap();
        }
        n.hold(other, pool.alloc_copy(&[3]).unwrap(), 30).unwrap();
        assert!(n.requests_due());
        let mut asked = vec![n.next_request(10).unwrap(), n.next_request(10).unwrap()];
        asked.sort();
        assert_eq!(asked, vec![ip, other]);
        assert_eq!(n.next_request(10), None);
        assert!(!n.requests_due());
        let only_ip = |asked: IpAddr| (asked == ip).then_some(MAC);
        assert_eq!(n.take_resolved(only_ip).unwrap().0.data(), &[1]);
        assert_eq!(n.take_resolved(only_ip).unwrap().0.data(), &[2]);
        assert!(n.take_resolved(only_ip).is_none());
        assert!(
            n.has_waiting(),
            "the frame for the other address still waits"
        );
    }

    #[test]
    fn the_queue_is_bounded_and_requests_are_retried() {
        let mut pool = Pool::new(PoolConfig::default());
        let mut n = Neighbours::new(1);
        let ip: IpAddr = "192.0.2.12".parse().unwrap();
        let resolved = |_| Some(MAC);
        for _ in 0..WAITING_CAPACITY {
            n.hold(ip, pool.alloc_copy(&[0]).unwrap(), 0).unwrap();
        }
        assert!(n.hold(ip, pool.alloc_copy(&[0]).unwrap(), 0).is_err());
        assert_eq!(n.next_request(0), Some(ip));
        assert_eq!(n.next_request(0), None);
        while n.take_resolved(resolved).is_some() {}
        n.hold(ip, pool.alloc_copy(&[0]).unwrap(), 0).unwrap();
        n.next_request(0);
        n.hold(ip, pool.alloc_copy(&[0]).unwrap(), RETRY_NS - 1)
            .unwrap();
        assert_eq!(
            n.next_request(RETRY_NS - 1),
            None,
            "asked less than a retry interval ago"
        );
        n.hold(ip, pool.alloc_copy(&[0]).unwrap(), RETRY_NS)
            .unwrap();
        assert_eq!(n.next_request(RETRY_NS), Some(ip));
    }

    #[test]
    fn frames_expire_in_arrival_order() {
        let mut pool = Pool::new(PoolConfig::default());
        let mut n = Neighbours::new(1);
        let ip: IpAddr = "192.0.2.12".parse().unwrap();
        for (at, byte) in [(0, 1u8), (5, 2)] {
            let mut p = pool.alloc_copy(&[byte]).unwrap();
            p.timestamp_ns = at;
            n.hold(ip, p, at).unwrap();
        }
        assert!(n.expired(HOLD_NS - 1).is_none());
        assert_eq!(n.expired(HOLD_NS).unwrap().data(), &[1]);
        assert!(n.expired(HOLD_NS).is_none());
        assert_eq!(n.expired(HOLD_NS + 5).unwrap().data(), &[2]);
    }
}
