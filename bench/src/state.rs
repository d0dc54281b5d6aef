//! Memory of a worker's state at scale: the `full` topology with many flow
//! classifiers, and a pipeline whose SNAT table holds many connections, built in this
//! process and measured as resident memory (/proc/self/status) around each step.

use std::sync::Arc;

use dataplane::counters::Counters;
use dataplane::pipeline::tables::ForwardingTables;
use dataplane::pipeline::{Pipeline, TxQueues};
use dataplane::topology::Topology;
use packet::{Burst, Pool, PoolConfig};

use crate::memory::{peak_resident, resident};
use crate::scenario::{port, topology, write_flow, Mix, Scenario, Traffic};

/// Resident memory at each step, in bytes.
#[derive(Clone, Debug)]
pub struct StateMemory {
    pub connections: u32,
    pub classifiers: u32,
    pub start: u64,
    /// After parsing the topology and building the tables (compiled classifier).
    pub tables: u64,
    /// After creating the pipeline (SNAT table sized for `connections`).
    pub pipeline: u64,
    /// After opening every connection.
    pub filled: u64,
    /// Connections the table held at the end (drops would leave it short).
    pub opened: u64,
    pub peak: u64,
}

impl StateMemory {
    /// Resident growth from the empty pipeline to the full table, per connection.
    pub fn growth_per_connection(&self) -> f64 {
        self.filled.saturating_sub(self.pipeline) as f64 / f64::from(self.connections)
    }

    /// Everything the pipeline's state holds, per connection.
    pub fn state_per_connection(&self) -> f64 {
        self.filled.saturating_sub(self.tables) as f64 / f64::from(self.connections)
    }
}

/// Builds the state and opens `connections` SNAT connections through the `full`
/// pipeline (classified, chained, returned by the service function, routed, translated).
pub fn measure(connections: u32, classifiers: u32) -> StateMemory {
    let start = resident();
    let toml = topology(Scenario::Full, classifiers, connections);
    let topology = Topology::from_toml_str(&toml).expect("the harness topology is valid");
    let tables = Arc::new(ForwardingTables::build(&topology));
    drop((toml, topology));
    let after_tables = resident();
    let mut pipeline = Pipeline::new(tables);
    let after_pipeline = resident();

    let mut pool = Pool::new(PoolConfig::default());
    let mut counters = Counters::new(port::COUNT);
    let mut tx = TxQueues::new(port::COUNT);
    let mut rx = Burst::with_capacity(32);
    let mut returned = Burst::with_capacity(packet::MAX_BURST);
    // Even flows of `full` go to the server (SNAT): 2 x connections flows.
    let traffic = Traffic::of(Scenario::Full);
    let template = &traffic.templates[0][Mix::Small.size_class(0)];
    let mut opened = 0u64;
    let total = u64::from(connections);
    for first in (0..total).step_by(32) {
        for c in first..(first + 32).min(total) {
            let mut packet = pool
                .alloc_copy(&template.frame)
                .expect("buffers are recycled");
            write_flow(packet.data_mut(), template.ports_at, 2 * c);
            packet.rx_port = port::VM1;
            packet.timestamp_ns = 1_000_000_000;
            let _ = rx.push(packet);
        }
        pipeline.process(&mut rx, &mut pool, &mut tx, &mut counters);
        // The service function sends its frames back as they are.
        for (out, queue) in tx.pending() {
            for mut packet in queue.drain() {
                if out == usize::from(port::SF1) {
                    packet.rx_port = port::SF1;
                    let _ = returned.push(packet);
                } else {
                    opened += u64::from(out == usize::from(port::UPLINK));
                    pool.free(packet);
                }
            }
        }
        pipeline.process(&mut returned, &mut pool, &mut tx, &mut counters);
        for (out, queue) in tx.pending() {
            for packet in queue.drain() {
                opened += u64::from(out == usize::from(port::UPLINK));
                pool.free(packet);
            }
        }
    }
    StateMemory {
        connections,
        classifiers,
        start,
        tables: after_tables,
        pipeline: after_pipeline,
        filled: resident(),
        opened,
        peak: peak_resident(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_is_opened_through_the_full_pipeline() {
        let m = measure(2_000, 50);
        assert_eq!(m.opened, 2_000);
        assert!(m.peak >= m.filled || m.peak == 0);
    }
}
