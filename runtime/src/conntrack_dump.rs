//! The connection tables as the control plane lists them. Workers own their tables
//! and never lock them: the control plane raises a request number, each worker copies
//! its live connections into a bounded lock-free ring between bursts and says which
//! request it served. One atomic load per poll when nobody asks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;
use nat::conntrack::Conn;

/// Connections a worker hands over per request; beyond, the listing is truncated.
pub const DUMP_CAPACITY: usize = 16384;

/// One worker's connection, as listed.
#[derive(Clone, Copy, Debug)]
pub struct ConnRecord {
    pub worker: u16,
    pub conn: Conn,
    /// The worker's time when it copied the entry (packet time, ns).
    pub now_ns: u64,
}

pub struct ConnDump {
    requested: AtomicU64,
    served: AtomicU64,
    truncated: AtomicBool,
    ring: ArrayQueue<ConnRecord>,
}

impl Default for ConnDump {
    fn default() -> Self {
        ConnDump {
            requested: AtomicU64::new(0),
            served: AtomicU64::new(0),
            truncated: AtomicBool::new(false),
            ring: ArrayQueue::new(DUMP_CAPACITY),
        }
    }
}

impl ConnDump {
    /// Worker side, once per poll: serves a pending request.
    #[inline]
    pub fn serve<'a>(&self, worker: u16, now_ns: u64, connections: impl Iterator<Item = &'a Conn>) {
        let requested = self.requested.load(Ordering::Acquire);
        if requested == self.served.load(Ordering::Relaxed) {
            return;
        }
        for conn in connections {
            let record = ConnRecord {
                worker,
                conn: *conn,
                now_ns,
            };
            if self.ring.push(record).is_err() {
                self.truncated.store(true, Ordering::Relaxed);
                break;
            }
        }
        self.served.store(requested, Ordering::Release);
    }

    /// Control side: asks for the connections and collects them, waiting at most
    /// `timeout` for the worker. Returns them and whether the list was cut short.
    pub fn collect(&self, timeout: Duration) -> (Vec<ConnRecord>, bool) {
        while self.ring.pop().is_some() {}
        self.truncated.store(false, Ordering::Relaxed);
        let request = self.requested.fetch_add(1, Ordering::AcqRel) + 1;
        let deadline = Instant::now() + timeout;
        let mut records = Vec::new();
        loop {
            let served = self.served.load(Ordering::Acquire) >= request;
            while let Some(record) = self.ring.pop() {
                records.push(record);
            }
            if served || Instant::now() > deadline {
                let truncated = self.truncated.load(Ordering::Relaxed) || !served;
                return (records, truncated);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}
