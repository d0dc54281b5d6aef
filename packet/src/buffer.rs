//! Packet buffers: a header with the per-packet state, then headroom and the frame, as
//! `rte_mbuf` and `vlib_buffer_t` lay them out. A [`Packet`] is a pointer-sized handle
//! to such a buffer, so bursts, verdicts and transmit queues move 8 bytes per packet.
//!
//! The header's first part, private, describes the buffer: where its room is, where the
//! frame starts and how long it is, and who takes the buffer back (its backing). A
//! buffer is either one of our own pools' or external: memory a driver owns (a DPDK
//! `rte_mbuf`, whose private area holds the header and whose data room is the room),
//! given back through the [`ExternalOps`] the driver registered (see `external.rs`).
//! Everything outside this crate reads the frame through `data()` and `data_mut()` and
//! the per-packet fields through [`PacketHeader`].

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use crate::external::ExternalOps;
use crate::meta::Meta;
use crate::pool::PoolCore;

/// The per-packet fields every stage and driver may read and write.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketHeader {
    /// The dataplane port the frame arrived on.
    pub rx_port: u16,
    /// Set by a driver whose NIC verified the IPv4 header checksum: parsing skips it.
    pub checksum_verified: bool,
    /// The flow hash the NIC computed (RSS), when it gave one.
    pub rss_hash: Option<u32>,
    /// Arrival time in nanoseconds (capture time in replay).
    pub timestamp_ns: u64,
    /// Parse-once metadata, filled at ingress and updated by the stages.
    pub meta: Meta,
}

/// Who owns a buffer's memory, and so how it is given back.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backing {
    /// A buffer of our own pool, returned to it through `home`.
    Pool,
    /// A driver's buffer, returned through the `ExternalOps` that `home` points to.
    External,
}

/// What sits at the start of every buffer.
#[repr(C, align(64))]
pub(crate) struct BufferHeader {
    /// The buffer's room: headroom then data room, `room_len` bytes in all.
    pub(crate) room: NonNull<u8>,
    /// Where the frame starts in the room, and its length; `start + len <= room_len`
    /// always holds.
    pub(crate) start: u32,
    pub(crate) len: u32,
    pub(crate) room_len: u32,
    pub(crate) backing: Backing,
    /// Who takes the buffer back: its `PoolCore` (backing `Pool`) or its driver's
    /// `ExternalOps` (backing `External`).
    pub(crate) home: NonNull<()>,
    pub(crate) public: PacketHeader,
}

/// Bytes a buffer's header takes before its room (whole cache lines).
pub(crate) const HEADER_SIZE: usize = std::mem::size_of::<BufferHeader>();

// The descriptor, the driver fields and the metadata fit three cache lines.
const _: () = assert!(HEADER_SIZE <= 192);

/// One frame in its buffer, with the metadata the pipeline attaches to it. The per-
/// packet fields (`meta`, `rx_port`, ...) are reached through [`PacketHeader`].
///
/// A packet is given back with `Pool::free`; one that is dropped instead goes back
/// to its own pool's shared ring (slower, but never lost and never freed twice).
pub struct Packet {
    header: NonNull<BufferHeader>,
}

// SAFETY: a `Packet` is the only handle on its buffer (it is neither `Clone` nor
// `Copy`, and the pool hands a buffer to one packet at a time), like a `Box`; the pool
// it returns to is itself shared safely between threads.
unsafe impl Send for Packet {}
// SAFETY: `&Packet` gives only shared access to the header and the frame.
unsafe impl Sync for Packet {}

impl Packet {
    /// Takes ownership of a buffer whose header is initialised and that nothing
    /// else refers to.
    ///
    /// # Safety
    /// `header` must point to a live, initialised `BufferHeader` that no other
    /// `Packet`, pool cache or ring holds, whose `start + len <= room_len`, and whose
    /// room is disjoint from the header.
    #[inline]
    pub(crate) unsafe fn from_raw(header: NonNull<BufferHeader>) -> Packet {
        Packet { header }
    }

    /// Gives up the handle without releasing the buffer.
    #[inline]
    pub(crate) fn into_raw(self) -> NonNull<BufferHeader> {
        let header = self.header;
        std::mem::forget(self);
        header
    }

    #[inline]
    pub(crate) fn buffer(&self) -> &BufferHeader {
        // SAFETY: the handle owns a live buffer (see `from_raw`).
        unsafe { self.header.as_ref() }
    }

    #[inline]
    fn buffer_mut(&mut self) -> &mut BufferHeader {
        // SAFETY: as in `buffer`, and `&mut self` makes the access exclusive.
        unsafe { self.header.as_mut() }
    }

    /// The whole room: headroom, frame and tailroom.
    #[inline]
    fn room_mut(&mut self) -> &mut [u8] {
        let buffer = self.buffer();
        // SAFETY: the room is `room_len` bytes owned with the buffer, disjoint from
        // the header, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(buffer.room.as_ptr(), buffer.room_len as usize) }
    }

    /// The frame's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let buffer = self.buffer();
        // SAFETY: `start + len <= room_len` (kept by every method below), and the
        // room is owned with the buffer.
        unsafe {
            std::slice::from_raw_parts(
                buffer.room.as_ptr().add(buffer.start as usize),
                buffer.len as usize,
            )
        }
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.parts_mut().1
    }

    /// The per-packet fields and the frame at once, e.g. to parse the frame into its
    /// metadata in place.
    #[inline]
    pub fn parts_mut(&mut self) -> (&mut PacketHeader, &mut [u8]) {
        // SAFETY: the header and the room are disjoint memory owned with the buffer
        // (see `from_raw`); `start + len <= room_len`; `&mut self` makes both
        // accesses exclusive.
        unsafe {
            let buffer = &mut *self.header.as_ptr();
            let data = std::slice::from_raw_parts_mut(
                buffer.room.as_ptr().add(buffer.start as usize),
                buffer.len as usize,
            );
            (&mut buffer.public, data)
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.buffer().len as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buffer().len == 0
    }

    /// Free bytes in front of the frame.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.buffer().start as usize
    }

    /// Free bytes behind the frame.
    #[inline]
    pub fn tailroom(&self) -> usize {
        let buffer = self.buffer();
        (buffer.room_len - buffer.start - buffer.len) as usize
    }

    /// Grows the frame by `n` bytes at the front and returns the new front bytes
    /// (their content is whatever the buffer held); `None` when the headroom is short.
    #[inline]
    pub fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        let buffer = self.buffer_mut();
        if n > buffer.start as usize {
            return None;
        }
        buffer.start -= n as u32;
        buffer.len += n as u32;
        let start = buffer.start as usize;
        Some(&mut self.room_mut()[start..start + n])
    }

    /// Removes `n` bytes from the front; `false` (and nothing changed) when the frame
    /// is shorter than that.
    #[inline]
    pub fn pull_front(&mut self, n: usize) -> bool {
        let buffer = self.buffer_mut();
        if n > buffer.len as usize {
            return false;
        }
        buffer.start += n as u32;
        buffer.len -= n as u32;
        true
    }

    /// Grows the frame by `n` bytes at the back and returns them.
    #[inline]
    pub fn push_back(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.tailroom() {
            return None;
        }
        let buffer = self.buffer_mut();
        let end = (buffer.start + buffer.len) as usize;
        buffer.len += n as u32;
        Some(&mut self.room_mut()[end..end + n])
    }

    /// Shortens the frame to `len` bytes (no effect when it is already shorter).
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        let buffer = self.buffer_mut();
        if len < buffer.len as usize {
            buffer.len = len as u32;
        }
    }

    /// Sets the frame to a copy of `frame` after `headroom` bytes; `false` (and
    /// nothing changed) when the room is too small.
    pub(crate) fn set_frame(&mut self, headroom: usize, frame: &[u8]) -> bool {
        if headroom
            .checked_add(frame.len())
            .is_none_or(|end| end > self.buffer().room_len as usize)
        {
            return false;
        }
        self.room_mut()[headroom..headroom + frame.len()].copy_from_slice(frame);
        let buffer = self.buffer_mut();
        buffer.start = headroom as u32;
        buffer.len = frame.len() as u32;
        true
    }

    /// Opens a gap of `n` bytes at offset `at` of the frame by moving the first `at`
    /// bytes (the headers in front of the gap) back into the headroom; the payload
    /// behind stays where it is. Returns the gap.
    pub fn insert_gap(&mut self, at: usize, n: usize) -> Option<&mut [u8]> {
        let (old_start, len) = (self.headroom(), self.len());
        if at > len || n > old_start {
            return None;
        }
        let start = old_start - n;
        let buffer = self.buffer_mut();
        buffer.start = start as u32;
        buffer.len += n as u32;
        let room = self.room_mut();
        room.copy_within(old_start..old_start + at, start);
        Some(&mut room[start + at..start + at + n])
    }

    /// Closes `n` bytes at offset `at` of the frame by moving the first `at` bytes
    /// forward over them: the inverse of [`Packet::insert_gap`].
    pub fn remove_gap(&mut self, at: usize, n: usize) -> bool {
        let (start, len) = (self.headroom(), self.len());
        if at.checked_add(n).is_none_or(|end| end > len) {
            return false;
        }
        self.room_mut().copy_within(start..start + at, start + n);
        let buffer = self.buffer_mut();
        buffer.start += n as u32;
        buffer.len -= n as u32;
        true
    }

    /// Asks the CPU to load the header's first cache line (descriptor, driver fields,
    /// the start of the metadata), a few packets ahead of its use.
    #[inline(always)]
    pub fn prefetch_header(&self) {
        prefetch(self.header.as_ptr().cast());
    }

    /// Asks the CPU to load the frame's first cache line (Ethernet and IP headers).
    #[inline(always)]
    pub fn prefetch_data(&self) {
        prefetch(self.data().as_ptr());
    }
}

#[inline(always)]
fn prefetch(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address; SSE is
    // part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

impl Deref for Packet {
    type Target = PacketHeader;

    #[inline(always)]
    fn deref(&self) -> &PacketHeader {
        &self.buffer().public
    }
}

impl DerefMut for Packet {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut PacketHeader {
        &mut self.buffer_mut().public
    }
}

impl Drop for Packet {
    /// A packet dropped rather than freed goes back to its pool's shared ring.
    fn drop(&mut self) {
        release(self.header);
    }
}

/// Gives a buffer back to whoever owns its memory.
#[inline]
pub(crate) fn release(header: NonNull<BufferHeader>) {
    // SAFETY: called with a buffer no packet holds any more; its header is live.
    let buffer = unsafe { header.as_ref() };
    match buffer.backing {
        Backing::Pool => {
            // SAFETY: `home` is the buffer's `PoolCore`, and a pool outlives its
            // buffers (it leaks itself when dropped with buffers still out, see
            // `SharedPool`'s `Drop`).
            let home = unsafe { buffer.home.cast::<PoolCore>().as_ref() };
            home.give_back(header);
        }
        Backing::External => {
            // SAFETY: `home` is the `&'static ExternalOps` given to `from_external`.
            let ops = unsafe { buffer.home.cast::<ExternalOps>().as_ref() };
            // SAFETY: the buffer is the driver's, and no packet holds it any more.
            unsafe { (ops.release)(header.cast()) };
        }
    }
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.len())
            .field("headroom", &self.headroom())
            .field("rx_port", &self.rx_port)
            .field("timestamp_ns", &self.timestamp_ns)
            .finish_non_exhaustive()
    }
}
