//! An in-memory port: bounded lock-free rings each way, one per queue. Tests and the
//! benchmark harness hold the other end ([`MemoryPortPeer`]) to inject frames and
//! collect what the dataplane sent. With several receive queues the peer spreads
//! frames by symmetric flow hash, as a NIC's RSS with a symmetric key does.

use std::io;
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
use packet::{parse, Burst, Packet, Pool};

use super::{BasicPortInfo, Capabilities, PortQueues, PortStats, QueueStatsCell, RxQueue, TxQueue};

type Ring = Arc<ArrayQueue<Packet>>;

/// The shape of a memory port.
#[derive(Clone, Copy, Debug)]
pub struct MemoryPortConfig {
    /// Packets each ring holds.
    pub capacity: usize,
    pub rx_queues: u16,
    pub tx_queues: u16,
}

impl MemoryPortConfig {
    /// One queue each way.
    pub fn single(capacity: usize) -> Self {
        MemoryPortConfig {
            capacity,
            rx_queues: 1,
            tx_queues: 1,
        }
    }
}

/// The outside end of a memory port.
#[derive(Clone)]
pub struct MemoryPortPeer {
    rx: Vec<Ring>,
    tx: Vec<Ring>,
}

pub struct MemoryPort;

impl MemoryPort {
    /// A port with one queue each way, rings of `capacity` packets, and its peer.
    pub fn open(id: u16, name: &str, capacity: usize) -> (PortQueues, MemoryPortPeer) {
        MemoryPort::open_with(id, name, MemoryPortConfig::single(capacity))
    }

    pub fn open_with(
        id: u16,
        name: &str,
        config: MemoryPortConfig,
    ) -> (PortQueues, MemoryPortPeer) {
        let (rx_queues, tx_queues) = (config.rx_queues.max(1), config.tx_queues.max(1));
        let rings = |n: u16| -> Vec<Ring> {
            (0..n)
                .map(|_| Arc::new(ArrayQueue::new(config.capacity.max(1))))
                .collect()
        };
        let (rx, tx) = (rings(rx_queues), rings(tx_queues));
        let info = Arc::new(BasicPortInfo {
            name: name.to_owned(),
            capabilities: Capabilities {
                rx_queues,
                tx_queues,
                max_frame: u32::MAX,
                hashes_flows: rx_queues > 1,
                rx_checksum: false,
            },
            stats: PortStats::new(rx.len(), tx.len()),
        });
        let queues = PortQueues {
            rx: rx
                .iter()
                .enumerate()
                .map(|(queue, ring)| {
                    Box::new(MemoryRxQueue {
                        port: id,
                        ring: Arc::clone(ring),
                        stats: info.stats.rx_cell(queue),
                    }) as Box<dyn RxQueue>
                })
                .collect(),
            tx: tx
                .iter()
                .enumerate()
                .map(|(queue, ring)| {
                    Box::new(MemoryTxQueue {
                        ring: Arc::clone(ring),
                        stats: info.stats.tx_cell(queue),
                    }) as Box<dyn TxQueue>
                })
                .collect(),
            info,
        };
        (queues, MemoryPortPeer { rx, tx })
    }
}

impl MemoryPortPeer {
    /// Offers a packet to the dataplane, on the queue its flow hashes to; gives it
    /// back when that ring is full.
    pub fn inject(&self, packet: Packet) -> Result<(), Packet> {
        let queue = if self.rx.len() == 1 {
            0
        } else {
            parse(packet.data()).map_or(0, |meta| {
                (meta.flow.symmetric_hash() % self.rx.len() as u64) as usize
            })
        };
        self.inject_to(queue, packet)
    }

    /// Offers a packet on receive queue `queue`.
    pub fn inject_to(&self, queue: usize, packet: Packet) -> Result<(), Packet> {
        match self.rx.get(queue) {
            Some(ring) => ring.push(packet),
            None => Err(packet),
        }
    }

    /// A packet the dataplane transmitted, if any (queues taken in turn).
    pub fn take(&self) -> Option<Packet> {
        self.tx.iter().find_map(|ring| ring.pop())
    }

    /// Packets injected and not yet received by the dataplane.
    pub fn pending(&self) -> usize {
        self.rx.iter().map(|ring| ring.len()).sum()
    }
}

struct MemoryRxQueue {
    port: u16,
    ring: Ring,
    stats: Arc<CachePadded<QueueStatsCell>>,
}

impl RxQueue for MemoryRxQueue {
    fn rx_burst(&mut self, _pool: &mut Pool, burst: &mut Burst, max: usize) -> io::Result<usize> {
        let (mut received, mut bytes) = (0, 0);
        while received < max && !burst.is_full() {
            let Some(mut packet) = self.ring.pop() else {
                break;
            };
            packet.rx_port = self.port;
            bytes += packet.len() as u64;
            // Cannot be refused: the burst was not full.
            let _ = burst.push(packet);
            received += 1;
        }
        self.stats.passed(received as u64, bytes);
        Ok(received)
    }
}

struct MemoryTxQueue {
    ring: Ring,
    stats: Arc<CachePadded<QueueStatsCell>>,
}

impl TxQueue for MemoryTxQueue {
    fn tx_burst(&mut self, burst: &mut Burst, _pool: &mut Pool) -> io::Result<usize> {
        let mut bytes = 0;
        let sent = burst.send_while(|packet| {
            let len = packet.len() as u64;
            self.ring.push(packet)?;
            bytes += len;
            Ok(())
        });
        self.stats.passed(sent as u64, bytes);
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::PoolConfig;

    #[test]
    fn frames_go_round_and_a_full_ring_keeps_the_rest() {
        let mut pool = Pool::new(PoolConfig::default());
        let (mut port, peer) = MemoryPort::open(1, "mem", 2);
        for byte in 0..3u8 {
            let packet = pool.alloc_copy(&[byte]).unwrap();
            let accepted = peer.inject(packet);
            assert_eq!(accepted.is_ok(), byte < 2);
            if let Err(packet) = accepted {
                pool.free(packet);
            }
        }
        let mut burst = Burst::with_capacity(8);
        assert_eq!(port.rx[0].rx_burst(&mut pool, &mut burst, 8).unwrap(), 2);
        assert_eq!(port.info.stats().rx().packets, 2);
        assert!(burst.iter().all(|p| p.rx_port == 1));
        burst.push(pool.alloc_copy(&[9]).unwrap()).unwrap();
        assert_eq!(port.tx[0].tx_burst(&mut burst, &mut pool).unwrap(), 2);
        assert_eq!(burst.len(), 1, "the frame the ring had no room for stays");
        assert_eq!(peer.take().unwrap().data(), &[0]);
        assert_eq!(port.info.stats().tx().packets, 2);
    }

    #[test]
    fn several_queues_keep_both_directions_of_a_flow_together() {
        let mut pool = Pool::new(PoolConfig::default());
        let config = MemoryPortConfig {
            capacity: 64,
            rx_queues: 4,
            tx_queues: 1,
        };
        let (mut port, peer) = MemoryPort::open_with(0, "mem", config);
        let forward = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1000, 80);
        let reverse = udp_frame([10, 0, 0, 2], [10, 0, 0, 1], 80, 1000);
        for frame in [&forward, &reverse] {
            peer.inject(pool.alloc_copy(frame).unwrap()).unwrap();
        }
        let mut per_queue = Vec::new();
        for queue in &mut port.rx {
            let mut burst = Burst::with_capacity(8);
            per_queue.push(queue.rx_burst(&mut pool, &mut burst, 8).unwrap());
        }
        assert_eq!(per_queue.iter().sum::<usize>(), 2);
        assert!(per_queue.contains(&2), "{per_queue:?}");
    }

    fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let builder = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, dst, 64)
            .udp(sport, dport);
        let mut frame = Vec::with_capacity(builder.size(0));
        builder.write(&mut frame, &[]).unwrap();
        frame
    }
}
