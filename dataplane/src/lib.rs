//! The dataplane: topology, ports, the pipeline that composes the stages, and the
//! commands that run it.

// A packet travels by value; handing it back inside an `Err` (a full burst, a drop
// with its reason) is how ownership returns to the caller, so the error is large.
#![allow(clippy::result_large_err)]

pub mod control;
pub mod counters;
pub mod logging;
pub mod pipeline;
pub mod port;
pub mod replay;
pub mod report;
pub mod run;
pub mod runtime;
pub mod topology;
