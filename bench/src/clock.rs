//! Cycles from the time-stamp counter, with its frequency calibrated against the
//! monotonic clock (the TSC of this machine is invariant: `constant_tsc`, `nonstop_tsc`).

use std::time::{Duration, Instant};

/// The time-stamp counter now; 0 where there is none (then cycles are not reported).
#[cfg(target_arch = "x86_64")]
pub fn tsc() -> u64 {
    // SAFETY: RDTSC reads a counter; it touches no memory and has no preconditions.
    // The one `unsafe` of the bench crate: std has no safe way to read the TSC.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
pub fn tsc() -> u64 {
    0
}

/// TSC ticks per second, measured over `span` of the monotonic clock.
pub fn calibrate(span: Duration) -> f64 {
    let (start, ticks) = (Instant::now(), tsc());
    while start.elapsed() < span {
        std::hint::spin_loop();
    }
    let (elapsed, ticks) = (start.elapsed(), tsc().wrapping_sub(ticks));
    ticks as f64 / elapsed.as_secs_f64()
}
