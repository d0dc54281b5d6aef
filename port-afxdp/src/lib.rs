//! The AF_XDP port: a kernel interface whose received frames an XDP program
//! redirects into our sockets before the kernel's stack sees them, through rings
//! shared with the kernel (xsk-rs over libxdp).
//!
//! - One socket per queue, bound to the interface's queue of the same number, each
//!   with a UMEM of its own: half its frames lent to the kernel to receive into (the
//!   fill ring), half ours to transmit from.
//! - libxdp loads its default program (which redirects every frame of a bound queue
//!   to its socket) when the first socket binds, and removes it when the last one
//!   closes: the port leaves the interface as it found it.
//! - Zero copy where the driver supports it, copy mode elsewhere (veth): the kernel
//!   decides at bind. Either way frames are copied between the UMEM and pool
//!   buffers, one copy each way, no allocation.
//! - System calls: none to receive (a `poll` only when the kernel asks to be woken
//!   for the fill ring), `sendto` per 32 frames transmitted (the most the kernel sends
//!   per call in copy mode).

#![cfg(feature = "libxdp")]

mod queues;

use std::ffi::CString;
use std::io;
use std::num::NonZeroU32;
use std::sync::Arc;

use port::{PortQueues, RxQueue, TxQueue};
use port_netdev::{explain, Interface, InterfacePortInfo};
use xsk_rs::config::{
    BindFlags, FrameSize, Interface as XskInterface, QueueSize, SocketConfig, UmemConfig,
};
use xsk_rs::{Socket, Umem};

use queues::{AfXdpRxQueue, AfXdpTxQueue};

/// How to open an AF_XDP port: `queues` sockets, on the interface's queues
/// 0..queues.
pub use port_netdev::InterfaceConfig as AfXdpConfig;

/// Capabilities opening the port takes: XDP sockets, and loading and attaching
/// libxdp's program.
const NEEDS: &str = "CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF";

/// Entries of each ring, and frames of each half of a UMEM.
const RING: u32 = 2048;
/// Room the kernel keeps in front of a frame in the UMEM (XDP_PACKET_HEADROOM).
const XDP_HEADROOM: u32 = 256;

pub struct AfXdpPort;

impl AfXdpPort {
    /// Refuses what `open` would refuse, without opening anything: an interface that
    /// is not there or not Ethernet, or fewer queues than asked for.
    pub fn check(ifname: &str, queues: u16) -> io::Result<Interface> {
        let interface = Interface::lookup(ifname)?;
        if !interface.is_ethernet()? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ifname: \"{ifname}\" is not an Ethernet interface"),
            ));
        }
        let have = receive_queues(ifname);
        if have < usize::from(queues) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("queues: {queues}, but \"{ifname}\" has {have} receive queue(s)"),
            ));
        }
        Ok(interface)
    }

    /// Opens `config.queues` sockets on the interface's queues 0..queues.
    pub fn open(id: u16, name: &str, config: &AfXdpConfig) -> io::Result<PortQueues> {
        let queues = config.queues.max(1);
        let interface = Self::check(&config.ifname, queues)?;
        let max_frame = config.max_frame as usize;
        // Frames hold what the interface may receive, not only what the port takes,
        // so that a frame too large for the port reaches it and is counted.
        let largest = interface
            .mtu()
            .unwrap_or(0)
            .saturating_add(18)
            .max(config.max_frame);
        let frame_size = (largest + XDP_HEADROOM)
            .next_power_of_two()
            .clamp(2048, 4096);
        let info = Arc::new(InterfacePortInfo::new(
            name,
            interface,
            queues,
            config.max_frame,
            // The NIC's RSS spreads flows; whether both directions of a flow meet
            // depends on its key, which this port does not set.
            false,
        ));
        let xsk_interface =
            XskInterface::new(CString::new(config.ifname.as_str()).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "ifname: contains a NUL byte")
            })?);
        let mut rx: Vec<Box<dyn RxQueue>> = Vec::new();
        let mut tx: Vec<Box<dyn TxQueue>> = Vec::new();
        for queue in 0..usize::from(queues) {
            let (rx_queue, tx_queue) = open_queue(
                &xsk_interface,
                queue,
                frame_size,
                || info.stats.rx_cell(queue),
                || info.stats.tx_cell(queue),
                (id, max_frame),
            )
            .map_err(|e| {
                explain(
                    &format!("ifname: \"{}\": queue {queue}", config.ifname),
                    NEEDS,
                    e,
                )
            })?;
            rx.push(Box::new(rx_queue));
            tx.push(Box::new(tx_queue));
        }
        Ok(PortQueues { info, rx, tx })
    }
}

/// One socket on the interface's queue `queue`, with a UMEM of its own.
fn open_queue(
    interface: &XskInterface,
    queue: usize,
    frame_size: u32,
    rx_stats: impl FnOnce() -> Arc<crossbeam::utils::CachePadded<port::QueueStatsCell>>,
    tx_stats: impl FnOnce() -> Arc<crossbeam::utils::CachePadded<port::QueueStatsCell>>,
    (port, max_frame): (u16, usize),
) -> io::Result<(AfXdpRxQueue, AfXdpTxQueue)> {
    let ring = QueueSize::new(RING).map_err(invalid)?;
    let umem_config = UmemConfig::builder()
        .frame_size(FrameSize::new(frame_size).map_err(invalid)?)
        .fill_queue_size(ring)
        .comp_queue_size(ring)
        .build()
        .map_err(invalid)?;
    let frames = NonZeroU32::new(2 * RING).expect("non-zero");
    let (umem, mut rx_frames) = Umem::new(umem_config, frames, false).map_err(os_error)?;
    let tx_frames = rx_frames.split_off(RING as usize);
    let socket_config = SocketConfig::builder()
        .rx_queue_size(ring)
        .tx_queue_size(ring)
        .bind_flags(BindFlags::XDP_USE_NEED_WAKEUP)
        .build();
    // SAFETY: the UMEM is this socket's alone (not shared), so libxdp loads (or
    // reuses) its program for the queue and the fill and completion rings are new.
    let (tx_ring, rx_ring, fill_and_completion) =
        unsafe { Socket::new(socket_config, &umem, interface, queue as u32) }.map_err(os_error)?;
    let (fill, completion) = fill_and_completion.ok_or_else(|| {
        io::Error::other("libxdp gave no fill and completion rings for a UMEM of its own")
    })?;
    let rx = AfXdpRxQueue::new(
        port,
        umem.clone(),
        rx_ring,
        fill,
        rx_frames,
        max_frame,
        rx_stats(),
    )?;
    let tx = AfXdpTxQueue::new(umem, tx_ring, completion, tx_frames, max_frame, tx_stats());
    Ok((rx, tx))
}

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, error.to_string())
}

/// The operating-system error under an xsk-rs error (its own message otherwise).
fn os_error(error: impl std::error::Error) -> io::Error {
    match error.source().and_then(|s| s.downcast_ref::<io::Error>()) {
        Some(inner) => match inner.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(inner.kind(), inner.to_string()),
        },
        None => io::Error::other(error.to_string()),
    }
}

/// The interface's receive queues, as sysfs lists them.
fn receive_queues(ifname: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{ifname}/queues"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count()
        })
        .unwrap_or(0)
}
