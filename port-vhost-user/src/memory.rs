//! The guest's memory as the frontend shares it (SET_MEM_TABLE): each region a file
//! mapped here, reached by guest physical address through vm-memory, which checks
//! every access against the regions. Ring addresses arrive as the frontend's own
//! virtual addresses and are translated through the same table.

use std::fs::File;
use std::io;

use vhost::vhost_user::message::VhostUserMemoryRegion;
use vm_memory::{FileOffset, GuestAddress, GuestMemoryMmap, GuestRegionMmap, MmapRegion};

/// One mapped table: dropping the last reference unmaps it.
pub struct GuestMemory {
    pub mem: GuestMemoryMmap,
    /// (frontend virtual address, guest physical address, size) per region.
    regions: Vec<(u64, u64, u64)>,
}

impl GuestMemory {
    /// Maps every region of a SET_MEM_TABLE message with its file.
    pub fn map(regions: &[VhostUserMemoryRegion], files: Vec<File>) -> io::Result<Self> {
        if regions.len() != files.len() {
            return Err(invalid("one file per memory region is needed"));
        }
        let mut mapped = Vec::with_capacity(regions.len());
        let mut table = Vec::with_capacity(regions.len());
        for (region, file) in regions.iter().zip(files) {
            let size = usize::try_from(region.memory_size)
                .map_err(|_| invalid("memory region larger than the address space"))?;
            let mapping = MmapRegion::from_file(FileOffset::new(file, region.mmap_offset), size)
                .map_err(|error| invalid(&format!("mapping a memory region: {error}")))?;
            let guest = GuestRegionMmap::new(mapping, GuestAddress(region.guest_phys_addr))
                .ok_or_else(|| invalid("memory region wraps around the address space"))?;
            mapped.push(guest);
            table.push((region.user_addr, region.guest_phys_addr, region.memory_size));
        }
        let mem = GuestMemoryMmap::from_regions(mapped)
            .map_err(|error| invalid(&format!("memory regions: {error}")))?;
        Ok(GuestMemory {
            mem,
            regions: table,
        })
    }

    /// The guest physical address of a frontend virtual address, when a region holds it.
    pub fn translate(&self, user_addr: u64) -> Option<GuestAddress> {
        self.regions
            .iter()
            .find(|(va, _, size)| user_addr >= *va && user_addr - va < *size)
            .map(|(va, gpa, _)| GuestAddress(gpa + (user_addr - va)))
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_owned())
}
