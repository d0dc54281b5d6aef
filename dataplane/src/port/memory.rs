//! An in-memory port: two bounded lock-free rings. Tests and the benchmark harness
//! hold the other end ([`MemoryPortPeer`]) to inject frames and collect what the
//! dataplane sent.

use std::io;
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;
use packet::{Burst, Packet, Pool};

use super::Port;
use crate::counters::{Counters, DropReason};

pub struct MemoryPort {
    id: u16,
    name: String,
    rx: Arc<ArrayQueue<Packet>>,
    tx: Arc<ArrayQueue<Packet>>,
}

/// The outside end of a [`MemoryPort`].
#[derive(Clone)]
pub struct MemoryPortPeer {
    rx: Arc<ArrayQueue<Packet>>,
    tx: Arc<ArrayQueue<Packet>>,
}

impl MemoryPort {
    /// A port with rings of `capacity` packets each way, and its peer.
    pub fn new(id: u16, name: &str, capacity: usize) -> (MemoryPort, MemoryPortPeer) {
        let rx = Arc::new(ArrayQueue::new(capacity.max(1)));
        let tx = Arc::new(ArrayQueue::new(capacity.max(1)));
        let port = MemoryPort {
            id,
            name: name.to_owned(),
            rx: Arc::clone(&rx),
            tx: Arc::clone(&tx),
        };
        (port, MemoryPortPeer { rx, tx })
    }
}

impl MemoryPortPeer {
    /// Offers a packet to the dataplane; gives it back when the ring is full.
    pub fn inject(&self, packet: Packet) -> Result<(), Packet> {
        self.rx.push(packet)
    }

    /// A packet the dataplane transmitted, if any.
    pub fn take(&self) -> Option<Packet> {
        self.tx.pop()
    }

    /// Packets injected and not yet received by the dataplane.
    pub fn pending(&self) -> usize {
        self.rx.len()
    }
}

impl Port for MemoryPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn rx_burst(
        &mut self,
        pool: &mut Pool,
        burst: &mut Burst,
        max: usize,
        counters: &mut Counters,
    ) -> io::Result<usize> {
        let mut received = 0;
        while received < max && !burst.is_full() {
            let Some(mut packet) = self.rx.pop() else {
                break;
            };
            counters.rx(usize::from(self.id));
            packet.rx_port = self.id;
            // Cannot be refused: the burst was not full.
            if let Err(packet) = burst.push(packet) {
                pool.free(packet);
            }
            received += 1;
        }
        Ok(received)
    }

    fn tx_burst(
        &mut self,
        burst: &mut Burst,
        pool: &mut Pool,
        counters: &mut Counters,
    ) -> io::Result<usize> {
        let mut sent = 0;
        for packet in burst.drain() {
            match self.tx.push(packet) {
                Ok(()) => sent += 1,
                Err(packet) => {
                    counters.drop(DropReason::TxQueueFull);
                    pool.free(packet);
                }
            }
        }
        counters.tx(usize::from(self.id), sent);
        Ok(sent as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::PoolConfig;

    #[test]
    fn frames_go_round_and_overflow_is_counted() {
        let mut pool = Pool::new(PoolConfig::default());
        let (mut port, peer) = MemoryPort::new(1, "mem", 2);
        let mut counters = Counters::new(2);
        for byte in 0..3u8 {
            let packet = pool.alloc_copy(&[byte]).unwrap();
            let accepted = peer.inject(packet);
            assert_eq!(accepted.is_ok(), byte < 2);
            if let Err(packet) = accepted {
                pool.free(packet);
            }
        }
        let mut burst = Burst::with_capacity(8);
        assert_eq!(
            port.rx_burst(&mut pool, &mut burst, 8, &mut counters)
                .unwrap(),
            2
        );
        assert_eq!(counters.ports[1].rx, 2);
        assert!(burst.iter().all(|p| p.rx_port == 1));
        burst.push(pool.alloc_copy(&[9]).unwrap()).unwrap();
        assert_eq!(
            port.tx_burst(&mut burst, &mut pool, &mut counters).unwrap(),
            2
        );
        assert_eq!(counters.drops(DropReason::TxQueueFull), 1);
        assert_eq!(peer.take().unwrap().data(), &[0]);
    }
}
