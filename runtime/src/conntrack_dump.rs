//! The connection tables as the control plane lists and flushes them. Workers own
//! their tables and never lock them: the control plane raises a request number, each
//! worker copies its live connections into a bounded lock-free ring between bursts
//! (or removes the ones a flush picks) and says which request it served. One atomic
//! load per poll and request kind when nobody asks.

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

/// Which connections a flush removes (built by the control plane, run by the worker).
pub type FlushPick = Box<dyn Fn(&Conn) -> bool + Send>;

pub struct ConnDump {
    requested: AtomicU64,
    served: AtomicU64,
    truncated: AtomicBool,
    ring: ArrayQueue<ConnRecord>,
    flush: Flush,
}

/// A flush request: the pick travels through a one-slot queue, the count comes back.
struct Flush {
    requested: AtomicU64,
    served: AtomicU64,
    pick: ArrayQueue<FlushPick>,
    removed: AtomicU64,
}

impl Default for ConnDump {
    fn default() -> Self {
        ConnDump {
            requested: AtomicU64::new(0),
            served: AtomicU64::new(0),
            truncated: AtomicBool::new(false),
            ring: ArrayQueue::new(DUMP_CAPACITY),
            flush: Flush {
                requested: AtomicU64::new(0),
                served: AtomicU64::new(0),
                pick: ArrayQueue::new(1),
                removed: AtomicU64::new(0),
            },
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

    /// Worker side, once per poll: serves a pending flush with `remove`, which removes
    /// the connections the pick says and returns how many.
    #[inline]
    pub fn serve_flush(&self, remove: impl FnOnce(&dyn Fn(&Conn) -> bool) -> usize) {
        let requested = self.flush.requested.load(Ordering::Acquire);
        if requested == self.flush.served.load(Ordering::Relaxed) {
            return;
        }
        let removed = match self.flush.pick.pop() {
            Some(pick) => remove(&*pick),
            None => 0,
        };
        self.flush.removed.store(removed as u64, Ordering::Relaxed);
        self.flush.served.store(requested, Ordering::Release);
    }

    /// Control side: has the worker remove the connections `pick` selects, waiting at
    /// most `timeout`. Returns how many it removed, or None when it did not answer
    /// (the request is withdrawn if it has not been taken yet).
    pub fn flush(&self, pick: FlushPick, timeout: Duration) -> Option<u64> {
        while self.flush.pick.pop().is_some() {}
        if self.flush.pick.push(pick).is_err() {
            return None;
        }
        let request = self.flush.requested.fetch_add(1, Ordering::AcqRel) + 1;
        let deadline = Instant::now() + timeout;
        loop {
            if self.flush.served.load(Ordering::Acquire) >= request {
                return Some(self.flush.removed.load(Ordering::Relaxed));
            }
            if Instant::now() > deadline {
                while self.flush.pick.pop().is_some() {}
                return None;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(port: u16) -> Conn {
        let mut conn = Conn::default();
        conn.original.src_port = port;
        conn
    }

    #[test]
    fn a_flush_is_served_by_the_worker_with_the_pick_it_was_given() {
        let dump = std::sync::Arc::new(ConnDump::default());
        let worker = std::sync::Arc::clone(&dump);
        let table = std::thread::spawn(move || {
            let mut table = vec![conn(1), conn(2), conn(3)];
            while table.len() == 3 {
                worker.serve_flush(|pick| {
                    let before = table.len();
                    table.retain(|c| !pick(c));
                    before - table.len()
                });
                std::thread::yield_now();
            }
            table
        });
        let removed = dump.flush(
            Box::new(|c: &Conn| c.original.src_port != 2),
            Duration::from_secs(10),
        );
        assert_eq!(removed, Some(2));
        let left: Vec<u16> = table
            .join()
            .unwrap()
            .iter()
            .map(|c| c.original.src_port)
            .collect();
        assert_eq!(left, [2]);
    }

    #[test]
    fn a_flush_nobody_serves_reports_no_answer() {
        let dump = ConnDump::default();
        assert_eq!(
            dump.flush(Box::new(|_: &Conn| true), Duration::from_millis(5)),
            None
        );
        // Withdrawn: a worker polling later removes nothing.
        let mut called = false;
        dump.serve_flush(|_| {
            called = true;
            0
        });
        assert!(!called);
    }
}
