//! A transmit queue that takes every frame and frees its buffer at once.

use std::io;
use std::sync::Arc;

use crossbeam::utils::CachePadded;
use dataplane::port::{QueueStatsCell, TxQueue};
use packet::{Burst, Pool};

pub struct Sink {
    stats: Arc<CachePadded<QueueStatsCell>>,
}

impl Sink {
    /// A sink counting into `stats` (its port's transmit queue cell).
    pub fn new(stats: Arc<CachePadded<QueueStatsCell>>) -> Self {
        Sink { stats }
    }
}

impl TxQueue for Sink {
    fn tx_burst(&mut self, burst: &mut Burst, pool: &mut Pool) -> io::Result<usize> {
        let (mut sent, mut bytes) = (0, 0);
        for packet in burst.drain() {
            sent += 1;
            bytes += packet.len() as u64;
            pool.free(packet);
        }
        self.stats.passed(sent, bytes);
        Ok(sent as usize)
    }
}
