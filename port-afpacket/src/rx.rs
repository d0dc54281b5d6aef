//! Receiving: a TPACKET_V3 ring of blocks. The kernel fills a block with as many
//! frames as fit and hands it over whole (full, or after the retire timeout); the
//! queue copies the frames into pool buffers and hands the block back. Polled, never
//! waited on: no system call per packet or per burst.

use std::io;
use std::mem::size_of;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crossbeam::utils::CachePadded;
use packet::{Burst, Pool};
use port::{QueueStatsCell, RxQueue};

use crate::socket::{Mapping, PacketSocket};

/// Offset of the `sockaddr_ll` behind a frame's header (TPACKET_ALIGN of its size).
const SOCKADDR_OFFSET: usize = (size_of::<libc::tpacket3_hdr>() + libc::TPACKET_ALIGNMENT - 1)
    & !(libc::TPACKET_ALIGNMENT - 1);
const VLAN_TAG_LEN: usize = 4;
const MAC_ADDRESSES_LEN: usize = 12;

/// The shape of a receive ring.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RxRingShape {
    pub block_size: usize,
    pub blocks: usize,
    /// Milliseconds after which a block that is not full is handed over anyway.
    pub retire_ms: u32,
}

impl RxRingShape {
    pub(crate) fn request(&self) -> libc::tpacket_req3 {
        // The frame size only serves the kernel's checks in V3: frames are packed.
        let frame_size = 2048;
        libc::tpacket_req3 {
            tp_block_size: self.block_size as u32,
            tp_block_nr: self.blocks as u32,
            tp_frame_size: frame_size,
            tp_frame_nr: (self.block_size / frame_size as usize * self.blocks) as u32,
            tp_retire_blk_tov: self.retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        }
    }
}

/// Where the queue is in the block it is reading.
#[derive(Clone, Copy, Default)]
struct Cursor {
    /// Frames of the current block not read yet.
    left: u32,
    /// Offset of the next frame from the block's start.
    offset: usize,
}

pub(crate) struct AfPacketRxQueue {
    pub(crate) port: u16,
    pub(crate) socket: PacketSocket,
    pub(crate) ring: Mapping,
    pub(crate) shape: RxRingShape,
    /// The largest frame delivered; larger ones are receive errors.
    pub(crate) max_frame: usize,
    pub(crate) block: usize,
    cursor: Option<Cursor>,
    pub(crate) stats: Arc<CachePadded<QueueStatsCell>>,
}

impl AfPacketRxQueue {
    pub(crate) fn new(
        port: u16,
        socket: PacketSocket,
        ring: Mapping,
        shape: RxRingShape,
        max_frame: usize,
        stats: Arc<CachePadded<QueueStatsCell>>,
    ) -> Self {
        debug_assert!(ring.len() >= shape.block_size * shape.blocks);
        AfPacketRxQueue {
            port,
            socket,
            ring,
            shape,
            max_frame,
            block: 0,
            cursor: None,
            stats,
        }
    }

    fn block_ptr(&self) -> *mut u8 {
        // SAFETY (of the arithmetic): `block < blocks`, inside the mapping.
        self.ring
            .ptr()
            .wrapping_add(self.block * self.shape.block_size)
    }

    fn block_status(&self) -> &AtomicU32 {
        let block = self.block_ptr().cast::<libc::tpacket_block_desc>();
        // SAFETY: the block descriptor sits at the block's start, aligned, inside the
        // mapping; its status word is shared with the kernel, so it is read and
        // written atomically only.
        unsafe { AtomicU32::from_ptr(std::ptr::addr_of_mut!((*block).hdr.bh1.block_status)) }
    }

    /// Opens the current block when the kernel has handed it over.
    fn open_block(&mut self) -> Option<Cursor> {
        let status = self.block_status().load(Ordering::Acquire);
        if status & libc::TP_STATUS_USER == 0 {
            return None;
        }
        if status & libc::TP_STATUS_LOSING != 0 {
            self.count_kernel_drops();
        }
        let block = self.block_ptr().cast::<libc::tpacket_block_desc>();
        // SAFETY: the block is ours (status USER, read with acquire); its header is
        // inside the mapping.
        let header = unsafe { (*block).hdr.bh1 };
        Some(Cursor {
            left: header.num_pkts,
            offset: header.offset_to_first_pkt as usize,
        })
    }

    /// Hands the current block back to the kernel and moves to the next.
    fn close_block(&mut self) {
        self.block_status()
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.block = (self.block + 1) % self.shape.blocks;
        self.cursor = None;
    }

    /// The kernel counts the frames it dropped for want of a free block; reading the
    /// count resets it. Done only when a block says frames were lost.
    fn count_kernel_drops(&self) {
        if let Ok(stats) = self.socket.get::<TpacketStatsV3>(libc::PACKET_STATISTICS) {
            self.stats.missed(u64::from(stats.0.tp_drops));
        }
    }
}

/// `tpacket_stats_v3`, with a `Default` for `PacketSocket::get`.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct TpacketStatsV3(libc::tpacket_stats_v3);

impl Default for TpacketStatsV3 {
    fn default() -> Self {
        TpacketStatsV3(libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        })
    }
}

impl RxQueue for AfPacketRxQueue {
    fn rx_burst(&mut self, pool: &mut Pool, burst: &mut Burst, max: usize) -> io::Result<usize> {
        let (mut received, mut bytes, mut errors, mut missed) = (0usize, 0u64, 0u64, 0u64);
        while received < max && !burst.is_full() {
            let mut cursor = match self.cursor {
                Some(cursor) => cursor,
                None => match self.open_block() {
                    Some(cursor) => cursor,
                    None => break,
                },
            };
            if cursor.left == 0 {
                self.close_block();
                continue;
            }
            // SAFETY: the block is ours until handed back; the kernel wrote `left`
            // frames, chained by `tp_next_offset`, each inside the block.
            let frame = unsafe { Frame::at(self.block_ptr(), cursor.offset) };
            cursor.left -= 1;
            cursor.offset += frame.next_offset;
            self.cursor = Some(cursor);
            if frame.outgoing {
                continue;
            }
            let len = frame.len();
            if frame.truncated || len > self.max_frame {
                errors += 1;
                continue;
            }
            let Ok(mut packet) = pool.alloc() else {
                missed += 1;
                continue;
            };
            let Some(room) = packet.push_back(len) else {
                errors += 1;
                pool.free(packet);
                continue;
            };
            frame.copy_to(room);
            packet.rx_port = self.port;
            bytes += len as u64;
            received += 1;
            // Cannot be refused: the burst was not full.
            let _ = burst.push(packet);
        }
        // A block read to its end goes back at once, so the kernel can refill it.
        if self.cursor.is_some_and(|cursor| cursor.left == 0) {
            self.close_block();
        }
        self.stats.passed(received as u64, bytes);
        if errors > 0 {
            self.stats.error(errors);
        }
        if missed > 0 {
            self.stats.missed(missed);
        }
        Ok(received)
    }
}

/// One frame of a block, as the kernel wrote it.
struct Frame<'a> {
    data: &'a [u8],
    /// The VLAN tag the kernel took out of the frame (tag control, protocol id).
    vlan: Option<(u16, u16)>,
    /// Fewer bytes than the frame had on the wire.
    truncated: bool,
    /// Sent by this host, not received.
    outgoing: bool,
    next_offset: usize,
}

impl<'a> Frame<'a> {
    /// # Safety
    /// `block + offset` must be a frame header the kernel wrote in a block that the
    /// caller owns for `'a`.
    unsafe fn at(block: *const u8, offset: usize) -> Frame<'a> {
        let header = block.add(offset).cast::<libc::tpacket3_hdr>();
        let h = &*header;
        let address = &*block
            .add(offset + SOCKADDR_OFFSET)
            .cast::<libc::sockaddr_ll>();
        let data = std::slice::from_raw_parts(
            block.add(offset + h.tp_mac as usize),
            h.tp_snaplen as usize,
        );
        let vlan = (h.tp_status & libc::TP_STATUS_VLAN_VALID != 0).then(|| {
            let tpid = if h.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                h.hv1.tp_vlan_tpid
            } else {
                libc::ETH_P_8021Q as u16
            };
            (h.hv1.tp_vlan_tci as u16, tpid)
        });
        Frame {
            data,
            vlan,
            truncated: h.tp_snaplen < h.tp_len,
            outgoing: address.sll_pkttype == libc::PACKET_OUTGOING,
            next_offset: h.tp_next_offset as usize,
        }
    }

    /// The tag the kernel took out, to put back behind the MAC addresses.
    fn tag(&self) -> Option<(u16, u16)> {
        self.vlan.filter(|_| self.data.len() >= MAC_ADDRESSES_LEN)
    }

    /// The frame's length as it was on the wire (its VLAN tag included).
    fn len(&self) -> usize {
        self.data.len()
            + if self.tag().is_some() {
                VLAN_TAG_LEN
            } else {
                0
            }
    }

    /// Copies the frame into `room` (`len()` bytes), its VLAN tag put back.
    fn copy_to(&self, room: &mut [u8]) {
        match self.tag() {
            Some((tci, tpid)) => {
                let (macs, rest) = self.data.split_at(MAC_ADDRESSES_LEN);
                room[..MAC_ADDRESSES_LEN].copy_from_slice(macs);
                room[MAC_ADDRESSES_LEN..MAC_ADDRESSES_LEN + 2].copy_from_slice(&tpid.to_be_bytes());
                room[MAC_ADDRESSES_LEN + 2..MAC_ADDRESSES_LEN + 4]
                    .copy_from_slice(&tci.to_be_bytes());
                room[MAC_ADDRESSES_LEN + VLAN_TAG_LEN..].copy_from_slice(rest);
            }
            None => room.copy_from_slice(self.data),
        }
    }
}
