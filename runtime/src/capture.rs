//! Packet capture for the control socket: workers copy the packets of a port that is
//! being captured into a bounded lock-free ring, which the control plane drains and
//! streams. A worker checks one atomic per burst when nothing is captured; while a
//! capture runs it clones matching packets from its pool (no allocation) and drops the
//! copy, counted, when the ring is full. The worker never waits.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam::queue::ArrayQueue;
use packet::{Burst, Packet, Pool};

/// Copies the ring holds before new ones are dropped.
pub const CAPTURE_RING: usize = 1024;

const RX: u8 = 1;
const TX: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Rx,
    Tx,
}

/// One captured copy.
pub struct Captured {
    pub port: u16,
    pub direction: Direction,
    pub timestamp_ns: u64,
    pub packet: Packet,
}

/// The capture state every worker sees.
pub struct CaptureTaps {
    /// True while any capture runs: the only thing a worker reads when none does.
    active: AtomicBool,
    /// Per port: RX and/or TX bits.
    ports: Vec<AtomicU8>,
    ring: ArrayQueue<Captured>,
    dropped: AtomicU64,
}

impl CaptureTaps {
    pub fn new(ports: usize) -> Self {
        CaptureTaps {
            active: AtomicBool::new(false),
            ports: (0..ports).map(|_| AtomicU8::new(0)).collect(),
            ring: ArrayQueue::new(CAPTURE_RING),
            dropped: AtomicU64::new(0),
        }
    }

    /// Starts capturing `port` (one capture at a time); false if one already runs or
    /// the port does not exist.
    pub fn start(&self, port: u16, rx: bool, tx: bool) -> bool {
        let Some(slot) = self.ports.get(usize::from(port)) else {
            return false;
        };
        if self
            .active
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        self.dropped.store(0, Ordering::Relaxed);
        let bits = if rx { RX } else { 0 } | if tx { TX } else { 0 };
        slot.store(bits, Ordering::Release);
        true
    }

    /// Stops the capture; copies still in the ring are handed back by `drain`.
    pub fn stop(&self) {
        for slot in &self.ports {
            slot.store(0, Ordering::Release);
        }
        self.active.store(false, Ordering::Release);
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Copies dropped because the ring was full, since the capture began.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Takes the next copy.
    pub fn pop(&self) -> Option<Captured> {
        self.ring.pop()
    }

    /// Worker side: copies the packets of `burst` received on captured ports.
    pub fn received(&self, burst: &Burst, pool: &mut Pool) {
        if !self.is_active() {
            return;
        }
        let now = now_ns();
        for packet in burst.iter() {
            self.offer(packet.rx_port, Direction::Rx, packet, now, pool);
        }
    }

    /// Worker side: copies the packets about to be sent on `port`.
    pub fn sending(&self, port: u16, burst: &Burst, pool: &mut Pool) {
        if !self.is_active() {
            return;
        }
        let now = now_ns();
        for packet in burst.iter() {
            self.offer(port, Direction::Tx, packet, now, pool);
        }
    }

    fn offer(&self, port: u16, direction: Direction, packet: &Packet, now: u64, pool: &mut Pool) {
        let bit = match direction {
            Direction::Rx => RX,
            Direction::Tx => TX,
        };
        let wanted = self
            .ports
            .get(usize::from(port))
            .is_some_and(|slot| slot.load(Ordering::Relaxed) & bit != 0);
        if !wanted {
            return;
        }
        let Ok(copy) = pool.clone_packet(packet) else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let captured = Captured {
            port,
            direction,
            timestamp_ns: now,
            packet: copy,
        };
        if let Err(captured) = self.ring.push(captured) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            pool.free(captured.packet);
        }
    }
}

/// Wall-clock time for capture stamps (one vDSO read per burst, only while capturing).
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::PoolConfig;

    #[test]
    fn only_the_captured_port_and_direction_are_copied_and_overflow_is_counted() {
        let mut pool = Pool::new(PoolConfig::default());
        let taps = CaptureTaps::new(2);
        let mut burst = Burst::with_capacity(8);
        let mut packet = pool.alloc_copy(&[1, 2, 3]).unwrap();
        packet.rx_port = 1;
        burst.push(packet).unwrap();
        taps.received(&burst, &mut pool);
        assert!(taps.pop().is_none(), "nothing is captured before start");
        assert!(taps.start(1, true, false));
        assert!(!taps.start(0, true, true), "one capture at a time");
        taps.sending(1, &burst, &mut pool);
        assert!(taps.pop().is_none(), "tx not asked for");
        for _ in 0..CAPTURE_RING + 3 {
            taps.received(&burst, &mut pool);
        }
        assert_eq!(taps.dropped(), 3);
        let first = taps.pop().unwrap();
        assert_eq!(
            (first.port, first.direction, first.packet.data()),
            (1, Direction::Rx, &[1u8, 2, 3][..])
        );
        taps.stop();
        assert!(taps.start(0, true, true), "free again after stop");
    }
}
