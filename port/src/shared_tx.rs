//! A transmit queue several workers send on, when a port has fewer transmit queues
//! than workers. Senders never wait: each pushes its packets onto a bounded lock-free
//! ring, then tries to become the one that drains the ring into the driver's queue;
//! whoever fails knows the current drainer will see its packets (flat combining).

use std::cell::UnsafeCell;
use std::io;
use std::sync::atomic::{fence, AtomicBool, Ordering};

use crossbeam::queue::ArrayQueue;
use packet::{Burst, Packet, Pool, MAX_BURST};

use super::TxQueue;

pub struct SharedTxQueue {
    ring: ArrayQueue<Packet>,
    /// Held by the worker draining `ring` into `inner`.
    draining: AtomicBool,
    /// Touched only by the holder of `draining`.
    inner: UnsafeCell<Drainer>,
}

struct Drainer {
    queue: Box<dyn TxQueue>,
    /// Packets taken off the ring that the driver had no room for yet.
    staged: Burst,
}

// SAFETY: `inner` is reached only by the thread that set `draining` (acquire) until it
// clears it (release), so it is never shared; the ring is a lock-free MPMC queue.
unsafe impl Sync for SharedTxQueue {}

impl SharedTxQueue {
    /// Shares `queue` through a ring of `capacity` packets.
    pub fn new(queue: Box<dyn TxQueue>, capacity: usize) -> Self {
        SharedTxQueue {
            ring: ArrayQueue::new(capacity.max(1)),
            draining: AtomicBool::new(false),
            inner: UnsafeCell::new(Drainer {
                queue,
                staged: Burst::with_capacity(capacity.min(MAX_BURST)),
            }),
        }
    }

    /// Queues packets from the front of `burst` (those the ring has no room for stay
    /// in it), then drains the ring unless another worker is already doing so.
    /// Returns how many were queued.
    pub fn send(&self, burst: &mut Burst, pool: &mut Pool) -> io::Result<usize> {
        let queued = burst.send_while(|packet| self.ring.push(packet));
        self.drain(pool)?;
        Ok(queued)
    }

    /// Drains the ring into the driver if no other worker does; a drainer that finds
    /// new packets after letting go takes the ring again, so none is left behind.
    pub fn drain(&self, pool: &mut Pool) -> io::Result<()> {
        loop {
            // Pairs with the fence after letting go below: either this thread sees
            // `draining` clear, or the drainer sees what this thread pushed.
            fence(Ordering::SeqCst);
            if self
                .draining
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                return Ok(());
            }
            // SAFETY: this thread holds `draining`: nobody else touches `inner`.
            let drainer = unsafe { &mut *self.inner.get() };
            let result = drainer.drain(&self.ring, pool);
            let blocked = !drainer.staged.is_empty();
            self.draining.store(false, Ordering::Release);
            fence(Ordering::SeqCst);
            if result.is_err() || blocked || self.ring.is_empty() {
                return result;
            }
        }
    }

    /// Pushes out what the driver buffers (call at shutdown, after the last send).
    pub fn flush(&self, pool: &mut Pool) -> io::Result<()> {
        self.drain(pool)?;
        if self
            .draining
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Ok(());
        }
        // SAFETY: this thread holds `draining`.
        let drainer = unsafe { &mut *self.inner.get() };
        let result = drainer.queue.flush();
        self.draining.store(false, Ordering::Release);
        result
    }

    /// Packets waiting in the ring or staged (0 once drained).
    pub fn pending(&self) -> usize {
        self.ring.len()
    }
}

impl Drainer {
    fn drain(&mut self, ring: &ArrayQueue<Packet>, pool: &mut Pool) -> io::Result<()> {
        loop {
            while !self.staged.is_full() {
                let Some(packet) = ring.pop() else { break };
                // Cannot be refused: the burst was not full.
                if let Err(packet) = self.staged.push(packet) {
                    pool.free(packet);
                }
            }
            if self.staged.is_empty() {
                return Ok(());
            }
            let sent = self.queue.tx_burst(&mut self.staged, pool)?;
            if sent == 0 {
                return Ok(());
            }
        }
    }
}
