//! Taking descriptor chains off a ring, every read checked: virtio-queue walks the
//! chain (indirect tables, loops cut by a budget of one ring's length) and vm-memory
//! refuses any address outside the guest's memory. What the walk cannot tell apart
//! from a clean end (a loop cut short, an unreadable descriptor) shows as a last
//! descriptor that still points to a next one.

use virtio_queue::{DescriptorChain, Queue, QueueOwnedT};
use vm_memory::{GuestAddress, GuestMemoryMmap};

use crate::fault::Fault;

/// A buffer of a chain: guest address and length.
pub type Segment = (GuestAddress, u32);

/// Segments one burst gathers at most; a chain needing more is refused as too long.
pub const MAX_SEGMENTS: usize = 1024;

/// The next available chain, if the guest offered one.
#[inline]
pub fn pop<'m>(
    queue: &mut Queue,
    mem: &'m GuestMemoryMmap,
) -> Result<Option<DescriptorChain<&'m GuestMemoryMmap>>, Fault> {
    let mut available = queue.iter(mem).map_err(|_| Fault::AvailIndex)?;
    Ok(available.next())
}

/// Appends the chain's buffers to `segments` (which never grows past its capacity)
/// and returns their total length. Every buffer must be device-writable (`writable`)
/// or device-readable (not `writable`).
#[inline]
pub fn gather(
    chain: DescriptorChain<&GuestMemoryMmap>,
    writable: bool,
    segments: &mut Vec<Segment>,
) -> Result<u64, Fault> {
    let mut total = 0u64;
    let mut last_has_next = true;
    let mut yielded = false;
    for descriptor in chain {
        if descriptor.is_write_only() != writable {
            return Err(Fault::WrongDirection);
        }
        if segments.len() == segments.capacity() {
            return Err(Fault::BadChain);
        }
        segments.push((descriptor.addr(), descriptor.len()));
        total += u64::from(descriptor.len());
        last_has_next = descriptor.has_next();
        yielded = true;
    }
    if !yielded || last_has_next {
        return Err(Fault::BadChain);
    }
    Ok(total)
}
