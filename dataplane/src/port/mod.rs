//! Ports: where bursts come from and go to.

mod capture_link;
pub mod memory;
pub mod pcap;

use std::io;

use packet::{Burst, Pool};

use crate::counters::Counters;

/// A dataplane port, polled by one worker: burst receive and burst transmit.
pub trait Port: Send {
    /// The port's name in the topology.
    fn name(&self) -> &str;

    /// Receives up to `max` frames into `burst` (never past its capacity), counting
    /// them as received on this port; a frame that cannot be taken (too large, no
    /// buffer) is counted as received and dropped. Returns how many were added.
    fn rx_burst(
        &mut self,
        pool: &mut Pool,
        burst: &mut Burst,
        max: usize,
        counters: &mut Counters,
    ) -> io::Result<usize>;

    /// Transmits every packet of `burst`, leaving it empty; the buffers go back to
    /// `pool`. Returns how many were sent.
    fn tx_burst(
        &mut self,
        burst: &mut Burst,
        pool: &mut Pool,
        counters: &mut Counters,
    ) -> io::Result<usize>;

    /// Pushes out anything the port buffers.
    fn flush(&mut self) -> io::Result<()>;
}
