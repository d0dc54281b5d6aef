//! Fixed-length arrays allocated once at start. A big one is one anonymous mapping of
//! its own, on 2 MB pages when the system gives them, so a lookup at random in a table
//! of a million connections does not also miss the TLB: explicit huge pages
//! (`MAP_HUGETLB`, from the pool reserved in `/proc/sys/vm/nr_hugepages`) first, else
//! transparent huge pages asked with `madvise(MADV_HUGEPAGE)`, else normal pages. A
//! small one comes from the heap. Every element is written at allocation, so the
//! packet path never takes a page fault.

use std::ops::{Deref, DerefMut};

/// Arrays of at least this many bytes are mapped; smaller ones use the heap.
pub const MAP_THRESHOLD: usize = HUGE_PAGE;

/// The size of a huge page on x86-64 and the usual arm64 configuration.
const HUGE_PAGE: usize = 2 << 20;

/// What backs an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pages {
    /// The heap (a small array).
    Heap,
    /// Explicit huge pages from the reserved pool.
    Huge,
    /// Normal pages the kernel was asked to back with transparent huge pages (it does
    /// when it finds free 2 MB blocks and THP is not disabled).
    TransparentHuge,
    /// Normal pages.
    Normal,
}

/// `len` elements of `T`, allocated at once and never resized.
pub struct PageArray<T: Copy> {
    storage: Storage<T>,
}

enum Storage<T> {
    Heap(Box<[T]>),
    #[cfg(target_os = "linux")]
    Mapped(mapped::Mapping<T>),
}

impl<T: Copy> PageArray<T> {
    /// `len` copies of `value`.
    pub fn new(len: usize, value: T) -> Self {
        Self::with_threshold(len, value, MAP_THRESHOLD)
    }

    /// As `new`, mapping arrays from `threshold` bytes on.
    pub fn with_threshold(len: usize, value: T, threshold: usize) -> Self {
        let bytes = len.saturating_mul(std::mem::size_of::<T>());
        #[cfg(target_os = "linux")]
        if bytes >= threshold.max(1) {
            if let Some(mapping) = mapped::Mapping::new(len, value) {
                return PageArray {
                    storage: Storage::Mapped(mapping),
                };
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (bytes, threshold);
        PageArray {
            storage: Storage::Heap(vec![value; len].into_boxed_slice()),
        }
    }

    pub fn pages(&self) -> Pages {
        match &self.storage {
            Storage::Heap(_) => Pages::Heap,
            #[cfg(target_os = "linux")]
            Storage::Mapped(mapping) => mapping.pages(),
        }
    }

    /// Bytes reserved for the array (a mapping is rounded up to whole huge pages; the
    /// unaligned slack mapped around it is never touched, so never resident).
    pub fn allocated_bytes(&self) -> usize {
        match &self.storage {
            Storage::Heap(elements) => std::mem::size_of_val(&**elements),
            #[cfg(target_os = "linux")]
            Storage::Mapped(mapping) => mapping.bytes(),
        }
    }
}

impl<T: Copy> Deref for PageArray<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &self.storage {
            Storage::Heap(elements) => elements,
            #[cfg(target_os = "linux")]
            Storage::Mapped(mapping) => mapping.as_slice(),
        }
    }
}

impl<T: Copy> DerefMut for PageArray<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.storage {
            Storage::Heap(elements) => elements,
            #[cfg(target_os = "linux")]
            Storage::Mapped(mapping) => mapping.as_mut_slice(),
        }
    }
}

#[cfg(target_os = "linux")]
mod mapped {
    use std::ptr::NonNull;

    use super::{Pages, HUGE_PAGE};

    /// An anonymous private mapping holding `len` initialised elements of `T` from a
    /// huge-page boundary.
    pub struct Mapping<T> {
        /// Where the mapping starts and how long it is (for `munmap`).
        base: NonNull<u8>,
        mapped: usize,
        /// The whole huge pages used from the aligned start.
        rounded: usize,
        elements: NonNull<T>,
        len: usize,
        pages: Pages,
    }

    // SAFETY: the mapping is owned by this value alone (no other pointer to it
    // escapes), so moving it to another thread moves its only owner, as for a Box.
    unsafe impl<T: Send> Send for Mapping<T> {}
    // SAFETY: shared access only hands out `&[T]`, as a Box<[T]> would.
    unsafe impl<T: Sync> Sync for Mapping<T> {}

    impl<T: Copy> Mapping<T> {
        pub fn new(len: usize, value: T) -> Option<Self> {
            let bytes = len.checked_mul(std::mem::size_of::<T>())?;
            let rounded = bytes.checked_next_multiple_of(HUGE_PAGE)?;
            if std::mem::align_of::<T>() > HUGE_PAGE || rounded == 0 {
                return None;
            }
            let (base, mapped, elements, pages) = match map(rounded, libc::MAP_HUGETLB) {
                // Huge pages from the pool come aligned to their size.
                Some(base) => (base, rounded, base, Pages::Huge),
                None => {
                    // One huge page more, so that an aligned start can be chosen: a
                    // transparent huge page only backs an aligned 2 MB block.
                    let mapped = rounded.checked_add(HUGE_PAGE)?;
                    let base = map(mapped, 0)?;
                    let skip = base.as_ptr().align_offset(HUGE_PAGE);
                    // SAFETY: `skip < HUGE_PAGE`, so the aligned start and `rounded`
                    // bytes after it lie inside the `mapped` bytes just mapped.
                    let start = unsafe { base.add(skip) };
                    // SAFETY: the range is inside the mapping this value owns; the
                    // advice changes only how the kernel backs it.
                    let advised = unsafe {
                        libc::madvise(start.as_ptr().cast(), rounded, libc::MADV_HUGEPAGE)
                    } == 0;
                    let pages = if advised {
                        Pages::TransparentHuge
                    } else {
                        Pages::Normal
                    };
                    (base, mapped, start, pages)
                }
            };
            let elements = elements.cast::<T>();
            for i in 0..len {
                // SAFETY: element `i` lies in the `bytes <= rounded` bytes from the
                // aligned start (aligned for T: huge-page alignment is a multiple of
                // T's), inside the mapping; writing a Copy value drops nothing.
                unsafe { elements.add(i).write(value) };
            }
            Some(Mapping {
                base,
                mapped,
                rounded,
                elements,
                len,
                pages,
            })
        }

        pub fn pages(&self) -> Pages {
            self.pages
        }

        pub fn bytes(&self) -> usize {
            self.rounded
        }

        pub fn as_slice(&self) -> &[T] {
            // SAFETY: `len` elements from `elements` were initialised in `new` and
            // live as long as the mapping, which `self` owns; `&self` keeps any
            // mutable access away for the returned lifetime.
            unsafe { std::slice::from_raw_parts(self.elements.as_ptr(), self.len) }
        }

        pub fn as_mut_slice(&mut self) -> &mut [T] {
            // SAFETY: as in `as_slice`; `&mut self` makes this the only access.
            unsafe { std::slice::from_raw_parts_mut(self.elements.as_ptr(), self.len) }
        }
    }

    impl<T> Drop for Mapping<T> {
        fn drop(&mut self) {
            // SAFETY: `base` and `mapped` are exactly what `mmap` returned and was
            // given; the elements are Copy (nothing to drop) and no reference to them
            // outlives `self`.
            unsafe { libc::munmap(self.base.as_ptr().cast(), self.mapped) };
        }
    }

    /// A private anonymous read-write mapping of `bytes`, with `flags` added.
    fn map(bytes: usize, flags: libc::c_int) -> Option<NonNull<u8>> {
        // SAFETY: an anonymous mapping at an address the kernel chooses touches no
        // existing memory; failure is reported as MAP_FAILED and checked.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
                -1,
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(address.cast())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_arrays_use_the_heap_and_hold_the_initial_value() {
        let mut array = PageArray::new(100, 7u32);
        assert_eq!(array.pages(), Pages::Heap);
        assert_eq!(array.len(), 100);
        assert!(array.iter().all(|&v| v == 7));
        array[99] = 8;
        assert_eq!(array[99], 8);
        assert_eq!(array.allocated_bytes(), 400);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn big_arrays_are_mapped_whole_huge_pages_from_an_aligned_start() {
        let len = (HUGE_PAGE + 8) / 8;
        let mut array = PageArray::new(len, 0x5a5a_5a5a_5a5a_5a5au64);
        assert_ne!(array.pages(), Pages::Heap);
        assert_eq!(array.len(), len);
        assert_eq!(array.as_ptr().align_offset(HUGE_PAGE), 0);
        assert_eq!(array.allocated_bytes(), 2 * HUGE_PAGE);
        assert!(array.iter().all(|&v| v == 0x5a5a_5a5a_5a5a_5a5a));
        array[len - 1] = 1;
        array[0] = 2;
        assert_eq!(
            (array[0], array[len - 1], array[1]),
            (2, 1, 0x5a5a_5a5a_5a5a_5a5a)
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_threshold_decides_between_heap_and_mapping() {
        let mapped = PageArray::with_threshold(16, 1u8, 16);
        let heap = PageArray::with_threshold(15, 1u8, 16);
        assert_ne!(mapped.pages(), Pages::Heap);
        assert_eq!(heap.pages(), Pages::Heap);
        assert_eq!(&mapped[..], &[1u8; 16][..]);
    }
}
