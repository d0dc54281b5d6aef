//! A virtqueue shared between the message thread, which sets it up, and the one
//! worker that polls it. The message thread publishes an immutable description of
//! the ring (memory, addresses, features) and bumps a generation; the worker looks at
//! the generation once per burst, switches to what was published and acknowledges it.
//! The message thread waits for that acknowledgement (never the reverse) before it
//! answers the frontend, so memory it replaces or rings it stops are no longer in use
//! by then: the old mapping is unmapped on the message thread when it lets go of it.
//!
//! A worker that is not inside a burst of this queue (an idle transmit queue, or no
//! worker yet) cannot acknowledge; it marks itself busy while in a burst, so the
//! message thread need not wait for one that is outside: that worker reads the new
//! generation before it touches the ring again (a store then a load on each side,
//! both sequentially consistent, so one side always sees the other's store).

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress};

use crate::fault::Fault;
use crate::memory::GuestMemory;
use port::QueueStatsCell;

/// `VRING_AVAIL_F_NO_INTERRUPT`: without EVENT_IDX, the guest's way to ask for no
/// interrupt.
const AVAIL_NO_INTERRUPT: u16 = 1;

/// A started ring as the message thread describes it.
pub struct ActiveVring {
    pub memory: Arc<GuestMemory>,
    pub size: u16,
    pub desc: GuestAddress,
    pub avail: GuestAddress,
    pub used: GuestAddress,
    /// The first available and used index of this ring instance.
    pub base: u16,
    pub event_idx: bool,
    pub mrg_rxbuf: bool,
    pub header_len: usize,
    /// The guest's interrupt: an eventfd.
    pub call: Option<Arc<File>>,
    /// Which set-up of the ring this is: the worker restarts from `base` when it
    /// changes, and keeps its indexes when only the memory or the call fd did.
    pub epoch: u64,
}

/// The shared part of one virtqueue.
#[derive(Default)]
pub struct VringSlot {
    generation: AtomicU64,
    acked: AtomicU64,
    published: ArcSwapOption<ActiveVring>,
    /// The worker's next available index when it let the ring go.
    next_avail: AtomicU32,
    /// The worker is inside a burst of this queue.
    busy: AtomicBool,
    /// The queue is stopped by a fault of the guest.
    broken: AtomicBool,
    /// Faults by reason (`Fault as usize`); written by the polling worker only.
    faults: [AtomicU64; Fault::ALL.len()],
}

impl VringSlot {
    /// Publishes a new description (none: the ring is stopped) and returns its
    /// generation. Called by the message thread only.
    pub fn publish(&self, ring: Option<Arc<ActiveVring>>) -> u64 {
        if let Some(ring) = &ring {
            self.next_avail
                .store(u32::from(ring.base), Ordering::Relaxed);
        }
        self.published.store(ring);
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Waits until the worker switched to `generation`, at most `timeout`; false when
    /// it did not (no worker polls the queue yet, or it is stuck elsewhere).
    pub fn wait_acked(&self, generation: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.acked.load(Ordering::Acquire) >= generation || !self.busy.load(Ordering::SeqCst)
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Where the guest's next available descriptor is, as of the worker's last
    /// burst (GET_VRING_BASE, once the worker let go).
    pub fn next_avail(&self) -> u16 {
        self.next_avail.load(Ordering::Relaxed) as u16
    }

    pub fn is_active(&self) -> bool {
        self.published.load().is_some() && !self.is_broken()
    }

    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// Faults counted so far, by reason.
    pub fn faults(&self) -> impl Iterator<Item = (Fault, u64)> + '_ {
        Fault::ALL
            .into_iter()
            .map(|fault| (fault, self.faults[fault as usize].load(Ordering::Relaxed)))
    }
}

/// The worker's side of a virtqueue: the ring's state (virtio-queue's `Queue`) and
/// the description it follows.
pub struct VringUser {
    slot: Arc<VringSlot>,
    seen: u64,
    ring: Option<Arc<ActiveVring>>,
    queue: Queue,
    epoch: Option<u64>,
    /// The ring instance that faulted: it stays stopped until the next set-up.
    broken_epoch: Option<u64>,
    /// Entries added to the used ring since the last notification check.
    pending_used: bool,
    /// A ring refused when it was published, not yet counted by the queue.
    refused: bool,
}

impl VringUser {
    pub fn new(slot: Arc<VringSlot>) -> Self {
        VringUser {
            slot,
            seen: 0,
            ring: None,
            // 32768 is the largest size a split ring may have.
            queue: Queue::new(32768).expect("32768 is a valid queue size"),
            epoch: None,
            broken_epoch: None,
            pending_used: false,
            refused: false,
        }
    }

    /// Follows what the message thread published (one atomic load when nothing
    /// changed); true when there is a ring to work on this burst.
    /// Every call is followed by [`VringUser::done`] when the burst ends. A ring
    /// refused on arrival (outside guest memory) counts one error in `stats`.
    #[inline]
    pub fn poll(&mut self, stats: &QueueStatsCell) -> bool {
        self.slot.busy.store(true, Ordering::SeqCst);
        let generation = self.slot.generation.load(Ordering::SeqCst);
        if generation != self.seen {
            self.switch(generation);
            if std::mem::take(&mut self.refused) {
                stats.error(1);
            }
        }
        self.ring.is_some()
    }

    /// Ends the burst: leaves the ring's position for the message thread.
    #[inline]
    pub fn done(&mut self) {
        if self.ring.is_some() {
            self.slot
                .next_avail
                .store(u32::from(self.queue.next_avail()), Ordering::Relaxed);
        }
        self.slot.busy.store(false, Ordering::Release);
    }

    /// The ring in use and the queue's state, borrowed apart.
    #[inline]
    pub fn parts(&mut self) -> Option<(&ActiveVring, &mut Queue)> {
        let ring = self.ring.as_deref()?;
        Some((ring, &mut self.queue))
    }

    #[cold]
    fn switch(&mut self, generation: u64) {
        let published = self.slot.published.load_full();
        if self.ring.is_some() {
            self.slot
                .next_avail
                .store(u32::from(self.queue.next_avail()), Ordering::Relaxed);
        }
        self.ring = match published {
            Some(ring) if Some(ring.epoch) == self.broken_epoch => None,
            Some(ring) => self.follow(ring),
            None => None,
        };
        self.seen = generation;
        self.slot.acked.store(generation, Ordering::Release);
    }

    /// Points the queue at a published ring; a new set-up restarts from its base.
    fn follow(&mut self, ring: Arc<ActiveVring>) -> Option<Arc<ActiveVring>> {
        let fresh = self.epoch != Some(ring.epoch);
        let queue = &mut self.queue;
        let (next_avail, next_used) = if fresh {
            (ring.base, ring.base)
        } else {
            (queue.next_avail(), queue.next_used())
        };
        queue.reset();
        queue.set_size(ring.size);
        let placed = queue.try_set_desc_table_address(ring.desc).is_ok()
            && queue.try_set_avail_ring_address(ring.avail).is_ok()
            && queue.try_set_used_ring_address(ring.used).is_ok();
        queue.set_event_idx(ring.event_idx);
        queue.set_ready(true);
        queue.set_next_avail(next_avail);
        queue.set_next_used(next_used);
        self.epoch = Some(ring.epoch);
        self.slot.broken.store(false, Ordering::Relaxed);
        if !placed || queue.size() != ring.size || !queue.is_valid(&ring.memory.mem) {
            self.fault_epoch(ring.epoch, Fault::RingOutsideMemory);
            self.refused = true;
            return None;
        }
        // The worker polls: ask the guest not to kick (without EVENT_IDX; with it, the
        // avail event the guest reads is never moved forward, so it rarely kicks).
        let _ = queue.disable_notification(&ring.memory.mem);
        Some(ring)
    }

    /// Stops the ring for a fault of the guest; the caller counts the error.
    #[cold]
    pub fn fault(&mut self, fault: Fault) {
        if let Some(epoch) = self.epoch {
            self.fault_epoch(epoch, fault);
        }
        self.slot
            .next_avail
            .store(u32::from(self.queue.next_avail()), Ordering::Relaxed);
        self.ring = None;
    }

    fn fault_epoch(&mut self, epoch: u64, fault: Fault) {
        self.broken_epoch = Some(epoch);
        self.slot.broken.store(true, Ordering::Relaxed);
        let counter = &self.slot.faults[fault as usize];
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Notes that the used ring moved: [`VringUser::notify`] then decides whether
    /// the guest wants to hear of it.
    #[inline]
    pub fn used_added(&mut self) {
        self.pending_used = true;
    }

    /// Interrupts the guest once for everything added since the last call, if it
    /// asked for interrupts (EVENT_IDX's used event, or the absence of
    /// VRING_AVAIL_F_NO_INTERRUPT).
    pub fn notify(&mut self) {
        if !std::mem::take(&mut self.pending_used) {
            return;
        }
        let Some(ring) = self.ring.as_deref() else {
            return;
        };
        let mem = &ring.memory.mem;
        let wanted = if ring.event_idx {
            self.queue.needs_notification(mem).unwrap_or(true)
        } else {
            // The fence orders the used index written before against the flags read.
            std::sync::atomic::fence(Ordering::SeqCst);
            mem.read_obj::<u16>(ring.avail)
                .map_or(true, |flags| u16::from_le(flags) & AVAIL_NO_INTERRUPT == 0)
        };
        if wanted {
            if let Some(call) = &ring.call {
                // An eventfd takes an 8-byte count; a full counter only means the
                // guest has interrupts pending already.
                let _ = (&**call).write(&1u64.to_ne_bytes());
            }
        }
    }
}
