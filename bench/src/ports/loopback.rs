//! A port whose transmit queue feeds its own receive queue: a service function that
//! returns every frame unchanged (MPLS label and all). A frame comes back as a
//! driver delivers any frame: fresh metadata, no timestamp. Queue i sends into the
//! ring that receive queue i reads, so a worker owning both keeps the frames to itself.

use std::io;
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
use dataplane::port::{PortQueues, QueueStatsCell, RxQueue, TxQueue};
use packet::{Burst, Meta, Packet, Pool};

use super::port_info;

type Ring = Arc<ArrayQueue<Packet>>;

/// A loopback port with `queues` receive and transmit queues, each pair joined by a
/// ring of `capacity` frames.
pub fn loopback(port: u16, name: &str, queues: usize, capacity: usize) -> PortQueues {
    let queues = queues.max(1);
    let info = port_info(name, queues, queues);
    let rings: Vec<Ring> = (0..queues)
        .map(|_| Arc::new(ArrayQueue::new(capacity.max(1))))
        .collect();
    PortQueues {
        rx: rings
            .iter()
            .enumerate()
            .map(|(queue, ring)| {
                Box::new(LoopbackRx {
                    port,
                    ring: Arc::clone(ring),
                    stats: info.stats.rx_cell(queue),
                }) as Box<dyn RxQueue>
            })
            .collect(),
        tx: rings
            .into_iter()
            .enumerate()
            .map(|(queue, ring)| {
                Box::new(LoopbackTx {
                    ring,
                    stats: info.stats.tx_cell(queue),
                }) as Box<dyn TxQueue>
            })
            .collect(),
        info,
    }
}

struct LoopbackRx {
    port: u16,
    ring: Ring,
    stats: Arc<CachePadded<QueueStatsCell>>,
}

impl RxQueue for LoopbackRx {
    fn rx_burst(&mut self, _pool: &mut Pool, burst: &mut Burst, max: usize) -> io::Result<usize> {
        let (mut received, mut bytes) = (0, 0);
        while received < max && !burst.is_full() {
            let Some(mut packet) = self.ring.pop() else {
                break;
            };
            packet.meta = Meta::default();
            packet.rx_port = self.port;
            packet.timestamp_ns = 0;
            bytes += packet.len() as u64;
            // Cannot be refused: the burst was not full.
            let _ = burst.push(packet);
            received += 1;
        }
        self.stats.passed(received as u64, bytes);
        Ok(received)
    }
}

struct LoopbackTx {
    ring: Ring,
    stats: Arc<CachePadded<QueueStatsCell>>,
}

impl TxQueue for LoopbackTx {
    fn tx_burst(&mut self, burst: &mut Burst, _pool: &mut Pool) -> io::Result<usize> {
        let mut bytes = 0;
        // A frame the ring refuses comes back by value, as `send_while` asks.
        #[allow(clippy::result_large_err)]
        let sent = burst.send_while(|packet| {
            let len = packet.len() as u64;
            let pushed = self.ring.push(packet);
            if pushed.is_ok() {
                bytes += len;
            }
            pushed
        });
        self.stats.passed(sent as u64, bytes);
        Ok(sent)
    }
}
