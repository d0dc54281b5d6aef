//! What the message thread, the workers and the control plane share about one port.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::vring::VringSlot;

pub struct Device {
    pub name: String,
    pub queue_pairs: u16,
    pub mtu: u16,
    /// Virtqueue `2q` is the guest's receive queue of pair `q`, `2q + 1` its transmit.
    pub slots: Vec<Arc<VringSlot>>,
    /// A frontend is connected.
    pub connected: AtomicBool,
    /// Frontend sessions so far (a restarted VM is a new one).
    pub sessions: AtomicU64,
    /// Asks the message thread to end.
    pub stop: AtomicBool,
    /// Ring instances set up so far, over every session.
    epochs: AtomicU64,
    /// How long the message thread waits for a worker to let go of a ring.
    pub ack_timeout: Duration,
}

impl Device {
    pub fn new(name: &str, queue_pairs: u16, mtu: u16) -> Self {
        Device {
            name: name.to_owned(),
            queue_pairs,
            mtu,
            slots: (0..usize::from(queue_pairs) * 2)
                .map(|_| Arc::default())
                .collect(),
            connected: AtomicBool::new(false),
            sessions: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            epochs: AtomicU64::new(0),
            ack_timeout: Duration::from_secs(1),
        }
    }

    /// A number no ring instance of this port had before.
    pub fn next_epoch(&self) -> u64 {
        self.epochs.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The link is up while a frontend is connected and the first queue pair runs.
    pub fn link_up(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
            && self.slots.len() >= 2
            && self.slots[0].is_active()
            && self.slots[1].is_active()
    }
}
