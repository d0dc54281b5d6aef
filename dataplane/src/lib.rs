//! The dataplane: topology, ports, the pipeline that composes the stages, and the
//! commands that run it.

pub mod counters;
pub mod pipeline;
pub mod port;
pub mod replay;
pub mod topology;
