//! VXLAN (RFC 7348): encapsulation into a packet's headroom, decapsulation by moving
//! the frame start, the outer UDP source port chosen from the inner flow, and the
//! ICMP "too big" errors a VM gets when its frame no longer fits the underlay once
//! encapsulated.
//!
//! The crate knows nothing of topologies: the dataplane resolves a logical port to a
//! [`Endpoint`] and a VNI and calls [`encapsulate`]; on the uplink it calls
//! [`decapsulate`] and maps the VNI to a network itself.

pub mod decap;
pub mod encap;
pub mod icmp;

pub use decap::{decapsulate, DecapError, Decapsulated};
pub use encap::{encapsulate, inner_entropy, overhead, source_port, EncapError, Endpoint};

/// The VXLAN header length.
pub const VXLAN_HEADER: usize = 8;
/// The flags byte with the I flag alone (a valid VNI follows).
pub const FLAG_I: u8 = 0x08;
/// The UDP source port range RFC 7348 recommends (the dynamic ports).
pub const SOURCE_PORT_MIN: u16 = 49152;
