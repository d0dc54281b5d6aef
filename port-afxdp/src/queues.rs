//! The receive and transmit halves of one AF_XDP socket. Each half owns its rings and
//! its frames of the shared UMEM, so the two can be polled by different workers.

use std::io::{self, Write};
use std::sync::Arc;

use crossbeam::utils::CachePadded;
use packet::{Burst, Pool, MAX_BURST};
use port::{QueueStatsCell, RxQueue, TxQueue};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue as XskRx, TxQueue as XskTx, Umem};

/// Frames the kernel sends per `sendto` in copy mode.
const KERNEL_TX_BATCH: usize = 32;

pub(crate) struct AfXdpRxQueue {
    port: u16,
    umem: Umem,
    ring: XskRx,
    fill: FillQueue,
    /// Descriptors of the frames just received, reused every burst.
    received: Vec<FrameDesc>,
    max_frame: usize,
    stats: Arc<CachePadded<QueueStatsCell>>,
}

impl AfXdpRxQueue {
    /// Lends every one of `frames` to the kernel to receive into.
    pub(crate) fn new(
        port: u16,
        umem: Umem,
        ring: XskRx,
        mut fill: FillQueue,
        frames: Vec<FrameDesc>,
        max_frame: usize,
        stats: Arc<CachePadded<QueueStatsCell>>,
    ) -> io::Result<Self> {
        // SAFETY: the frames are this UMEM's and nothing else holds them.
        let lent = unsafe { fill.produce(&frames) };
        if lent != frames.len() {
            return Err(io::Error::other(
                "the fill ring took fewer frames than it holds",
            ));
        }
        Ok(AfXdpRxQueue {
            port,
            umem,
            ring,
            fill,
            received: vec![FrameDesc::default(); MAX_BURST],
            max_frame,
            stats,
        })
    }
}

impl RxQueue for AfXdpRxQueue {
    fn rx_burst(&mut self, pool: &mut Pool, burst: &mut Burst, max: usize) -> io::Result<usize> {
        let room = max
            .min(burst.capacity() - burst.len())
            .min(self.received.len());
        // SAFETY: the descriptors come back from this socket's ring, so they name
        // frames of this UMEM.
        let got = unsafe { self.ring.consume(&mut self.received[..room]) };
        let (mut bytes, mut errors, mut missed, mut delivered) = (0u64, 0u64, 0u64, 0usize);
        for desc in &self.received[..got] {
            // SAFETY: the frame was handed to us by the rx ring and goes back to the
            // fill ring only below: the kernel does not write it meanwhile.
            let data = unsafe { self.umem.data(desc) };
            let frame = data.contents();
            if frame.len() > self.max_frame || desc.has_more_frames() {
                errors += 1;
                continue;
            }
            let Ok(mut packet) = pool.alloc() else {
                missed += 1;
                continue;
            };
            match packet.push_back(frame.len()) {
                Some(room) => room.copy_from_slice(frame),
                None => {
                    errors += 1;
                    pool.free(packet);
                    continue;
                }
            }
            packet.rx_port = self.port;
            bytes += frame.len() as u64;
            delivered += 1;
            // Cannot be refused: `room` left space for every frame taken.
            let _ = burst.push(packet);
        }
        if got > 0 {
            // SAFETY: the frames just received, their bytes copied out: lent again.
            unsafe { self.fill.produce(&self.received[..got]) };
        }
        if self.fill.needs_wakeup() {
            // The kernel asks for a poll to take up the fill ring again.
            let _ = self.fill.wakeup(self.ring.fd_mut(), 0);
        }
        self.stats.passed(delivered as u64, bytes);
        if errors > 0 {
            self.stats.error(errors);
        }
        if missed > 0 {
            self.stats.missed(missed);
        }
        Ok(delivered)
    }
}

pub(crate) struct AfXdpTxQueue {
    umem: Umem,
    ring: XskTx,
    completion: CompQueue,
    /// Frames of ours not in the kernel's hands.
    free: Vec<FrameDesc>,
    /// Descriptors of the frames of one burst, and of completions; reused.
    batch: Vec<FrameDesc>,
    max_frame: usize,
    /// Frames handed to the ring that the kernel has not been asked to send.
    unsent: bool,
    stats: Arc<CachePadded<QueueStatsCell>>,
}

impl AfXdpTxQueue {
    pub(crate) fn new(
        umem: Umem,
        ring: XskTx,
        completion: CompQueue,
        frames: Vec<FrameDesc>,
        max_frame: usize,
        stats: Arc<CachePadded<QueueStatsCell>>,
    ) -> Self {
        AfXdpTxQueue {
            umem,
            ring,
            completion,
            batch: vec![FrameDesc::default(); frames.len().max(MAX_BURST)],
            free: frames,
            max_frame,
            unsent: false,
            stats,
        }
    }

    /// Takes back the frames the kernel has sent.
    fn reclaim(&mut self) {
        let room = (self.free.capacity() - self.free.len()).min(self.batch.len());
        // SAFETY: completions name frames of this UMEM that this queue sent.
        let done = unsafe { self.completion.consume(&mut self.batch[..room]) };
        self.free.extend_from_slice(&self.batch[..done]);
    }

    /// Asks the kernel to send what the ring holds: in copy mode it sends at most a
    /// batch per call, so one call per batch.
    fn kick(&mut self, frames: usize) {
        if !self.unsent {
            return;
        }
        for _ in 0..frames.div_ceil(KERNEL_TX_BATCH).max(1) {
            if !self.ring.needs_wakeup() {
                break;
            }
            if self.ring.wakeup().is_err() {
                break;
            }
        }
        self.unsent = false;
    }
}

impl TxQueue for AfXdpTxQueue {
    fn tx_burst(&mut self, burst: &mut Burst, pool: &mut Pool) -> io::Result<usize> {
        self.reclaim();
        let (mut sent, mut bytes, mut errors) = (0usize, 0u64, 0u64);
        let max_frame = self.max_frame;
        let AfXdpTxQueue {
            umem, free, batch, ..
        } = self;
        burst.send_while(|packet| {
            if packet.len() > max_frame {
                errors += 1;
                pool.free(packet);
                return Ok(());
            }
            let Some(mut desc) = free.pop() else {
                return Err(packet);
            };
            // SAFETY: a free frame of this UMEM: the kernel is done with it.
            let mut data = unsafe { umem.data_mut(&mut desc) };
            if data.cursor().write_all(packet.data()).is_err() {
                errors += 1;
                free.push(desc);
                pool.free(packet);
                return Ok(());
            }
            bytes += packet.len() as u64;
            batch[sent] = desc;
            sent += 1;
            pool.free(packet);
            Ok(())
        });
        if sent > 0 {
            // SAFETY: frames of this UMEM, filled above, out of the free list. The
            // ring holds as many entries as there are transmit frames, so it takes
            // them all.
            let queued = unsafe { self.ring.produce(&self.batch[..sent]) };
            debug_assert_eq!(queued, sent);
            self.unsent = true;
        }
        self.kick(sent);
        self.stats.passed(sent as u64, bytes);
        if errors > 0 {
            self.stats.error(errors);
        }
        Ok(sent)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.reclaim();
        self.unsent = true;
        self.kick(KERNEL_TX_BATCH);
        Ok(())
    }
}
