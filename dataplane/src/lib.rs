//! The dataplane: topology, ports, the pipeline that composes the stages, and the
//! commands that run it.

// A packet travels by value; handing it back inside an `Err` (a full burst, a drop
// with its reason) is how ownership returns to the caller, so the error is large.
#![allow(clippy::result_large_err)]

pub mod broken_pipe;
pub mod cloud;
pub use control;
pub mod cores;
pub use pipeline;
pub use pipeline::counters;
pub mod link_watch;
pub mod logging;
pub mod ports;
pub mod replay;
pub mod report;
pub mod run;
pub use runtime;
pub use topology;

/// The port interface and the drivers this build has.
pub mod port {
    pub use ::port::*;
    pub use port_pcap as pcap;
}
