//! Frames for the guest: its receive virtqueue, filled by the worker that owns the
//! matching transmit queue of the port. A frame is copied behind a virtio-net header
//! into one chain, or with MRG_RXBUF into as many as it needs (`num_buffers`).

use std::io;
use std::sync::Arc;

use crossbeam::utils::CachePadded;
use packet::{Burst, Packet, Pool};
use port::{QueueStatsCell, TxQueue};
use virtio_queue::{Queue, QueueT};
use vm_memory::{Address, Bytes, GuestMemoryMmap};

use crate::chain::{gather, pop, Segment, MAX_SEGMENTS};
use crate::fault::Fault;
use crate::net::NUM_BUFFERS_OFFSET;
use crate::vring::{ActiveVring, VringUser};

/// Chains one frame may spread over with MRG_RXBUF.
const MAX_CHAINS: usize = 64;

pub struct GuestRxQueue {
    vring: VringUser,
    stats: Arc<CachePadded<QueueStatsCell>>,
    segments: Vec<Segment>,
    /// The chains the current frame takes: head and room.
    chains: Vec<(u16, u64)>,
}

impl GuestRxQueue {
    pub fn new(vring: VringUser, stats: Arc<CachePadded<QueueStatsCell>>) -> Self {
        GuestRxQueue {
            vring,
            stats,
            segments: Vec::with_capacity(MAX_SEGMENTS),
            chains: Vec::with_capacity(MAX_CHAINS),
        }
    }
}

/// What became of one frame.
enum Delivery {
    Delivered,
    /// The guest has no room now: the frame and those behind it wait.
    NoRoom,
    /// The frame cannot be delivered to this guest (larger than its buffers): dropped.
    Refused,
    Fault(Fault),
}

impl TxQueue for GuestRxQueue {
    fn tx_burst(&mut self, burst: &mut Burst, pool: &mut Pool) -> io::Result<usize> {
        if burst.is_empty() {
            return Ok(0);
        }
        let offered = burst.len();
        if !self.vring.poll(&self.stats) {
            self.vring.done();
            // No guest on the other side (yet, or any more): nothing is taken.
            self.stats.missed(offered as u64);
            return Ok(0);
        }
        let GuestRxQueue {
            vring,
            stats,
            segments,
            chains,
        } = self;
        let (mut bytes, mut refused, mut fault, mut used) = (0u64, 0u64, None, false);
        let sent = match vring.parts() {
            None => 0,
            Some((ring, queue)) => burst.send_while(|packet| {
                if fault.is_some() {
                    return Err(packet);
                }
                match deliver(ring, queue, &packet, segments, chains) {
                    Delivery::Delivered => {
                        bytes += packet.len() as u64;
                        used = true;
                        pool.free(packet);
                        Ok(())
                    }
                    Delivery::NoRoom => Err(packet),
                    Delivery::Refused => {
                        refused += 1;
                        pool.free(packet);
                        Ok(())
                    }
                    Delivery::Fault(error) => {
                        fault = Some(error);
                        Err(packet)
                    }
                }
            }),
        };
        if used {
            vring.used_added();
            vring.notify();
        }
        let mut errors = refused;
        if let Some(error) = fault {
            vring.fault(error);
            errors += 1;
        }
        vring.done();
        let delivered = sent as u64 - refused;
        stats.passed(delivered, bytes);
        if errors > 0 {
            stats.error(errors);
        }
        let left = burst.len() as u64;
        if left > 0 {
            stats.missed(left);
        }
        Ok(sent)
    }
}

/// Copies one frame into the guest's chains and returns them used.
fn deliver(
    ring: &ActiveVring,
    queue: &mut Queue,
    packet: &Packet,
    segments: &mut Vec<Segment>,
    chains: &mut Vec<(u16, u64)>,
) -> Delivery {
    let mem = &ring.memory.mem;
    let need = (ring.header_len + packet.len()) as u64;
    let start = queue.next_avail();
    segments.clear();
    chains.clear();
    let mut room = 0u64;
    while room < need {
        let chain = match pop(queue, mem) {
            Ok(Some(chain)) => chain,
            Ok(None) => {
                queue.set_next_avail(start);
                return Delivery::NoRoom;
            }
            Err(error) => return Delivery::Fault(error),
        };
        let head = chain.head_index();
        match gather(chain, true, segments) {
            Ok(len) => {
                room += len;
                chains.push((head, len));
            }
            Err(error) => return Delivery::Fault(error),
        }
        if room < need && (!ring.mrg_rxbuf || chains.len() == MAX_CHAINS) {
            // One chain (or the most a frame may take) is too small for this frame:
            // the chains are left for the next frame.
            queue.set_next_avail(start);
            return Delivery::Refused;
        }
    }
    let mut header = [0u8; 12];
    if ring.header_len == header.len() {
        let buffers = chains.len() as u16;
        header[NUM_BUFFERS_OFFSET..].copy_from_slice(&buffers.to_le_bytes());
    }
    let header = &header[..ring.header_len];
    if let Err(error) = write_chains(mem, segments, header, packet.data()) {
        return Delivery::Fault(error);
    }
    let mut left = need;
    for &(head, len) in chains.iter() {
        let written = len.min(left);
        left -= written;
        if queue.add_used(mem, head, written as u32).is_err() {
            return Delivery::Fault(Fault::RingOutsideMemory);
        }
    }
    Delivery::Delivered
}

/// Writes `header` then `frame` across the segments, in order.
fn write_chains(
    mem: &GuestMemoryMmap,
    segments: &[Segment],
    header: &[u8],
    frame: &[u8],
) -> Result<(), Fault> {
    let mut sources = [header, frame];
    let mut source = 0;
    for &(addr, len) in segments {
        let (mut addr, mut len) = (addr, len as usize);
        while len > 0 && source < sources.len() {
            let bytes = sources[source];
            let n = bytes.len().min(len);
            mem.write_slice(&bytes[..n], addr)
                .map_err(|_| Fault::BufferOutsideMemory)?;
            sources[source] = &bytes[n..];
            if sources[source].is_empty() {
                source += 1;
            }
            len -= n;
            addr = addr
                .checked_add(n as u64)
                .ok_or(Fault::BufferOutsideMemory)?;
        }
        if source == sources.len() {
            break;
        }
    }
    Ok(())
}
