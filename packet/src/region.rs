//! One aligned memory region for all the buffers of a pool, mapped once at start.
//!
//! Backed by 2 MB huge pages when the system has them reserved (`MAP_HUGETLB`), else
//! by an anonymous mapping the kernel is asked to back with transparent huge pages
//! (`MADV_HUGEPAGE`), else by plain heap memory. Large pages keep a pool of thousands
//! of buffers within a few TLB entries.

use std::alloc::Layout;
use std::ptr::NonNull;

/// The size of an x86-64 huge page, and the alignment of a mapped region.
pub const HUGE_PAGE: usize = 2 << 20;

/// What backs a region's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pages {
    /// Reserved 2 MB huge pages (hugetlbfs).
    Huge,
    /// An anonymous mapping advised to use transparent huge pages; the kernel may
    /// still back parts of it with 4 KB pages.
    TransparentHuge,
    /// Heap memory with 4 KB pages (no mapping could be made, or under Miri).
    Small,
}

/// Zeroed, writable memory of a fixed size, released when dropped.
pub(crate) struct Region {
    base: NonNull<u8>,
    len: usize,
    pages: Pages,
}

// SAFETY: the region is plain memory owned by this value; who may touch which bytes
// of it is decided by the pool that hands its buffers out one owner at a time.
unsafe impl Send for Region {}
// SAFETY: as above; `Region` itself offers no access to the bytes through `&self`
// other than the base pointer.
unsafe impl Sync for Region {}

impl Region {
    /// At least `len` zeroed bytes, aligned to 4 KB (2 MB when mapped).
    pub fn new(len: usize) -> Region {
        let len = len.max(1);
        #[cfg(all(target_os = "linux", not(miri)))]
        {
            if let Some(region) = map_huge(len).or_else(|| map_advised(len)) {
                return region;
            }
        }
        heap(len)
    }

    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn pages(&self) -> Pages {
        self.pages
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        match self.pages {
            #[cfg(all(target_os = "linux", not(miri)))]
            Pages::Huge | Pages::TransparentHuge => {
                // SAFETY: `base` and `len` are exactly what the mapping functions
                // below kept after trimming, and nothing uses the region any more.
                unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
            }
            _ => {
                // SAFETY: allocated by `heap` with this very layout.
                unsafe { std::alloc::dealloc(self.base.as_ptr(), heap_layout(self.len)) };
            }
        }
    }
}

#[cfg(all(target_os = "linux", not(miri)))]
fn round_up(len: usize, to: usize) -> usize {
    len.div_ceil(to) * to
}

/// Reserved huge pages: fails (returns `None`) when none are reserved.
#[cfg(all(target_os = "linux", not(miri)))]
fn map_huge(len: usize) -> Option<Region> {
    let len = round_up(len, HUGE_PAGE);
    // SAFETY: an anonymous private mapping chosen by the kernel touches no existing
    // memory; the result is checked before use.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return None;
    }
    Some(Region {
        base: NonNull::new(base.cast())?,
        len,
        pages: Pages::Huge,
    })
}

/// An anonymous mapping aligned to 2 MB (so that the kernel can back it with whole
/// huge pages) and advised to use them.
#[cfg(all(target_os = "linux", not(miri)))]
fn map_advised(len: usize) -> Option<Region> {
    let len = round_up(len, HUGE_PAGE);
    let padded = len + HUGE_PAGE;
    // SAFETY: as in `map_huge`.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            padded,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    let raw = raw as usize;
    let base = round_up(raw, HUGE_PAGE);
    let head = base - raw;
    let tail = padded - head - len;
    // SAFETY: the head and tail lie inside the mapping just made and outside the
    // aligned part kept; unmapping them affects nothing else. The advice only
    // changes how the kernel backs the kept part; it failing changes nothing.
    unsafe {
        if head > 0 {
            libc::munmap(raw as *mut libc::c_void, head);
        }
        if tail > 0 {
            libc::munmap((base + len) as *mut libc::c_void, tail);
        }
        libc::madvise(base as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
    Some(Region {
        base: NonNull::new(base as *mut u8)?,
        len,
        pages: Pages::TransparentHuge,
    })
}

fn heap_layout(len: usize) -> Layout {
    // Cannot fail: 4096 is a power of two and `len` came from a slice of buffers
    // that fits the address space.
    Layout::from_size_align(len, 4096).unwrap_or(Layout::new::<u8>())
}

fn heap(len: usize) -> Region {
    let layout = heap_layout(len);
    // SAFETY: the layout has a non-zero size (`len` is at least 1).
    let base = unsafe { std::alloc::alloc_zeroed(layout) };
    let Some(base) = NonNull::new(base) else {
        std::alloc::handle_alloc_error(layout);
    };
    Region {
        base,
        len,
        pages: Pages::Small,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_is_zeroed_writable_and_aligned() {
        let region = Region::new(3 * 4096 + 5);
        assert!(region.len() >= 3 * 4096 + 5);
        assert_eq!(region.base().as_ptr() as usize % 4096, 0);
        if region.pages() != Pages::Small {
            assert_eq!(region.base().as_ptr() as usize % HUGE_PAGE, 0);
        }
        // SAFETY: the region is `len` bytes of memory owned by this test.
        let bytes = unsafe { std::slice::from_raw_parts_mut(region.base().as_ptr(), region.len()) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[region.len() - 1] = 7;
        assert_eq!(bytes[region.len() - 1], 7);
    }
}
