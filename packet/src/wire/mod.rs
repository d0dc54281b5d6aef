//! Byte-level views and emitters for the control messages the node answers or sends
//! itself on the uplink and in tenant networks: ARP and IPv6 neighbour discovery.
//! They work on borrowed buffers, so nothing is allocated per packet.

pub mod arp;
pub mod nd;
