//! Software prefetch: starts loading a cache line that a later packet of the burst
//! will read, so that the load overlaps the work on the packets before it.

/// Hints that `*value`'s first cache line will be read soon; never faults, and does
/// nothing on targets without the instruction.
#[inline(always)]
pub fn read<T: ?Sized>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint that never faults, whatever the address; the pointer
    // comes from a reference, so it is valid anyway.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
