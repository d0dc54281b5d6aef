//! Fixed-size packet buffers with headroom, and the pools that recycle them.
//!
//! A [`Packet`] is a descriptor: the buffer it owns, where the frame starts in it and
//! how long the frame is. Headers are prepended and stripped by moving the start, never
//! by copying the payload. A packet handed to another worker is freed there, into
//! that worker's cache of the same shared pool.
//!
//! Only heap buffers exist today. A DPDK `rte_mbuf` backing adds a second variant to
//! the private storage of `Packet` (its data pointer, offsets and the mempool that
//! takes it back); everything outside this file reads the frame through `data()` and
//! `data_mut()` and does not change.

use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

use crate::meta::Meta;

/// The minimum headroom: room for the encapsulations the pipeline prepends in place
/// (VLAN 4, MPLS 4 per label, NSH 8 + 16 + 14, VXLAN over IPv6 70).
pub const MIN_HEADROOM: usize = 128;

/// Shape and number of the buffers of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// How many buffers the pool allocates up front; it never allocates more.
    pub buffers: usize,
    /// Bytes reserved in front of a received frame.
    pub headroom: usize,
    /// Bytes available to a frame after the headroom (the largest frame it holds, and
    /// the tailroom left behind a smaller one).
    pub data_room: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            buffers: 4096,
            headroom: MIN_HEADROOM,
            data_room: 2048,
        }
    }
}

/// Why a pool could not give out a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error("the buffer pool is empty")]
    Exhausted,
    #[error("a {len}-byte frame does not fit a {data_room}-byte buffer")]
    TooLarge { len: usize, data_room: usize },
}

/// One frame in its buffer, with the metadata the pipeline attaches to it.
pub struct Packet {
    buffer: Box<[u8]>,
    start: usize,
    len: usize,
    /// Parse-once metadata, filled at ingress and updated by the stages.
    pub meta: Meta,
    /// The dataplane port the frame arrived on.
    pub rx_port: u16,
    /// Arrival time in nanoseconds (capture time in replay).
    pub timestamp_ns: u64,
}

impl Packet {
    /// The frame's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer[self.start..self.start + self.len]
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer[self.start..self.start + self.len]
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free bytes in front of the frame.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Free bytes behind the frame.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.buffer.len() - self.start - self.len
    }

    /// Grows the frame by `n` bytes at the front and returns the new front bytes
    /// (their content is whatever the buffer held); `None` when the headroom is short.
    #[inline]
    pub fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.start {
            return None;
        }
        self.start -= n;
        self.len += n;
        Some(&mut self.buffer[self.start..self.start + n])
    }

    /// Removes `n` bytes from the front; `false` (and nothing changed) when the frame
    /// is shorter than that.
    #[inline]
    pub fn pull_front(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.start += n;
        self.len -= n;
        true
    }

    /// Grows the frame by `n` bytes at the back and returns them.
    #[inline]
    pub fn push_back(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.tailroom() {
            return None;
        }
        let end = self.start + self.len;
        self.len += n;
        Some(&mut self.buffer[end..end + n])
    }

    /// Shortens the frame to `len` bytes (no effect when it is already shorter).
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Opens a gap of `n` bytes at offset `at` of the frame by moving the first `at`
    /// bytes (the headers in front of the gap) back into the headroom; the payload
    /// behind stays where it is. Returns the gap.
    pub fn insert_gap(&mut self, at: usize, n: usize) -> Option<&mut [u8]> {
        if at > self.len || n > self.start {
            return None;
        }
        let old_start = self.start;
        self.start -= n;
        self.len += n;
        self.buffer
            .copy_within(old_start..old_start + at, self.start);
        Some(&mut self.buffer[self.start + at..self.start + at + n])
    }

    /// Closes `n` bytes at offset `at` of the frame by moving the first `at` bytes
    /// forward over them: the inverse of [`Packet::insert_gap`].
    pub fn remove_gap(&mut self, at: usize, n: usize) -> bool {
        if at.checked_add(n).is_none_or(|end| end > self.len) {
            return false;
        }
        self.buffer
            .copy_within(self.start..self.start + at, self.start + n);
        self.start += n;
        self.len -= n;
        true
    }
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.len)
            .field("headroom", &self.start)
            .field("rx_port", &self.rx_port)
            .field("timestamp_ns", &self.timestamp_ns)
            .finish_non_exhaustive()
    }
}

/// Buffers a worker's cache takes from, or gives back to, the shared ring at once.
const CACHE_BATCH: usize = 32;

/// All the buffers of a dataplane (or of one NUMA node), in a lock-free ring that
/// every worker's [`Pool`] draws from in batches. A buffer freed on another worker
/// than the one that allocated it comes back here, so no worker runs dry.
pub struct SharedPool {
    config: PoolConfig,
    ring: ArrayQueue<Box<[u8]>>,
}

impl SharedPool {
    /// Allocates every buffer up front; the pool never allocates afterwards.
    pub fn new(config: PoolConfig) -> Arc<Self> {
        assert!(
            config.headroom >= MIN_HEADROOM,
            "pool headroom {} is below the minimum {MIN_HEADROOM}",
            config.headroom
        );
        let ring = ArrayQueue::new(config.buffers.max(1));
        let size = config.headroom + config.data_room;
        for _ in 0..config.buffers {
            // Cannot fail: the ring was made for exactly this many.
            let _ = ring.push(vec![0u8; size].into_boxed_slice());
        }
        Arc::new(SharedPool { config, ring })
    }

    pub fn config(&self) -> PoolConfig {
        self.config
    }

    /// Buffers in the shared ring (not counting the workers' caches).
    pub fn available(&self) -> usize {
        self.ring.len()
    }

    fn buffer_size(&self) -> usize {
        self.config.headroom + self.config.data_room
    }
}

/// A worker's handle on a [`SharedPool`], with a local cache in front of it (as
/// DPDK's mempool cache): taking and returning a buffer is a push or pop on a
/// vector, and the shared ring is touched once per batch.
pub struct Pool {
    shared: Arc<SharedPool>,
    cache: Vec<Box<[u8]>>,
}

impl Pool {
    /// A pool of its own (one worker, tests, tools).
    pub fn new(config: PoolConfig) -> Self {
        Pool::attach(&SharedPool::new(config))
    }

    /// Another worker's handle on `shared`.
    pub fn attach(shared: &Arc<SharedPool>) -> Self {
        Pool {
            shared: Arc::clone(shared),
            cache: Vec::with_capacity(2 * CACHE_BATCH),
        }
    }

    pub fn shared(&self) -> &Arc<SharedPool> {
        &self.shared
    }

    pub fn config(&self) -> PoolConfig {
        self.shared.config
    }

    /// Buffers this handle can hand out: its cache and the shared ring.
    pub fn available(&self) -> usize {
        self.cache.len() + self.shared.available()
    }

    fn take_buffer(&mut self) -> Option<Box<[u8]>> {
        if self.cache.is_empty() {
            while self.cache.len() < CACHE_BATCH {
                match self.shared.ring.pop() {
                    Some(buffer) => self.cache.push(buffer),
                    None => break,
                }
            }
        }
        self.cache.pop()
    }

    /// An empty packet whose frame starts after the headroom.
    #[inline]
    pub fn alloc(&mut self) -> Result<Packet, AllocError> {
        let buffer = self.take_buffer().ok_or(AllocError::Exhausted)?;
        Ok(Packet {
            buffer,
            start: self.shared.config.headroom,
            len: 0,
            meta: Meta::default(),
            rx_port: 0,
            timestamp_ns: 0,
        })
    }

    /// A packet holding a copy of `frame` (ports whose memory is not ours: pcap,
    /// kernel sockets, vhost-user rings).
    #[inline]
    pub fn alloc_copy(&mut self, frame: &[u8]) -> Result<Packet, AllocError> {
        let data_room = self.shared.config.data_room;
        if frame.len() > data_room {
            return Err(AllocError::TooLarge {
                len: frame.len(),
                data_room,
            });
        }
        let mut packet = self.alloc()?;
        let start = packet.start;
        packet.buffer[start..start + frame.len()].copy_from_slice(frame);
        packet.len = frame.len();
        Ok(packet)
    }

    /// A copy of `packet`, frame and metadata (flooding sends one copy per port).
    pub fn clone_packet(&mut self, packet: &Packet) -> Result<Packet, AllocError> {
        let mut copy = self.alloc()?;
        // Keep the original's headroom so later pushes behave the same on both.
        copy.start = packet.start;
        copy.len = packet.len;
        copy.buffer[copy.start..copy.start + copy.len].copy_from_slice(packet.data());
        copy.meta = packet.meta;
        copy.rx_port = packet.rx_port;
        copy.timestamp_ns = packet.timestamp_ns;
        Ok(copy)
    }

    /// Takes a packet's buffer back. A buffer of another shape (another pool's) is
    /// released to the allocator instead.
    #[inline]
    pub fn free(&mut self, packet: Packet) {
        if packet.buffer.len() != self.shared.buffer_size() {
            return;
        }
        self.cache.push(packet.buffer);
        if self.cache.len() >= 2 * CACHE_BATCH {
            self.spill(CACHE_BATCH);
        }
    }

    /// Gives `count` cached buffers back to the shared ring.
    fn spill(&mut self, count: usize) {
        for _ in 0..count {
            let Some(buffer) = self.cache.pop() else {
                return;
            };
            // The ring has room for every buffer of the pool; a buffer beyond that
            // (another pool's, of the same shape) goes back to the allocator.
            let _ = self.shared.ring.push(buffer);
        }
    }
}

impl Drop for Pool {
    /// A worker that goes away leaves its cached buffers to the others.
    fn drop(&mut self) {
        self.spill(self.cache.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_pool(buffers: usize) -> Pool {
        Pool::new(PoolConfig {
            buffers,
            headroom: MIN_HEADROOM,
            data_room: 256,
        })
    }

    #[test]
    fn alloc_until_exhausted_then_free_recycles() {
        let mut pool = small_pool(2);
        let a = pool.alloc().unwrap();
        let b = pool.alloc().unwrap();
        assert_eq!(pool.alloc().unwrap_err(), AllocError::Exhausted);
        pool.free(a);
        assert_eq!(pool.available(), 1);
        pool.free(b);
        assert_eq!(pool.available(), 2);
    }

    #[test]
    fn buffers_freed_on_another_worker_come_back() {
        let shared = SharedPool::new(PoolConfig {
            buffers: 100,
            headroom: MIN_HEADROOM,
            data_room: 64,
        });
        let mut a = Pool::attach(&shared);
        let mut b = Pool::attach(&shared);
        let packets: Vec<Packet> = (0..100).map(|_| a.alloc().unwrap()).collect();
        assert_eq!(a.alloc().unwrap_err(), AllocError::Exhausted);
        for packet in packets {
            b.free(packet);
        }
        assert!(
            shared.available() >= 64,
            "b spilled its surplus to the ring"
        );
        drop(b);
        assert_eq!(a.available(), 100);
        let again: Vec<Packet> = (0..100).map(|_| a.alloc().unwrap()).collect();
        assert_eq!(again.len(), 100);
    }

    #[test]
    fn foreign_buffers_are_not_kept() {
        let mut small = small_pool(1);
        let mut other = Pool::new(PoolConfig {
            buffers: 1,
            headroom: MIN_HEADROOM,
            data_room: 512,
        });
        let foreign = other.alloc().unwrap();
        small.free(foreign);
        assert_eq!(small.available(), 1);
    }

    #[test]
    fn copy_keeps_headroom_and_refuses_oversize() {
        let mut pool = small_pool(1);
        let p = pool.alloc_copy(&[1, 2, 3]).unwrap();
        assert_eq!(p.data(), &[1, 2, 3]);
        assert_eq!(p.headroom(), MIN_HEADROOM);
        assert_eq!(p.tailroom(), 253);
        pool.free(p);
        assert_eq!(
            pool.alloc_copy(&[0; 257]).unwrap_err(),
            AllocError::TooLarge {
                len: 257,
                data_room: 256
            }
        );
        assert_eq!(
            pool.available(),
            1,
            "a refused copy must not leak the buffer"
        );
    }

    #[test]
    fn push_and_pull_front_move_only_the_start() {
        let mut pool = small_pool(1);
        let mut p = pool.alloc_copy(b"payload").unwrap();
        p.push_front(4).unwrap().copy_from_slice(b"HDR:");
        assert_eq!(p.data(), b"HDR:payload");
        assert!(p.pull_front(4));
        assert_eq!(p.data(), b"payload");
        assert!(!p.pull_front(8));
        assert_eq!(p.data(), b"payload");
        assert!(p.push_front(MIN_HEADROOM + 1).is_none());
    }

    #[test]
    fn gaps_open_and_close_behind_the_headers() {
        let mut pool = small_pool(1);
        let mut p = pool.alloc_copy(b"AAAAAAbbbbbb-rest").unwrap();
        p.insert_gap(12, 4).unwrap().copy_from_slice(b"TAG!");
        assert_eq!(p.data(), b"AAAAAAbbbbbbTAG!-rest");
        assert!(p.remove_gap(12, 4));
        assert_eq!(p.data(), b"AAAAAAbbbbbb-rest");
        assert!(!p.remove_gap(15, 4));
        assert!(p.insert_gap(18, 1).is_none());
    }

    #[test]
    fn push_back_respects_tailroom() {
        let mut pool = small_pool(1);
        let mut p = pool.alloc_copy(&[0; 250]).unwrap();
        assert!(p.push_back(6).is_some());
        assert!(p.push_back(1).is_none());
        p.truncate(10);
        assert_eq!(p.len(), 10);
    }

    #[test]
    fn clone_copies_frame_and_metadata() {
        let mut pool = small_pool(2);
        let mut p = pool.alloc_copy(b"frame").unwrap();
        p.rx_port = 3;
        p.timestamp_ns = 42;
        let c = pool.clone_packet(&p).unwrap();
        assert_eq!(c.data(), b"frame");
        assert_eq!((c.rx_port, c.timestamp_ns), (3, 42));
    }
}
