//! Mbufs as packets: the packet crate's buffer header lives in each mbuf's private
//! area (right behind the `rte_mbuf`), its room is the mbuf's data room. A received
//! mbuf becomes a packet without a copy; a packet of ours goes back to being an mbuf
//! for transmission, with the frame where the pipeline left it.

use std::ptr::NonNull;

use dpdk_sys as sys;
use packet::{ExternalFrame, ExternalOps, Packet, EXTERNAL_HEADER_SIZE};

/// How packets on mbufs are given back: to their mempool.
pub(crate) static MBUF_OPS: ExternalOps = ExternalOps {
    release: release_mbuf,
};

/// The private area each mbuf needs: the buffer header, rounded to DPDK's alignment.
pub(crate) const PRIV_SIZE: u16 = EXTERNAL_HEADER_SIZE.next_multiple_of(8) as u16;

const MBUF_SIZE: usize = std::mem::size_of::<sys::rte_mbuf>();

/// # Safety
/// `header` is the private area of an mbuf that no packet holds any more.
unsafe fn release_mbuf(header: NonNull<u8>) {
    // SAFETY: the private area starts right behind its `rte_mbuf`.
    unsafe { sys::dp_pktmbuf_free(mbuf_of(header)) }
}

fn mbuf_of(header: NonNull<u8>) -> *mut sys::rte_mbuf {
    header.as_ptr().wrapping_sub(MBUF_SIZE).cast()
}

/// The mbuf flag values a receive queue tests, read once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RxFlags {
    pub rss_hash: u64,
    pub ip_checksum_mask: u64,
    pub ip_checksum_good: u64,
}

impl RxFlags {
    pub fn read() -> Self {
        // SAFETY: the shim's functions return constants.
        unsafe {
            RxFlags {
                rss_hash: sys::dp_mbuf_f_rx_rss_hash(),
                ip_checksum_mask: sys::dp_mbuf_f_rx_ip_cksum_mask(),
                ip_checksum_good: sys::dp_mbuf_f_rx_ip_cksum_good(),
            }
        }
    }
}

/// Whether mbufs of `pool` have room for the buffer header.
///
/// # Safety
/// `pool` is a live packet mbuf pool.
pub(crate) unsafe fn pool_fits(pool: *mut sys::rte_mempool) -> bool {
    // SAFETY: as the caller promises.
    unsafe { sys::dp_pktmbuf_priv_size(pool) >= PRIV_SIZE }
}

/// A received single-segment mbuf as a packet of port `port`.
///
/// # Safety
/// `m` is a live mbuf the caller owns, with one segment, from a pool whose private
/// area holds `PRIV_SIZE` bytes (mempool objects are cache-line aligned, and so is
/// the area behind the two-line `rte_mbuf`).
#[inline]
pub(crate) unsafe fn receive(m: *mut sys::rte_mbuf, port: u16, flags: RxFlags) -> Packet {
    // SAFETY: as the caller promises; the header and the data room are disjoint parts
    // of the mbuf, handed to the packet until `release_mbuf` frees it.
    unsafe {
        let mb = &*m;
        let header = NonNull::new_unchecked(m.cast::<u8>().add(MBUF_SIZE));
        let mut packet = Packet::from_external(
            header,
            NonNull::new_unchecked(mb.buf_addr.cast()),
            u32::from(mb.buf_len),
            u32::from(mb.data_off),
            u32::from(mb.data_len),
            &MBUF_OPS,
        );
        packet.rx_port = port;
        if mb.ol_flags & flags.rss_hash != 0 {
            packet.rss_hash = Some(mb.__bindgen_anon_2.hash.rss);
        }
        packet.checksum_verified = mb.ol_flags & flags.ip_checksum_mask == flags.ip_checksum_good;
        packet
    }
}

/// The mbuf under a packet of ours, its data set to the packet's frame; `None` for a
/// packet of another backing.
#[inline]
pub(crate) fn for_transmit(packet: &Packet) -> Option<*mut sys::rte_mbuf> {
    packet.external_frame(&MBUF_OPS).map(frame_to_mbuf)
}

#[inline]
fn frame_to_mbuf(frame: ExternalFrame) -> *mut sys::rte_mbuf {
    let m = mbuf_of(frame.header);
    // SAFETY: the packet is one of ours, so `m` is its live mbuf; the packet's room is
    // the mbuf's data room (at most 64 KiB), so start and len fit its u16 fields.
    unsafe {
        (*m).data_off = frame.start as u16;
        (*m).data_len = frame.len as u16;
        (*m).pkt_len = frame.len;
    }
    m
}

/// Gives up a packet whose mbuf the device now owns (it was transmitted).
#[inline]
pub(crate) fn hand_over(packet: Packet) {
    let handed = packet.into_external(&MBUF_OPS);
    debug_assert!(handed.is_ok(), "only packets on mbufs are handed over");
}

/// Copies `frame` into a freshly allocated mbuf; `false` when it does not fit.
///
/// # Safety
/// `m` is a live mbuf just allocated from a packet pool, owned by the caller.
#[inline]
pub(crate) unsafe fn copy_into(m: *mut sys::rte_mbuf, frame: &[u8]) -> bool {
    // SAFETY: as the caller promises; the copy stays inside the data room.
    unsafe {
        let mb = &mut *m;
        let start = usize::from(mb.data_off);
        if start + frame.len() > usize::from(mb.buf_len) {
            return false;
        }
        let data = mb.buf_addr.cast::<u8>().add(start);
        std::ptr::copy_nonoverlapping(frame.as_ptr(), data, frame.len());
        mb.data_len = frame.len() as u16;
        mb.pkt_len = frame.len() as u32;
        true
    }
}
