//! Configuration by snapshot (RCU style): the control plane publishes a new immutable
//! set of tables; workers pick it up between bursts, packets in flight finish under
//! the snapshot they started with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use pipeline::tables::ForwardingTables;

/// One published configuration.
pub struct Snapshot {
    pub generation: u64,
    pub tables: Arc<ForwardingTables>,
}

/// Where the current snapshot lives. Publishing swaps a pointer; a worker checks one
/// atomic per burst and loads the new snapshot only when the generation moved.
pub struct SnapshotCell {
    current: ArcSwap<Snapshot>,
    generation: AtomicU64,
}

impl SnapshotCell {
    pub fn new(tables: Arc<ForwardingTables>) -> Self {
        SnapshotCell {
            current: ArcSwap::from_pointee(Snapshot {
                generation: 1,
                tables,
            }),
            generation: AtomicU64::new(1),
        }
    }

    /// Publishes `tables` as the next generation and returns that generation.
    /// Callers serialise publications (the control plane is one thread).
    pub fn publish(&self, tables: Arc<ForwardingTables>) -> u64 {
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        self.current
            .store(Arc::new(Snapshot { generation, tables }));
        // Release: a worker that sees the new number also sees the new snapshot.
        self.generation.store(generation, Ordering::Release);
        generation
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }
}
