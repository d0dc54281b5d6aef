//! Receive and transmit queues: a burst of mbufs each way, per call.

use std::io;
use std::sync::Arc;

use crossbeam::utils::CachePadded;
use dpdk_sys as sys;
use packet::{Burst, Pool, MAX_BURST};
use port::{QueueStatsCell, RxQueue, TxQueue};

use crate::device::Device;
use crate::eal::register_thread;
use crate::mbuf::{self, RxFlags};

type Mbufs = Box<[*mut sys::rte_mbuf; MAX_BURST]>;

fn mbufs() -> Mbufs {
    Box::new([std::ptr::null_mut(); MAX_BURST])
}

pub(crate) struct DpdkRxQueue {
    device: Arc<Device>,
    port: u16,
    queue: u16,
    flags: RxFlags,
    mbufs: Mbufs,
    stats: Arc<CachePadded<QueueStatsCell>>,
}

// SAFETY: the queue's mbuf array is scratch space of whichever thread owns the queue;
// DPDK's receive queue is used by one thread at a time (the runtime gives each queue
// to one worker).
unsafe impl Send for DpdkRxQueue {}

impl DpdkRxQueue {
    pub(crate) fn new(
        device: Arc<Device>,
        port: u16,
        queue: u16,
        stats: Arc<CachePadded<QueueStatsCell>>,
    ) -> Self {
        DpdkRxQueue {
            device,
            port,
            queue,
            flags: RxFlags::read(),
            mbufs: mbufs(),
            stats,
        }
    }
}

impl RxQueue for DpdkRxQueue {
    fn rx_burst(&mut self, _pool: &mut Pool, burst: &mut Burst, max: usize) -> io::Result<usize> {
        register_thread();
        let room = max.min(burst.capacity() - burst.len()).min(MAX_BURST) as u16;
        if room == 0 {
            return Ok(0);
        }
        let device = self.device.port_id;
        // SAFETY: the queue was set up on a started device, `mbufs` holds `room`
        // pointers, and this thread alone uses the queue.
        let received =
            unsafe { sys::dp_rx_burst(device, self.queue, self.mbufs.as_mut_ptr(), room) };
        let (mut delivered, mut bytes, mut errors) = (0, 0, 0);
        for &m in &self.mbufs[..usize::from(received)] {
            // SAFETY: the device handed us `m`; our pool's mbufs have the private area.
            unsafe {
                if (*m).nb_segs != 1
                    || ((*m).pool != self.device.pool && !mbuf::pool_fits((*m).pool))
                {
                    // A chained frame (larger than the data room) or a foreign mbuf.
                    sys::dp_pktmbuf_free(m);
                    errors += 1;
                    continue;
                }
                let packet = mbuf::receive(m, self.port, self.flags);
                bytes += packet.len() as u64;
                delivered += 1;
                // Cannot fail: `room` is at most the burst's free space.
                let _ = burst.push(packet);
            }
        }
        self.stats.passed(delivered, bytes);
        if errors > 0 {
            self.stats.error(errors);
        }
        Ok(delivered as usize)
    }
}

/// How a packet of the burst is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    /// From its own mbuf.
    ZeroCopy,
    /// Copied into a fresh mbuf (a packet of another backing).
    Copy,
    /// Too large for an mbuf: dropped and counted.
    Drop,
}

pub(crate) struct DpdkTxQueue {
    device: Arc<Device>,
    queue: u16,
    ways: Box<[Way; MAX_BURST]>,
    /// The mbuf of each packet of the burst, by position.
    by_packet: Mbufs,
    /// The mbufs handed to the device, and each one's position in the burst.
    outgoing: Mbufs,
    positions: Box<[u16; MAX_BURST]>,
    fresh: Mbufs,
    stats: Arc<CachePadded<QueueStatsCell>>,
}

// SAFETY: as for the receive queue: scratch arrays of the owning thread, and a DPDK
// transmit queue used by one thread at a time.
unsafe impl Send for DpdkTxQueue {}

impl DpdkTxQueue {
    pub(crate) fn new(
        device: Arc<Device>,
        queue: u16,
        stats: Arc<CachePadded<QueueStatsCell>>,
    ) -> Self {
        DpdkTxQueue {
            device,
            queue,
            ways: Box::new([Way::Drop; MAX_BURST]),
            by_packet: mbufs(),
            outgoing: mbufs(),
            positions: Box::new([0; MAX_BURST]),
            fresh: mbufs(),
            stats,
        }
    }

    /// Gives every packet of the first `n` its mbuf; returns how many of them can be
    /// sent (fewer when the pool had no mbufs for the copies).
    fn prepare(&mut self, burst: &Burst, n: usize) -> usize {
        let mut copies = 0;
        for (i, packet) in burst.iter().take(n).enumerate() {
            match mbuf::for_transmit(packet) {
                Some(m) => {
                    self.ways[i] = Way::ZeroCopy;
                    self.by_packet[i] = m;
                }
                None => {
                    self.ways[i] = Way::Copy;
                    copies += 1;
                }
            }
        }
        if copies == 0 {
            return n;
        }
        // SAFETY: the pool is the device's, `fresh` has room for `copies` pointers.
        let allocated = unsafe {
            sys::dp_pktmbuf_alloc_bulk(self.device.pool, self.fresh.as_mut_ptr(), copies)
        } == 0;
        if !allocated {
            // No mbufs now: send what leads up to the first copy, the rest waits.
            return self.ways[..n]
                .iter()
                .position(|way| *way == Way::Copy)
                .unwrap_or(n);
        }
        let mut fresh = self.fresh.iter();
        for (i, packet) in burst.iter().take(n).enumerate() {
            if self.ways[i] != Way::Copy {
                continue;
            }
            let m = *fresh.next().expect("one fresh mbuf per copy");
            // SAFETY: `m` was just allocated from a packet pool and is ours.
            if unsafe { mbuf::copy_into(m, packet.data()) } {
                self.by_packet[i] = m;
            } else {
                // SAFETY: ours, never handed out.
                unsafe { sys::dp_pktmbuf_free(m) };
                self.ways[i] = Way::Drop;
            }
        }
        n
    }
}

impl TxQueue for DpdkTxQueue {
    fn tx_burst(&mut self, burst: &mut Burst, pool: &mut Pool) -> io::Result<usize> {
        register_thread();
        let n = burst.len().min(MAX_BURST);
        let ready = self.prepare(burst, n);
        let mut count = 0;
        for i in 0..ready {
            if self.ways[i] != Way::Drop {
                self.outgoing[count] = self.by_packet[i];
                self.positions[count] = i as u16;
                count += 1;
            }
        }
        // SAFETY: `outgoing` holds `count` mbufs we own; this thread alone uses the
        // queue of a started device.
        let sent = usize::from(unsafe {
            sys::dp_tx_burst(
                self.device.port_id,
                self.queue,
                self.outgoing.as_mut_ptr(),
                count as u16,
            )
        });
        // Copies the device did not take go back; their packets stay in the burst.
        for j in sent..count {
            if self.ways[usize::from(self.positions[j])] == Way::Copy {
                // SAFETY: a fresh mbuf of ours the device refused.
                unsafe { sys::dp_pktmbuf_free(self.outgoing[j]) };
            }
        }
        let cut = if sent < count {
            usize::from(self.positions[sent])
        } else {
            ready
        };
        let (mut index, mut bytes, mut errors) = (0, 0, 0);
        let ways = &self.ways;
        burst.send_while(|packet| {
            if index >= cut {
                return Err(packet);
            }
            let way = ways[index];
            index += 1;
            match way {
                Way::ZeroCopy => {
                    bytes += packet.len() as u64;
                    mbuf::hand_over(packet);
                }
                Way::Copy => {
                    bytes += packet.len() as u64;
                    pool.free(packet);
                }
                Way::Drop => {
                    errors += 1;
                    pool.free(packet);
                }
            }
            Ok(())
        });
        self.stats.passed(sent as u64, bytes);
        if errors > 0 {
            self.stats.error(errors);
        }
        Ok(sent)
    }
}
