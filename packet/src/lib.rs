//! The packet core every stage and port stands on: buffers with headroom, bursts,
//! parse-once metadata, flow keys and checksums.

pub mod mac;

pub use mac::MacAddr;
