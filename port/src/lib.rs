//! Ports: where bursts come from and go to. A port has receive and transmit queues;
//! each queue is owned by one worker at a time, so a queue needs no lock. The port
//! itself (its name, capabilities, link and statistics) is read by the control plane.
//!
//! Drivers keep their own statistics ([`PortStats`]): frames they delivered or took,
//! and frames they could not (errors, `missed` when a queue overflowed or no buffer
//! was free). The dataplane's drop reasons are the dataplane's, counted apart.

// A packet travels by value; handing it back inside an `Err` (a full burst, a drop
// with its reason) is how ownership returns to the caller, so the error is large.
#![allow(clippy::result_large_err)]

pub mod memory;
mod shared_tx;
mod stats;

use std::io;
use std::sync::Arc;

use packet::{Burst, Pool};

pub use shared_tx::SharedTxQueue;
pub use stats::{PortStats, QueueStats, QueueStatsCell};

/// What a port offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    pub rx_queues: u16,
    pub tx_queues: u16,
    /// The largest frame the port takes and gives, Ethernet header included.
    pub max_frame: u32,
    /// The port spreads flows over its receive queues itself (RSS), symmetrically, so
    /// both directions of a flow reach the same queue.
    pub hashes_flows: bool,
    /// Received frames carry a verified IPv4 header checksum.
    pub rx_checksum: bool,
}

/// Whether a port's link is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkState {
    pub up: bool,
    /// Link speed in Mbit/s; 0 when the port has none (files, memory).
    pub speed_mbps: u32,
}

impl LinkState {
    pub const UP: LinkState = LinkState {
        up: true,
        speed_mbps: 0,
    };
}

/// One receive queue, polled by one worker.
pub trait RxQueue: Send {
    /// Receives up to `max` frames into `burst` (never past its capacity), each with
    /// its `rx_port` set. Returns how many were added. A frame the driver cannot
    /// deliver is counted in its statistics, not here.
    fn rx_burst(&mut self, pool: &mut Pool, burst: &mut Burst, max: usize) -> io::Result<usize>;

    /// True once the queue will never receive again (the end of a capture file). A
    /// lossless run ends when all its queues are finished.
    fn finished(&self) -> bool {
        false
    }
}

/// One transmit queue, used by one worker at a time.
pub trait TxQueue: Send {
    /// Transmits packets from the front of `burst`; the buffers of those sent go back
    /// to `pool`, those the queue had no room for stay in `burst` (the caller decides:
    /// retry or drop). Returns how many were sent.
    fn tx_burst(&mut self, burst: &mut Burst, pool: &mut Pool) -> io::Result<usize>;

    /// Pushes out anything the queue buffers.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A port as the runtime takes it: its queues (handed to workers) and the part the
/// control plane reads.
pub struct PortQueues {
    pub info: Arc<dyn PortInfo>,
    pub rx: Vec<Box<dyn RxQueue>>,
    pub tx: Vec<Box<dyn TxQueue>>,
}

/// The control side of a port: read from any thread.
pub trait PortInfo: Send + Sync {
    /// The port's name in the topology.
    fn name(&self) -> &str;

    fn capabilities(&self) -> Capabilities;

    fn link(&self) -> LinkState {
        LinkState::UP
    }

    /// The driver's statistics, per queue.
    fn stats(&self) -> &PortStats;

    /// Counters the device itself keeps, by name (DPDK's basic and extended
    /// statistics); none by default. Read by the control plane, never on the data path.
    fn extended_stats(&self) -> Vec<(String, u64)> {
        Vec::new()
    }

    /// What went wrong beyond the counters, one line each (a queue a peer broke and
    /// why): empty while all is well.
    fn faults(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A port's name, capabilities and statistics, for drivers with nothing more to say.
pub struct BasicPortInfo {
    pub name: String,
    pub capabilities: Capabilities,
    pub stats: PortStats,
}

impl PortInfo for BasicPortInfo {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn stats(&self) -> &PortStats {
        &self.stats
    }
}
