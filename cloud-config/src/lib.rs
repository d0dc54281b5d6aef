//! Cloud-wide configuration in etcd: the key layout ([`layout`]), the objects the
//! keys hold, each node's view of them, the agent that follows etcd and applies that
//! view through the control state (the same validated snapshot path as the control
//! API), the node's registration under a lease, and what `dpctl` writes and reads.

pub mod agent;
pub mod cloud_file;
pub mod layout;
pub mod nodes;
pub mod objects;
pub mod reconcile;
pub mod registration;
pub mod view;

#[cfg(test)]
mod tests;

pub use agent::{Agent, AgentOptions};
