//! Driver statistics: one cell per queue, written by the queue's owner alone (plain
//! relaxed stores, no read-modify-write) and summed by readers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam::utils::CachePadded;

/// What a queue counted, as read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub packets: u64,
    pub bytes: u64,
    /// Frames the driver could not take or give: too large, unreadable, refused.
    pub errors: u64,
    /// Frames lost because the queue overflowed or no buffer was free.
    pub missed: u64,
}

impl QueueStats {
    pub fn add(&mut self, other: &QueueStats) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.missed += other.missed;
    }
}

/// One queue's live counters. Only the queue's owner writes.
#[derive(Default)]
pub struct QueueStatsCell {
    packets: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    missed: AtomicU64,
}

/// Adds to a counter that only the calling thread writes.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

impl QueueStatsCell {
    /// `packets` frames of `bytes` bytes in all went through.
    #[inline]
    pub fn passed(&self, packets: u64, bytes: u64) {
        if packets > 0 {
            bump(&self.packets, packets);
            bump(&self.bytes, bytes);
        }
    }

    #[inline]
    pub fn error(&self, n: u64) {
        bump(&self.errors, n);
    }

    #[inline]
    pub fn missed(&self, n: u64) {
        bump(&self.missed, n);
    }

    pub fn read(&self) -> QueueStats {
        QueueStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            missed: self.missed.load(Ordering::Relaxed),
        }
    }
}

/// A port's statistics: a cell per receive and per transmit queue.
pub struct PortStats {
    rx: Vec<Arc<CachePadded<QueueStatsCell>>>,
    tx: Vec<Arc<CachePadded<QueueStatsCell>>>,
}

impl PortStats {
    pub fn new(rx_queues: usize, tx_queues: usize) -> Self {
        let cells = |n: usize| (0..n).map(|_| Arc::default()).collect();
        PortStats {
            rx: cells(rx_queues),
            tx: cells(tx_queues),
        }
    }

    /// The cell a receive queue writes.
    pub fn rx_cell(&self, queue: usize) -> Arc<CachePadded<QueueStatsCell>> {
        Arc::clone(&self.rx[queue])
    }

    /// The cell a transmit queue writes.
    pub fn tx_cell(&self, queue: usize) -> Arc<CachePadded<QueueStatsCell>> {
        Arc::clone(&self.tx[queue])
    }

    pub fn rx_queues(&self) -> Vec<QueueStats> {
        self.rx.iter().map(|cell| cell.read()).collect()
    }

    pub fn tx_queues(&self) -> Vec<QueueStats> {
        self.tx.iter().map(|cell| cell.read()).collect()
    }

    /// Receive totals over every queue.
    pub fn rx(&self) -> QueueStats {
        total(&self.rx)
    }

    /// Transmit totals over every queue.
    pub fn tx(&self) -> QueueStats {
        total(&self.tx)
    }
}

fn total(cells: &[Arc<CachePadded<QueueStatsCell>>]) -> QueueStats {
    let mut sum = QueueStats::default();
    for cell in cells {
        sum.add(&cell.read());
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_sum_into_the_port() {
        let stats = PortStats::new(2, 1);
        stats.rx_cell(0).passed(3, 180);
        stats.rx_cell(1).passed(1, 60);
        stats.rx_cell(1).missed(2);
        stats.tx_cell(0).error(1);
        assert_eq!(
            stats.rx(),
            QueueStats {
                packets: 4,
                bytes: 240,
                errors: 0,
                missed: 2
            }
        );
        assert_eq!(stats.rx_queues()[1].missed, 2);
        assert_eq!(stats.tx().errors, 1);
    }
}
