//! Buffers whose memory a driver owns (DPDK's `rte_mbuf`): the driver gives each one a
//! header in memory it provides (an mbuf's private area) and a room (the mbuf's data
//! room), and registers how such a buffer is given back. The pipeline sees an ordinary
//! [`Packet`]; freeing it into a [`Pool`](crate::Pool) or dropping it calls the
//! driver's `release`. This crate knows nothing of DPDK: the driver's functions are all
//! it keeps.

use std::ptr::NonNull;

use crate::buffer::{Backing, BufferHeader, Packet, PacketHeader, HEADER_SIZE};

/// How a driver takes its buffers back. One `static` per driver: its address also
/// tells the driver which packets are its own.
#[derive(Debug)]
pub struct ExternalOps {
    /// Gives back the buffer whose header is at the address passed, once no packet
    /// holds it. It runs on whichever thread frees the packet.
    ///
    /// # Safety
    /// Called only with the header address a packet of this driver was made with, once
    /// per such packet.
    pub release: unsafe fn(header: NonNull<u8>),
}

/// Bytes the driver reserves for a buffer's header (a whole number of cache lines).
pub const EXTERNAL_HEADER_SIZE: usize = HEADER_SIZE;
/// The alignment the header's memory needs.
pub const EXTERNAL_HEADER_ALIGN: usize = std::mem::align_of::<BufferHeader>();

/// An external buffer's frame, as a packet leaves it when handed back to its driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExternalFrame {
    /// The header address the packet was made with.
    pub header: NonNull<u8>,
    /// Where the frame starts in the room, and its length.
    pub start: u32,
    pub len: u32,
}

impl Packet {
    /// A packet on a driver's buffer: the frame is `len` bytes at `start` of the room,
    /// and every per-packet field is reset.
    ///
    /// # Safety
    /// `header` points to `EXTERNAL_HEADER_SIZE` writable bytes aligned to
    /// `EXTERNAL_HEADER_ALIGN`, and `room` to `room_len` bytes, both disjoint and owned
    /// by the caller, who hands them to the packet until `ops.release` gives them
    /// back; `start + len <= room_len`.
    #[inline]
    pub unsafe fn from_external(
        header: NonNull<u8>,
        room: NonNull<u8>,
        room_len: u32,
        start: u32,
        len: u32,
        ops: &'static ExternalOps,
    ) -> Packet {
        debug_assert!(start as u64 + len as u64 <= room_len as u64);
        debug_assert_eq!(header.as_ptr() as usize % EXTERNAL_HEADER_ALIGN, 0);
        let header = header.cast::<BufferHeader>();
        // SAFETY: the caller gives us the header's memory, aligned and large enough.
        unsafe {
            header.write(BufferHeader {
                room,
                start,
                len,
                room_len,
                backing: Backing::External,
                home: NonNull::from(ops).cast(),
                public: PacketHeader::default(),
            });
            Packet::from_raw(header)
        }
    }

    /// Whether `ops` backs this packet (it is that driver's buffer).
    #[inline]
    pub fn is_backed_by(&self, ops: &'static ExternalOps) -> bool {
        let buffer = self.buffer();
        buffer.backing == Backing::External && buffer.home == NonNull::from(ops).cast()
    }

    /// Where the frame of a buffer of `ops` now is; `None` for any other packet.
    #[inline]
    pub fn external_frame(&self, ops: &'static ExternalOps) -> Option<ExternalFrame> {
        let buffer = self.buffer();
        self.is_backed_by(ops).then(|| ExternalFrame {
            header: NonNull::from(buffer).cast(),
            start: buffer.start,
            len: buffer.len,
        })
    }

    /// Hands a buffer of `ops` back to its driver without releasing it, with where its
    /// frame now is; any other packet is returned as it was.
    #[inline]
    pub fn into_external(self, ops: &'static ExternalOps) -> Result<ExternalFrame, Packet> {
        match self.external_frame(ops) {
            Some(frame) => {
                let _ = self.into_raw();
                Ok(frame)
            }
            None => Err(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Pool, PoolConfig};
    use std::cell::Cell;

    thread_local! {
        static RELEASED: Cell<usize> = const { Cell::new(0) };
    }

    /// A test driver's buffer: a header and a room, counted when given back.
    #[repr(C, align(64))]
    struct Slot {
        header: [u8; EXTERNAL_HEADER_SIZE],
        room: [u8; 256],
    }

    unsafe fn count_release(_header: NonNull<u8>) {
        RELEASED.with(|n| n.set(n.get() + 1));
    }

    static OPS: ExternalOps = ExternalOps {
        release: count_release,
    };
    static OTHER: ExternalOps = ExternalOps {
        release: count_release,
    };

    fn packet_on(slot: &mut Slot, frame: &[u8]) -> Packet {
        slot.room[128..128 + frame.len()].copy_from_slice(frame);
        // SAFETY: the slot outlives the packet in each test, and is used by one
        // packet at a time.
        unsafe {
            Packet::from_external(
                NonNull::from(&mut slot.header).cast(),
                NonNull::from(&mut slot.room).cast(),
                256,
                128,
                frame.len() as u32,
                &OPS,
            )
        }
    }

    fn slot() -> Box<Slot> {
        Box::new(Slot {
            header: [0xAA; EXTERNAL_HEADER_SIZE],
            room: [0; 256],
        })
    }

    #[test]
    fn an_external_packet_reads_and_grows_in_its_room() {
        let mut slot = slot();
        let mut packet = packet_on(&mut slot, b"frame");
        assert_eq!(*packet, PacketHeader::default(), "fields reset");
        assert_eq!(packet.data(), b"frame");
        assert_eq!((packet.headroom(), packet.tailroom()), (128, 123));
        packet.push_front(3).unwrap().copy_from_slice(b"hd:");
        assert_eq!(packet.data(), b"hd:frame");
        let peeked = packet.external_frame(&OPS).unwrap();
        assert!(packet.external_frame(&OTHER).is_none());
        let frame = packet.into_external(&OPS).unwrap();
        assert_eq!(frame, peeked);
        assert_eq!((frame.start, frame.len), (125, 8));
        assert_eq!(frame.header.as_ptr(), slot.header.as_mut_ptr());
        assert_eq!(&slot.room[125..133], b"hd:frame");
    }

    #[test]
    fn freeing_or_dropping_calls_the_drivers_release() {
        let mut pool = Pool::new(PoolConfig {
            buffers: 2,
            ..PoolConfig::default()
        });
        let before = RELEASED.with(Cell::get);
        let (mut a, mut b) = (slot(), slot());
        pool.free(packet_on(&mut a, b"one"));
        assert_eq!(RELEASED.with(Cell::get), before + 1);
        assert_eq!(pool.available(), 2, "not taken into the pool");
        drop(packet_on(&mut b, b"two"));
        assert_eq!(RELEASED.with(Cell::get), before + 2);
    }

    #[test]
    fn only_the_owning_driver_takes_its_packets_back() {
        let mut slot = slot();
        let packet = packet_on(&mut slot, b"x");
        assert!(packet.is_backed_by(&OPS));
        assert!(!packet.is_backed_by(&OTHER));
        let packet = packet.into_external(&OTHER).unwrap_err();
        let before = RELEASED.with(Cell::get);
        let _ = packet.into_external(&OPS).unwrap();
        assert_eq!(
            RELEASED.with(Cell::get),
            before,
            "handed back, not released"
        );

        let mut pool = Pool::new(PoolConfig::default());
        let pooled = pool.alloc_copy(b"pool").unwrap();
        assert!(!pooled.is_backed_by(&OPS));
        let pooled = pooled.into_external(&OPS).unwrap_err();
        pool.free(pooled);
    }

    #[test]
    fn clone_of_an_external_packet_is_a_pool_packet() {
        let mut pool = Pool::new(PoolConfig::default());
        let mut slot = slot();
        let mut packet = packet_on(&mut slot, b"payload");
        packet.rx_port = 4;
        let copy = pool.clone_packet(&packet).unwrap();
        assert_eq!(copy.data(), b"payload");
        assert_eq!(copy.rx_port, 4);
        assert!(!copy.is_backed_by(&OPS));
        pool.free(copy);
        pool.free(packet);
    }
}
