//! Chassis MACs the topology leaves out, resolved by ARP on the uplink. Per worker:
//! what it learned, and the encapsulated frames waiting for a resolution in a small
//! bounded queue (overflow is counted by the caller). Hand-written rather than
//! smoltcp's neighbour cache: smoltcp's cache lives inside its interface and
//! transmits through its own device, while these frames are already in the
//! pipeline's buffers and only their destination MAC is missing.

use std::net::IpAddr;

use hashbrown::HashMap;
use packet::{MacAddr, Packet};

/// Frames a worker holds while resolving, all chassis together.
pub const WAITING_CAPACITY: usize = 16;
/// A request unanswered for this long (packet time) is sent again.
pub const RETRY_NS: u64 = 1_000_000_000;
/// A frame waits at most this long (packet time), so that a chassis that never
/// answers does not keep the queue full for the others.
pub const HOLD_NS: u64 = 3_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Asked for (or about to be, when `requested_at` is `None`).
    Pending {
        requested_at: Option<u64>,
    },
    Resolved(MacAddr),
}

pub struct Neighbours {
    entries: HashMap<IpAddr, State>,
    waiting: Vec<(IpAddr, Packet)>,
    requests_due: bool,
}

impl Neighbours {
    /// Room for `chassis` entries and the waiting queue, allocated once.
    pub fn new(chassis: usize) -> Self {
        Neighbours {
            entries: HashMap::with_capacity(chassis),
            waiting: Vec::with_capacity(WAITING_CAPACITY),
            requests_due: false,
        }
    }

    pub fn mac(&self, ip: IpAddr) -> Option<MacAddr> {
        match self.entries.get(&ip) {
            Some(State::Resolved(mac)) => Some(*mac),
            _ => None,
        }
    }

    /// Holds an encapsulated frame whose destination MAC is `ip`'s until it resolves;
    /// gives it back when the queue is full.
    pub fn hold(&mut self, ip: IpAddr, packet: Packet, now: u64) -> Result<(), Packet> {
        if self.waiting.len() == WAITING_CAPACITY {
            return Err(packet);
        }
        let state = self
            .entries
            .entry(ip)
            .or_insert(State::Pending { requested_at: None });
        if let State::Pending { requested_at } = state {
            if requested_at.is_none_or(|at| now.saturating_sub(at) >= RETRY_NS) {
                *requested_at = None;
                self.requests_due = true;
            }
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
        let due = self.entries.iter_mut().find_map(|(ip, state)| match state {
            State::Pending { requested_at } if requested_at.is_none() => {
                *requested_at = Some(now);
                Some(*ip)
            }
            _ => None,
        });
        if due.is_none() {
            self.requests_due = false;
        }
        due
    }

    /// Learns `ip`'s MAC if this worker is resolving (or resolved) it; unsolicited
    /// answers about other addresses are ignored. Returns whether it was learned.
    pub fn learn(&mut self, ip: IpAddr, mac: MacAddr) -> bool {
        match self.entries.get_mut(&ip) {
            Some(state) if mac.is_unicast() => {
                *state = State::Resolved(mac);
                true
            }
            _ => false,
        }
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

    /// The oldest frame waiting for `ip`.
    pub fn take_waiting(&mut self, ip: IpAddr) -> Option<Packet> {
        let index = self
            .waiting
            .iter()
            .position(|(waiting, _)| *waiting == ip)?;
        Some(self.waiting.remove(index).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::{Pool, PoolConfig};

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
        assert!(n.requests_due());
        assert_eq!(n.next_request(10), Some(ip));
        assert_eq!(n.next_request(10), None);
        assert!(!n.requests_due());
        // Unsolicited: not learned.
        assert!(!n.learn(other, MacAddr([2, 0, 0, 0, 0, 1])));
        assert!(n.learn(ip, MacAddr([2, 0, 0, 0, 0, 2])));
        assert_eq!(n.mac(ip), Some(MacAddr([2, 0, 0, 0, 0, 2])));
        assert_eq!(n.take_waiting(ip).unwrap().data(), &[1]);
        assert_eq!(n.take_waiting(ip).unwrap().data(), &[2]);
        assert!(n.take_waiting(ip).is_none());
    }

    #[test]
    fn the_queue_is_bounded_and_requests_are_retried() {
        let mut pool = Pool::new(PoolConfig::default());
        let mut n = Neighbours::new(1);
        let ip: IpAddr = "192.0.2.12".parse().unwrap();
        for _ in 0..WAITING_CAPACITY {
            n.hold(ip, pool.alloc_copy(&[0]).unwrap(), 0).unwrap();
        }
        assert!(n.hold(ip, pool.alloc_copy(&[0]).unwrap(), 0).is_err());
        assert_eq!(n.next_request(0), Some(ip));
        assert_eq!(n.next_request(0), None);
        n.take_waiting(ip).unwrap();
        n.hold(ip, pool.alloc_copy(&[0]).unwrap(), RETRY_NS - 1)
            .unwrap();
        assert!(!n.requests_due(), "asked less than a retry interval ago");
        n.take_waiting(ip).unwrap();
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
