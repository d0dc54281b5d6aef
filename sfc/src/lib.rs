//! Service function chaining with networking-sfc semantics: chains of port pair
//! groups, load distribution over a group's pairs, and the three ways a frame goes to
//! a service function and comes back: MPLS, NSH, or plain frames through the proxy.
//!
//! [`ChainTables`] is the immutable, compiled configuration; [`SfcState`] is one
//! worker's memory (flow pins, proxy flows), never shared. [`steer`] sends a packet to
//! the service function of a hop; [`take_back`] recognises a frame a function returns
//! and says which hop it completed.

mod chain;
mod expiring;
pub mod mpls;
pub mod nsh;
mod proxy;
mod recent;
mod select;
mod steer;

pub use chain::{Chain, ChainTables, Encap, Group, HopRef, Pair};
pub use expiring::ExpiringMap;
pub use proxy::ProxyTable;
pub use select::{rendezvous, FlowPins, PIN_IDLE_NS};
pub use steer::{select_pair, steer, steer_to, take_back, ReturnError, SfcState, SteerError};

/// The service index of the first group; each later hop is one less.
pub const FIRST_SERVICE_INDEX: u8 = 255;
