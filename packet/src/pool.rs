//! The pools that hand buffers out and take them back.
//!
//! A [`SharedPool`] lays all its buffers out once in one region and keeps the free ones
//! in a lock-free ring; each worker draws from it through a [`Pool`] with a local cache
//! in front (as DPDK's mempool cache), so taking and returning a buffer is a push or
//! pop on a vector and the ring is touched once per batch. A buffer freed on another
//! worker goes into that worker's cache, and back to the ring from there, so no worker
//! runs dry. Nothing is allocated after the pool is made.

use std::ptr::NonNull;
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

use crate::buffer::{release, Backing, BufferHeader, Packet, PacketHeader, HEADER_SIZE};
use crate::region::{Pages, Region};

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

/// Buffers a worker's cache takes from, or gives back to, the shared ring at once.
const CACHE_BATCH: usize = 32;

/// A free buffer, as the ring and the caches hold it.
#[derive(Clone, Copy)]
struct FreeBuffer(NonNull<BufferHeader>);

// SAFETY: a free buffer belongs to whichever ring or cache holds it, one at a time.
unsafe impl Send for FreeBuffer {}

/// What buffers point back to: the region that holds them and the ring of the free
/// ones. It lives at a fixed address for as long as any of its buffers is out.
pub(crate) struct PoolCore {
    config: PoolConfig,
    ring: ArrayQueue<FreeBuffer>,
    region: Region,
}

impl PoolCore {
    /// Returns a buffer of this pool to its ring.
    pub(crate) fn give_back(&self, header: NonNull<BufferHeader>) {
        // Cannot fail: the ring has room for every buffer of the pool, and a buffer
        // is in at most one place at a time.
        let _ = self.ring.push(FreeBuffer(header));
    }
}

/// All the buffers of a dataplane (or of one NUMA node), shared by every worker's
/// [`Pool`].
pub struct SharedPool {
    core: NonNull<PoolCore>,
}

// SAFETY: the core is shared read-only apart from its lock-free ring.
unsafe impl Send for SharedPool {}
// SAFETY: as above.
unsafe impl Sync for SharedPool {}

impl SharedPool {
    /// Lays out every buffer up front; the pool never allocates afterwards.
    pub fn new(config: PoolConfig) -> Arc<Self> {
        assert!(
            config.headroom >= MIN_HEADROOM,
            "pool headroom {} is below the minimum {MIN_HEADROOM}",
            config.headroom
        );
        let room_len = config.headroom + config.data_room;
        assert!(
            u32::try_from(room_len).is_ok(),
            "a {room_len}-byte buffer is too large"
        );
        let stride = (HEADER_SIZE + room_len).next_multiple_of(64);
        let region = Region::new(stride * config.buffers);
        let core = Box::new(PoolCore {
            config,
            ring: ArrayQueue::new(config.buffers.max(1)),
            region,
        });
        let core = NonNull::from(Box::leak(core));
        // SAFETY: just made, and not yet shared.
        let core_ref = unsafe { core.as_ref() };
        let base = core_ref.region.base().as_ptr();
        for index in 0..config.buffers {
            // SAFETY: buffer `index` spans `stride` bytes at `index * stride` inside
            // the region, which holds `buffers * stride` bytes; `stride` is a multiple
            // of 64, the header's alignment, and the region is page-aligned.
            unsafe {
                let header = base.add(index * stride).cast::<BufferHeader>();
                header.write(BufferHeader {
                    room: NonNull::new_unchecked(base.add(index * stride + HEADER_SIZE)),
                    start: config.headroom as u32,
                    len: 0,
                    room_len: room_len as u32,
                    backing: Backing::Pool,
                    home: core.cast(),
                    public: PacketHeader::default(),
                });
                core_ref.give_back(NonNull::new_unchecked(header));
            }
        }
        Arc::new(SharedPool { core })
    }

    fn core(&self) -> &PoolCore {
        // SAFETY: the core lives until this handle drops.
        unsafe { self.core.as_ref() }
    }

    pub fn config(&self) -> PoolConfig {
        self.core().config
    }

    /// Buffers in the shared ring (not counting the workers' caches).
    pub fn available(&self) -> usize {
        self.core().ring.len()
    }

    /// What backs the buffers' memory.
    pub fn pages(&self) -> Pages {
        self.core().region.pages()
    }
}

impl Drop for SharedPool {
    /// Releases the region once every buffer is home. Counting them empties the ring,
    /// and a return still in flight on another thread is waited for (the ring's pop
    /// waits for a push that has claimed its slot). With buffers still out (held by
    /// packets, or by a pool handle that was leaked), the region is leaked instead,
    /// so those packets stay valid and can still be dropped.
    fn drop(&mut self) {
        let core = self.core();
        let mut home = 0;
        while core.ring.pop().is_some() {
            home += 1;
        }
        if home == core.config.buffers {
            // SAFETY: made by `Box::leak` in `new`; every buffer is back, so nothing
            // points into the core or its region any more.
            drop(unsafe { Box::from_raw(self.core.as_ptr()) });
        }
    }
}

/// A worker's handle on a [`SharedPool`], with a local cache in front of it.
pub struct Pool {
    shared: Arc<SharedPool>,
    core: NonNull<PoolCore>,
    cache: Vec<FreeBuffer>,
}

// SAFETY: the cached buffers belong to this handle alone; the core is shared safely.
unsafe impl Send for Pool {}
// SAFETY: `&Pool` offers only reads of the configuration and counts.
unsafe impl Sync for Pool {}

impl Pool {
    /// A pool of its own (one worker, tests, tools).
    pub fn new(config: PoolConfig) -> Self {
        Pool::attach(&SharedPool::new(config))
    }

    /// Another worker's handle on `shared`.
    pub fn attach(shared: &Arc<SharedPool>) -> Self {
        Pool {
            shared: Arc::clone(shared),
            core: shared.core,
            cache: Vec::with_capacity(2 * CACHE_BATCH),
        }
    }

    pub fn shared(&self) -> &Arc<SharedPool> {
        &self.shared
    }

    #[inline]
    fn core(&self) -> &PoolCore {
        // SAFETY: `shared` keeps the core alive.
        unsafe { self.core.as_ref() }
    }

    pub fn config(&self) -> PoolConfig {
        self.core().config
    }

    /// Buffers this handle can hand out: its cache and the shared ring.
    pub fn available(&self) -> usize {
        self.cache.len() + self.shared.available()
    }

    #[inline]
    fn take_buffer(&mut self) -> Option<NonNull<BufferHeader>> {
        if self.cache.is_empty() {
            // SAFETY: `shared` keeps the core alive; the borrow is not tied to
            // `self`, so the cache can be filled meanwhile.
            let core = unsafe { &*self.core.as_ptr() };
            while self.cache.len() < CACHE_BATCH {
                match core.ring.pop() {
                    Some(buffer) => self.cache.push(buffer),
                    None => break,
                }
            }
        }
        self.cache.pop().map(|buffer| buffer.0)
    }

    /// An empty packet whose frame starts after the headroom, its fields reset.
    #[inline]
    pub fn alloc(&mut self) -> Result<Packet, AllocError> {
        let headroom = self.core().config.headroom as u32;
        let mut header = self.take_buffer().ok_or(AllocError::Exhausted)?;
        // SAFETY: a free buffer of this pool: its header is initialised, and it was
        // taken out of the cache, so nothing else holds it.
        unsafe {
            let buffer = header.as_mut();
            buffer.start = headroom;
            buffer.len = 0;
            buffer.public = PacketHeader::default();
            Ok(Packet::from_raw(header))
        }
    }

    /// A packet holding a copy of `frame` (ports whose memory is not ours: pcap,
    /// kernel sockets, vhost-user rings).
    #[inline]
    pub fn alloc_copy(&mut self, frame: &[u8]) -> Result<Packet, AllocError> {
        let config = self.core().config;
        if frame.len() > config.data_room {
            return Err(AllocError::TooLarge {
                len: frame.len(),
                data_room: config.data_room,
            });
        }
        let mut packet = self.alloc()?;
        packet.set_frame(config.headroom, frame);
        Ok(packet)
    }

    /// A copy of `packet`, frame and fields (flooding sends one copy per port).
    pub fn clone_packet(&mut self, packet: &Packet) -> Result<Packet, AllocError> {
        let mut copy = self.alloc()?;
        // Keep the original's headroom so later pushes behave the same on both; a
        // frame that does not fit this pool's buffers that way is refused.
        if !copy.set_frame(packet.headroom(), packet.data()) {
            return Err(AllocError::TooLarge {
                len: packet.len(),
                data_room: self.core().config.data_room,
            });
        }
        *copy = **packet;
        Ok(copy)
    }

    /// Takes a packet's buffer back: into this handle's cache when it is one of this
    /// pool's, else back to wherever it came from.
    #[inline]
    pub fn free(&mut self, packet: Packet) {
        let header = packet.into_raw();
        // SAFETY: the header of a buffer the packet held until now.
        let buffer = unsafe { header.as_ref() };
        if buffer.backing != Backing::Pool || buffer.home != self.core.cast() {
            release(header);
            return;
        }
        self.cache.push(FreeBuffer(header));
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
            self.core().give_back(buffer.0);
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
    fn buffers_freed_on_another_thread_come_back() {
        let shared = SharedPool::new(PoolConfig {
            buffers: 8,
            headroom: MIN_HEADROOM,
            data_room: 64,
        });
        let mut a = Pool::attach(&shared);
        let packets: Vec<Packet> = (0..8).map(|_| a.alloc_copy(&[1]).unwrap()).collect();
        let other = Arc::clone(&shared);
        std::thread::spawn(move || {
            let mut b = Pool::attach(&other);
            for packet in packets {
                assert_eq!(packet.data(), &[1]);
                b.free(packet);
            }
        })
        .join()
        .unwrap();
        assert_eq!(a.available(), 8);
    }

    #[test]
    fn a_dropped_packet_goes_home() {
        let mut pool = small_pool(1);
        let packet = pool.alloc().unwrap();
        assert_eq!(pool.available(), 0);
        drop(packet);
        assert_eq!(pool.available(), 1);
        assert!(pool.alloc().is_ok());
    }

    #[test]
    fn a_foreign_buffer_goes_back_to_its_own_pool() {
        let mut small = small_pool(1);
        let mut other = Pool::new(PoolConfig {
            buffers: 1,
            headroom: MIN_HEADROOM,
            data_room: 512,
        });
        let foreign = other.alloc().unwrap();
        small.free(foreign);
        assert_eq!(small.available(), 1);
        assert_eq!(other.available(), 1);
    }

    #[test]
    // The pool is leaked on purpose here, which Miri reports.
    #[cfg_attr(miri, ignore)]
    fn a_packet_may_outlive_every_handle_on_its_pool() {
        let mut pool = small_pool(2);
        let mut packet = pool.alloc_copy(b"still here").unwrap();
        drop(pool);
        assert_eq!(packet.data(), b"still here");
        packet.data_mut()[0] = b'S';
        assert_eq!(packet.data(), b"Still here");
        drop(packet);
    }

    #[test]
    fn allocation_resets_the_fields_of_a_recycled_buffer() {
        let mut pool = small_pool(1);
        let mut packet = pool.alloc_copy(b"frame").unwrap();
        packet.rx_port = 7;
        packet.meta.parsed = true;
        packet.checksum_verified = true;
        packet.rss_hash = Some(9);
        assert!(packet.pull_front(2));
        pool.free(packet);
        let packet = pool.alloc().unwrap();
        assert_eq!(*packet, PacketHeader::default());
        assert_eq!(packet.headroom(), MIN_HEADROOM);
        assert!(packet.is_empty());
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
    fn buffers_do_not_overlap() {
        let mut pool = small_pool(4);
        let mut packets: Vec<Packet> = (0..4u8)
            .map(|i| pool.alloc_copy(&[i; 256]).unwrap())
            .collect();
        for (i, packet) in packets.iter_mut().enumerate() {
            packet.push_front(MIN_HEADROOM).unwrap().fill(i as u8);
            packet.meta.logical_port = i as u32;
        }
        for (i, packet) in packets.iter().enumerate() {
            assert!(packet.data().iter().all(|&b| b == i as u8));
            assert_eq!(packet.meta.logical_port, i as u32);
        }
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
        p.pull_front(1);
        let c = pool.clone_packet(&p).unwrap();
        assert_eq!(c.data(), b"rame");
        assert_eq!(c.headroom(), MIN_HEADROOM + 1);
        assert_eq!((c.rx_port, c.timestamp_ns), (3, 42));
    }

    #[test]
    fn a_packet_handle_is_pointer_sized() {
        assert_eq!(std::mem::size_of::<Packet>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Option<Packet>>(),
            std::mem::size_of::<usize>()
        );
    }
}
