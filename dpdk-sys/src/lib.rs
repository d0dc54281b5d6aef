//! Raw bindings to the system DPDK: the EAL, ethdev, mbuf and mempool calls the DPDK
//! port driver uses, generated at build time from the headers pkg-config finds, plus
//! `dp_*` functions from a C shim for what DPDK only offers as static-inline functions
//! or macros (bursts, mbuf allocation, `rte_errno`, `rte_lcore_id`, flag values).
//! Everything here is `unsafe` and unchecked; `port-dpdk` is the safe layer. Without
//! the `link` feature the crate is empty.

#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    clippy::all
)]

#[cfg(feature = "link")]
include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
#[cfg(feature = "link")]
const _: () = assert!(
    std::mem::size_of::<rte_mbuf>() == 128,
    "rte_mbuf is two cache lines"
);
