//! What a worker does when a poll found nothing: spin, then yield, then sleep a
//! little longer each time, so an idle dataplane leaves a shared machine alone.
//! Busy polling (lowest latency) never sleeps.

use std::time::Duration;

const SPINS: u32 = 64;
const YIELDS: u32 = 64;
const MAX_SLEEP: Duration = Duration::from_millis(1);

pub struct Backoff {
    busy_poll: bool,
    idle_polls: u32,
    sleep: Duration,
}

impl Backoff {
    pub fn new(busy_poll: bool) -> Self {
        Backoff {
            busy_poll,
            idle_polls: 0,
            sleep: Duration::from_micros(10),
        }
    }

    /// Work was found: poll again at once.
    pub fn reset(&mut self) {
        self.idle_polls = 0;
        self.sleep = Duration::from_micros(10);
    }

    /// Nothing was found: wait a little, longer the longer it has been idle.
    pub fn idle(&mut self) {
        self.idle_polls = self.idle_polls.saturating_add(1);
        if self.busy_poll || self.idle_polls <= SPINS {
            std::hint::spin_loop();
        } else if self.idle_polls <= SPINS + YIELDS {
            std::thread::yield_now();
        } else {
            std::thread::sleep(self.sleep);
            self.sleep = (self.sleep * 2).min(MAX_SLEEP);
        }
    }
}
