//! A token bucket on packet time: each worker sends at most a burst of ICMP errors at
//! once and one per interval after that (as Linux's icmp_ratelimit does per host).

/// Errors a worker may send at once.
pub const ICMP_ERROR_BURST: u64 = 10;
/// One more error allowed per this many nanoseconds (100 per second).
pub const ICMP_ERROR_INTERVAL_NS: u64 = 10_000_000;

/// Credit in nanoseconds of refill, capped at the burst's worth.
#[derive(Clone, Debug, Default)]
pub struct TokenBucket {
    /// `None` until first used: a worker starts with the full burst.
    last_ns: Option<u64>,
    credit_ns: u64,
}

impl TokenBucket {
    /// Takes a token at `now_ns`; `false` when the budget is spent.
    pub fn take(&mut self, now_ns: u64) -> bool {
        let full = ICMP_ERROR_BURST * ICMP_ERROR_INTERVAL_NS;
        self.credit_ns = match self.last_ns {
            None => full,
            Some(last) => self
                .credit_ns
                .saturating_add(now_ns.saturating_sub(last))
                .min(full),
        };
        self.last_ns = Some(self.last_ns.map_or(now_ns, |last| last.max(now_ns)));
        if self.credit_ns < ICMP_ERROR_INTERVAL_NS {
            return false;
        }
        self.credit_ns -= ICMP_ERROR_INTERVAL_NS;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval() {
        let mut bucket = TokenBucket::default();
        let t0 = 5_000_000_000;
        let sent = (0..ICMP_ERROR_BURST + 5)
            .filter(|_| bucket.take(t0))
            .count();
        assert_eq!(sent as u64, ICMP_ERROR_BURST);
        assert!(!bucket.take(t0 + ICMP_ERROR_INTERVAL_NS - 1));
        assert!(bucket.take(t0 + ICMP_ERROR_INTERVAL_NS));
        assert!(!bucket.take(t0 + ICMP_ERROR_INTERVAL_NS));
        // A long pause refills the burst, no more.
        let later = t0 + 1_000 * ICMP_ERROR_INTERVAL_NS;
        let sent = (0..ICMP_ERROR_BURST + 5)
            .filter(|_| bucket.take(later))
            .count();
        assert_eq!(sent as u64, ICMP_ERROR_BURST);
    }

    #[test]
    fn time_going_back_grants_nothing() {
        let mut bucket = TokenBucket::default();
        for _ in 0..ICMP_ERROR_BURST {
            assert!(bucket.take(1_000_000_000));
        }
        assert!(!bucket.take(10));
        assert!(!bucket.take(1_000_000_000));
    }
}
