//! The packet core every stage and port stands on: buffers with headroom, bursts,
//! parse-once metadata, flow keys, checksums and the wire formats the node speaks.

pub mod buffer;
pub mod burst;
pub mod checksum;
pub mod external;
mod fast_parse;
pub mod flow;
pub mod flow_cache;
pub mod mac;
pub mod meta;
pub mod parse;
pub mod pool;
mod region;
pub mod rewrite;
pub mod wire;

pub use buffer::{Packet, PacketHeader};
pub use burst::{Burst, MAX_BURST};
pub use external::{ExternalFrame, ExternalOps, EXTERNAL_HEADER_ALIGN, EXTERNAL_HEADER_SIZE};
pub use flow::FlowKey;
pub use flow_cache::FlowCache;
pub use mac::MacAddr;
pub use meta::{Meta, Tunnel, L3, L4};
pub use parse::{parse, parse_general, parse_into, Layer, ParseError, ParseErrorKind};
pub use pool::{AllocError, Pool, PoolConfig, SharedPool, MIN_HEADROOM};
pub use region::Pages;
