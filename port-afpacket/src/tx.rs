//! Transmitting: a TPACKET_V2 ring of fixed-size frame slots. A burst is copied into
//! free slots, each marked for sending, and one `sendto` per burst asks the kernel to
//! send every marked slot (straight to the driver: the socket bypasses the qdisc).
//! The kernel marks a slot free again once the frame has left.

use std::io;
use std::mem::size_of;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crossbeam::utils::CachePadded;
use packet::{Burst, Pool};
use port::{QueueStatsCell, TxQueue};

use crate::socket::{Mapping, PacketSocket};

/// Where a slot's frame starts: the header, aligned (the kernel's
/// `tp_hdrlen - sizeof(sockaddr_ll)` without PACKET_TX_HAS_OFF).
pub(crate) const DATA_OFFSET: usize = (size_of::<libc::tpacket2_hdr>() + libc::TPACKET_ALIGNMENT
    - 1)
    & !(libc::TPACKET_ALIGNMENT - 1);

/// The shape of a transmit ring.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TxRingShape {
    pub frame_size: usize,
    pub frames: usize,
    pub block_size: usize,
}

impl TxRingShape {
    /// Slots large enough for `max_frame`, `frames` of them (rounded to whole blocks).
    pub(crate) fn for_frames(max_frame: usize, frames: usize, page_size: usize) -> Self {
        let frame_size = (DATA_OFFSET + max_frame).next_power_of_two().max(2048);
        let block_size = frame_size.max(page_size).max(1 << 16);
        let per_block = block_size / frame_size;
        let blocks = frames.div_ceil(per_block).max(1);
        TxRingShape {
            frame_size,
            frames: blocks * per_block,
            block_size,
        }
    }

    pub(crate) fn request(&self) -> libc::tpacket_req {
        libc::tpacket_req {
            tp_block_size: self.block_size as u32,
            tp_block_nr: (self.frames * self.frame_size / self.block_size) as u32,
            tp_frame_size: self.frame_size as u32,
            tp_frame_nr: self.frames as u32,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.frames * self.frame_size
    }
}

pub(crate) struct AfPacketTxQueue {
    pub(crate) socket: PacketSocket,
    pub(crate) ring: Mapping,
    pub(crate) shape: TxRingShape,
    pub(crate) max_frame: usize,
    /// The next slot to fill.
    pub(crate) head: usize,
    /// Slots marked for sending since the last kick.
    pub(crate) unsent: bool,
    pub(crate) stats: Arc<CachePadded<QueueStatsCell>>,
}

impl AfPacketTxQueue {
    fn slot(&self, index: usize) -> *mut u8 {
        // In the mapping: `index < frames`; slots never straddle blocks, as the block
        // size is a multiple of the slot size.
        self.ring.ptr().wrapping_add(index * self.shape.frame_size)
    }

    fn status(&self, index: usize) -> &AtomicU32 {
        let header = self.slot(index).cast::<libc::tpacket2_hdr>();
        // SAFETY: the slot header is inside the mapping and aligned; its status word
        // is shared with the kernel, so it is read and written atomically only.
        unsafe { AtomicU32::from_ptr(std::ptr::addr_of_mut!((*header).tp_status)) }
    }

    /// Asks the kernel to send the marked slots. Without waiting: what the device
    /// cannot take now stays marked and goes with the next kick.
    fn kick(&mut self) {
        if !self.unsent {
            return;
        }
        // SAFETY: a send with no buffer: the kernel takes the frames from the ring.
        let result = unsafe {
            libc::sendto(
                self.socket.fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if result >= 0 {
            self.unsent = false;
        }
        // An error (the device busy or down) leaves the slots marked; they go with a
        // later kick, and the ring filling up is the backpressure.
    }
}

impl TxQueue for AfPacketTxQueue {
    fn tx_burst(&mut self, burst: &mut Burst, pool: &mut Pool) -> io::Result<usize> {
        let (mut sent, mut bytes, mut errors) = (0u64, 0u64, 0u64);
        let room = self.shape.frame_size - DATA_OFFSET;
        let max_frame = self.max_frame.min(room);
        burst.send_while(|packet| {
            let status = self.status(self.head).load(Ordering::Acquire);
            if status == libc::TP_STATUS_WRONG_FORMAT {
                // The kernel refused what was there: the slot is free again.
                errors += 1;
            } else if status != libc::TP_STATUS_AVAILABLE {
                return Err(packet);
            }
            let len = packet.len();
            if len > max_frame || len == 0 {
                errors += 1;
                pool.free(packet);
                return Ok(());
            }
            let slot = self.slot(self.head);
            // SAFETY: the slot is free (status AVAILABLE, read with acquire), so the
            // kernel does not touch it until it is marked below; the frame fits the
            // room behind the header.
            unsafe {
                std::ptr::copy_nonoverlapping(packet.data().as_ptr(), slot.add(DATA_OFFSET), len);
                let header = slot.cast::<libc::tpacket2_hdr>();
                (*header).tp_len = len as u32;
            }
            self.status(self.head)
                .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
            self.head = (self.head + 1) % self.shape.frames;
            self.unsent = true;
            sent += 1;
            bytes += len as u64;
            pool.free(packet);
            Ok(())
        });
        self.kick();
        self.stats.passed(sent, bytes);
        if errors > 0 {
            self.stats.error(errors);
        }
        Ok(sent as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.kick();
        Ok(())
    }
}
