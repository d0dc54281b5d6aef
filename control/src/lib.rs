//! The control socket: a gRPC server (tonic) on a Unix socket, and optionally on
//! TCP with mutual TLS, through which everything the topology file says can be created,
//! changed, inspected, traced and captured while the dataplane runs. It runs on its
//! own thread with a single-threaded tokio runtime, never on a worker.

// A packet travels by value; handing it back inside an `Err` (a full burst, a drop
// with its reason) is how ownership returns to the caller, so the error is large.
#![allow(clippy::result_large_err)]

pub mod client;
pub mod cloud_status;
pub mod connections;
mod convert;
mod frame;
mod instance;
mod metrics;
mod server;
mod service;
mod state;
pub mod state_file;
pub mod stats;
mod status;
pub mod tls;
mod views;

pub mod proto {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("dataplane.v1");
    /// The encoded descriptors of dataplane.proto, for the reflection service.
    pub const DESCRIPTOR: &[u8] = tonic::include_file_descriptor_set!("dataplane_descriptor");
}

pub use instance::{lock_path, InstanceLock};
pub use server::{check_tcp, default_socket_path, ControlOptions, ControlServer};
pub use service::SharedState;
pub use state::ControlState;
