//! DPDK ports: a NIC (by PCI address) or a virtual device (`net_pcap`, `net_ring`,
//! `net_null`, `net_tap`, `net_af_packet`, ...) through the system DPDK.
//!
//! The EAL starts once per process ([`eal::init`]), before any port opens. Each port
//! has its own mbuf pool whose private area holds the packet crate's buffer header,
//! so a received mbuf becomes a [`packet::Packet`] in place and is transmitted from
//! the same mbuf (zero copy); a packet of another backing sent on a DPDK port is
//! copied into an mbuf. The workers are the dataplane's own threads: each registers
//! with the EAL (`rte_thread_register`) on its first burst, so it gets an lcore id
//! and the pools' per-lcore caches.
//!
//! Everything is behind the `dpdk` feature, which needs the system DPDK.

#[cfg(feature = "dpdk")]
mod device;
#[cfg(feature = "dpdk")]
pub mod eal;
#[cfg(feature = "dpdk")]
mod mbuf;
#[cfg(feature = "dpdk")]
mod queues;
#[cfg(feature = "dpdk")]
mod rss;

#[cfg(feature = "dpdk")]
pub use device::{is_pci_address, DpdkPort, DpdkPortConfig};
#[cfg(feature = "dpdk")]
pub use eal::EalConfig;
