//! Frames the guest sends: its transmit virtqueue, read by the worker that owns the
//! matching receive queue of the port. Each chain is copied into a pool buffer
//! (without its virtio-net header) and given back to the guest at once.

use std::io;
use std::sync::Arc;

use crossbeam::utils::CachePadded;
use packet::{Burst, Pool};
use port::{QueueStatsCell, RxQueue};
use virtio_queue::QueueT;
use vm_memory::{Address, Bytes, GuestMemoryMmap};

use crate::chain::{gather, pop, Segment, MAX_SEGMENTS};
use crate::fault::Fault;
use crate::vring::VringUser;

pub struct GuestTxQueue {
    port: u16,
    vring: VringUser,
    stats: Arc<CachePadded<QueueStatsCell>>,
    segments: Vec<Segment>,
}

impl GuestTxQueue {
    pub fn new(port: u16, vring: VringUser, stats: Arc<CachePadded<QueueStatsCell>>) -> Self {
        GuestTxQueue {
            port,
            vring,
            stats,
            segments: Vec::with_capacity(MAX_SEGMENTS),
        }
    }
}

/// Why a chain's frame could not be taken.
enum CopyError {
    /// Shorter than the header, empty, or longer than a buffer: dropped, counted.
    BadLength,
    Fault(Fault),
}

impl RxQueue for GuestTxQueue {
    fn rx_burst(&mut self, pool: &mut Pool, burst: &mut Burst, max: usize) -> io::Result<usize> {
        if !self.vring.poll(&self.stats) {
            self.vring.done();
            return Ok(0);
        }
        let GuestTxQueue {
            port,
            vring,
            stats,
            segments,
        } = self;
        let (mut received, mut bytes, mut errors) = (0usize, 0u64, 0u64);
        let mut fault = None;
        let mut used = false;
        if let Some((ring, queue)) = vring.parts() {
            let mem = &ring.memory.mem;
            while received < max && !burst.is_full() {
                let Some(mut packet) = pool.alloc().ok() else {
                    // No buffer: the chains wait in the ring, which holds the guest back.
                    break;
                };
                let chain = match pop(queue, mem) {
                    Ok(Some(chain)) => chain,
                    Ok(None) => {
                        pool.free(packet);
                        break;
                    }
                    Err(error) => {
                        pool.free(packet);
                        fault = Some(error);
                        break;
                    }
                };
                let head = chain.head_index();
                segments.clear();
                let copied = gather(chain, false, segments)
                    .map_err(CopyError::Fault)
                    .and_then(|_| copy_frame(mem, segments, ring.header_len, &mut packet));
                match copied {
                    Ok(()) => {
                        packet.rx_port = *port;
                        bytes += packet.len() as u64;
                        // Cannot be refused: the burst was not full.
                        let _ = burst.push(packet);
                        received += 1;
                    }
                    Err(CopyError::BadLength) => {
                        pool.free(packet);
                        errors += 1;
                    }
                    Err(CopyError::Fault(error)) => {
                        pool.free(packet);
                        fault = Some(error);
                        break;
                    }
                }
                if queue.add_used(mem, head, 0).is_err() {
                    fault = Some(Fault::RingOutsideMemory);
                    break;
                }
                used = true;
            }
        }
        if used {
            vring.used_added();
            vring.notify();
        }
        if let Some(error) = fault {
            vring.fault(error);
            errors += 1;
        }
        vring.done();
        stats.passed(received as u64, bytes);
        if errors > 0 {
            stats.error(errors);
        }
        Ok(received)
    }
}

/// Copies the frame behind the virtio-net header into `packet`.
fn copy_frame(
    mem: &GuestMemoryMmap,
    segments: &[Segment],
    header_len: usize,
    packet: &mut packet::Packet,
) -> Result<(), CopyError> {
    let mut skip = header_len as u64;
    for &(addr, len) in segments {
        let (mut addr, mut len) = (addr, u64::from(len));
        if skip > 0 {
            let skipped = skip.min(len);
            skip -= skipped;
            len -= skipped;
            addr = addr
                .checked_add(skipped)
                .ok_or(CopyError::Fault(Fault::BufferOutsideMemory))?;
        }
        if len == 0 {
            continue;
        }
        let Some(room) = usize::try_from(len)
            .ok()
            .and_then(|len| packet.push_back(len))
        else {
            return Err(CopyError::BadLength);
        };
        mem.read_slice(room, addr)
            .map_err(|_| CopyError::Fault(Fault::BufferOutsideMemory))?;
    }
    if skip > 0 || packet.is_empty() {
        return Err(CopyError::BadLength);
    }
    Ok(())
}
