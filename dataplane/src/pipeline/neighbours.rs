//! Chassis MACs the topology leaves out, resolved by ARP on the uplink. What is
//! learned is shared by the workers ([`LearnedMacs`], in the snapshot): the answer may
//! reach another worker than the one that asked. Per worker: which addresses it asked
//! for, and the encapsulated frames waiting for a resolution in a small bounded queue
//! (overflow is counted by the caller), released by the first burst that finds the
//! address learned. Hand-written rather than
//! smoltcp's neighbour cache: smoltcp's cache lives inside its interface and
//! transmits through its own device, while these frames are already in the
//! pipeline's buffers and only their destination MAC is missing.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;
use packet::{MacAddr, Packet};

/// Set in a slot once a MAC is stored there (the MAC is the low 48 bits).
const LEARNED: u64 = 1 << 48;

/// One slot per chassis, written by whichever worker sees the chassis' answer and read
/// by all (one atomic load per encapsulation to a chassis without a MAC). The time of
/// the answer is kept: a frame another worker held until then leaves at that time.
#[derive(Default)]
pub struct LearnedMacs {
    /// (MAC | LEARNED, time of the answer) per chassis.
    slots: Vec<(AtomicU64, AtomicU64)>,
}

fn slot_value(mac: MacAddr) -> u64 {
    let [a, b, c, d, e, f] = mac.0;
    LEARNED | u64::from_be_bytes([0, 0, a, b, c, d, e, f])
}

impl LearnedMacs {
    pub fn new(chassis: usize) -> Self {
        LearnedMacs {
            slots: (0..chassis)
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                .collect(),
        }
    }

    pub fn get(&self, chassis: u16) -> Option<MacAddr> {
        self.get_with_time(chassis).map(|(mac, _)| mac)
    }

    /// The MAC and the time it was learned at.
    pub fn get_with_time(&self, chassis: u16) -> Option<(MacAddr, u64)> {
        let (mac, at) = self.slots.get(usize::from(chassis))?;
        // Acquire pairs with `set`'s release: the time is read after the MAC.
        let slot = mac.load(Ordering::Acquire);
        if slot & LEARNED == 0 {
            return None;
        }
        let bytes = slot.to_be_bytes();
        let mac = MacAddr([bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]);
        Some((mac, at.load(Ordering::Relaxed)))
    }

    pub fn set(&self, chassis: u16, mac: MacAddr, now: u64) {
        if let Some((slot, at)) = self.slots.get(usize::from(chassis)) {
            at.store(now, Ordering::Relaxed);
            slot.store(slot_value(mac), Ordering::Release);
        }
    }
}

impl Clone for LearnedMacs {
    fn clone(&self) -> Self {
        let learned = LearnedMacs::new(self.slots.len());
        for (chassis, (slot, at)) in learned.slots.iter().enumerate() {
            if let Some((mac, when)) = self.get_with_time(chassis as u16) {
                at.store(when, Ordering::Relaxed);
                slot.store(slot_value(mac), Ordering::Relaxed);
            }
        }
        learned
    }
}

impl std::fmt::Debug for LearnedMacs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let learned: Vec<_> = (0..self.slots.len() as u16).map(|c| self.get(c)).collect();
        f.debug_struct("LearnedMacs")
            .field("slots", &learned)
            .finish()
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
    fn learned_macs_are_shared_slots() {
        let learned = LearnedMacs::new(2);
        assert_eq!(learned.get(1), None);
        learned.set(1, MAC, 42);
        assert_eq!(learned.get(1), Some(MAC));
        assert_eq!(learned.get_with_time(1), Some((MAC, 42)));
        assert_eq!(learned.get(0), None);
        assert_eq!(learned.clone().get_with_time(1), Some((MAC, 42)));
        learned.set(7, MAC, 42);
        assert_eq!(learned.get(7), None, "no such chassis");
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
