//! The AF_PACKET port: a kernel network interface reached through packet sockets
//! with rings mapped into our memory, so the data path makes no system call per
//! packet (receiving makes none at all; transmitting one per burst).
//!
//! - Receive: one socket per queue, each with a TPACKET_V3 ring ([`rx`]). With several
//!   queues the sockets form a fanout group hashing flows (the kernel's own flow hash
//!   is symmetric, so both directions of a flow reach the same queue; a NIC that hands
//!   the kernel its RSS hash is as symmetric as its key). Frames this host sends are
//!   not received (PACKET_IGNORE_OUTGOING, and checked per frame).
//! - A peer that leaves checksums or segmentation to the device (a veth end with its
//!   default offloads) hands over frames whose checksum is not filled in or that are
//!   larger than the MTU (the latter counted as receive errors): such peers need
//!   their transmit offloads off (`ethtool -K DEV tx off`).
//! - Transmit: one socket per queue with a TPACKET_V2 ring ([`tx`]), bound to no
//!   protocol (it receives nothing) and bypassing the qdisc.
//! - The interface is put in promiscuous mode while the port is open (a packet
//!   socket membership, which the kernel drops when the sockets close).
//! - Frames are copied into pool buffers; one larger than the port's largest frame is
//!   a receive error.

mod rx;
mod socket;
mod tx;

use std::io;
use std::sync::Arc;

use port::{PortQueues, RxQueue, TxQueue};
use port_netdev::{explain, Interface, InterfacePortInfo};

use rx::{AfPacketRxQueue, RxRingShape};
use socket::{page_size, PacketSocket, ALL_PROTOCOLS};
use tx::{AfPacketTxQueue, TxRingShape};

/// How to open an AF_PACKET port: `queues` sockets each way.
pub use port_netdev::InterfaceConfig as AfPacketConfig;

/// Capabilities opening the port takes: packet sockets.
const NEEDS: &str = "CAP_NET_RAW";

/// Frames each transmit ring holds.
const TX_FRAMES: usize = 1024;
/// Receive ring: blocks of 256 KiB, 32 of them per queue (8 MiB).
const RX_BLOCK_SIZE: usize = 1 << 18;
const RX_BLOCKS: usize = 32;
/// A block not full after this long is handed over anyway: the latency at low rates.
const RX_RETIRE_MS: u32 = 1;

pub struct AfPacketPort;

impl AfPacketPort {
    /// Refuses what `open` would refuse, opening nothing that stays open: an interface
    /// that is not there or not Ethernet, or no right to open packet sockets.
    pub fn check(ifname: &str) -> io::Result<Interface> {
        let interface = Interface::lookup(ifname)?;
        if !interface.is_ethernet()? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ifname: \"{ifname}\" is not an Ethernet interface"),
            ));
        }
        PacketSocket::new().map_err(|e| {
            explain(
                &format!("ifname: \"{ifname}\": opening an AF_PACKET socket"),
                NEEDS,
                e,
            )
        })?;
        Ok(interface)
    }

    /// Opens the port: `config.queues` receive and transmit queues on the interface.
    pub fn open(id: u16, name: &str, config: &AfPacketConfig) -> io::Result<PortQueues> {
        let interface = Self::check(&config.ifname)?;
        let queues = config.queues.max(1);
        let max_frame = config.max_frame as usize;
        let info = Arc::new(InterfacePortInfo::new(
            name,
            interface.clone(),
            queues,
            config.max_frame,
            queues > 1,
        ));
        let rx_shape = RxRingShape {
            block_size: RX_BLOCK_SIZE.max(page_size()),
            blocks: RX_BLOCKS,
            retire_ms: RX_RETIRE_MS,
        };
        let tx_shape = TxRingShape::for_frames(max_frame, TX_FRAMES, page_size());
        let mut rx: Vec<Box<dyn RxQueue>> = Vec::with_capacity(queues.into());
        let mut fanout_id = None;
        for queue in 0..usize::from(queues) {
            let (socket, ring) = open_rx(&interface, rx_shape, queues > 1, &mut fanout_id)
                .map_err(|e| {
                    explain(
                        &format!("ifname: \"{}\": receive queue {queue}", config.ifname),
                        NEEDS,
                        e,
                    )
                })?;
            if queue == 0 {
                promiscuous(&socket, &interface).map_err(|e| {
                    explain(
                        &format!("ifname: \"{}\": promiscuous mode", config.ifname),
                        NEEDS,
                        e,
                    )
                })?;
            }
            rx.push(Box::new(AfPacketRxQueue::new(
                id,
                socket,
                ring,
                rx_shape,
                max_frame,
                info.stats.rx_cell(queue),
            )));
        }
        let mut tx: Vec<Box<dyn TxQueue>> = Vec::with_capacity(queues.into());
        for queue in 0..usize::from(queues) {
            let (socket, ring) = open_tx(&interface, tx_shape).map_err(|e| {
                explain(
                    &format!("ifname: \"{}\": transmit queue {queue}", config.ifname),
                    NEEDS,
                    e,
                )
            })?;
            tx.push(Box::new(AfPacketTxQueue {
                socket,
                ring,
                shape: tx_shape,
                max_frame,
                head: 0,
                unsent: false,
                stats: info.stats.tx_cell(queue),
            }));
        }
        Ok(PortQueues { info, rx, tx })
    }
}

/// A receive socket: V3 ring mapped, then bound (so nothing arrives before the ring
/// is there), then joined to the port's fanout group.
fn open_rx(
    interface: &Interface,
    shape: RxRingShape,
    fanout: bool,
    fanout_id: &mut Option<u16>,
) -> io::Result<(PacketSocket, socket::Mapping)> {
    let socket = PacketSocket::new()?;
    socket.set(
        libc::PACKET_VERSION,
        &(libc::tpacket_versions::TPACKET_V3 as libc::c_int),
    )?;
    // Frames this host sends on the interface (ours among them) are not received.
    socket.set(libc::PACKET_IGNORE_OUTGOING, &1 as &libc::c_int)?;
    socket.set(libc::PACKET_RX_RING, &shape.request())?;
    let ring = socket.map(shape.block_size * shape.blocks)?;
    socket.bind(interface.index(), ALL_PROTOCOLS)?;
    if fanout {
        join_fanout(&socket, fanout_id)?;
    }
    Ok((socket, ring))
}

/// Flows are hashed over the group (no rollover: a flow stays on its queue; no
/// defragmentation: fragments hash on their addresses alone, so they stay together,
/// and are not reassembled past the port's largest frame). The first socket asks the
/// kernel for a group id no one else uses; the others join it.
fn join_fanout(socket: &PacketSocket, fanout_id: &mut Option<u16>) -> io::Result<()> {
    let mode = libc::PACKET_FANOUT_HASH;
    match *fanout_id {
        None => {
            let flags = libc::PACKET_FANOUT_FLAG_UNIQUEID;
            socket.set(libc::PACKET_FANOUT, &((mode | flags) << 16))?;
            let joined: libc::c_uint = socket.get(libc::PACKET_FANOUT)?;
            *fanout_id = Some((joined & 0xffff) as u16);
        }
        Some(id) => socket.set(libc::PACKET_FANOUT, &(mode << 16 | u32::from(id)))?,
    }
    Ok(())
}

fn promiscuous(socket: &PacketSocket, interface: &Interface) -> io::Result<()> {
    let membership = libc::packet_mreq {
        mr_ifindex: interface.index() as libc::c_int,
        mr_type: libc::PACKET_MR_PROMISC as libc::c_ushort,
        mr_alen: 0,
        mr_address: [0; 8],
    };
    socket.set(libc::PACKET_ADD_MEMBERSHIP, &membership)
}

/// A transmit socket: bound to the interface with no protocol (receives nothing),
/// its frames straight to the driver, a frame the kernel refuses skipped rather than
/// stopping the ring.
fn open_tx(
    interface: &Interface,
    shape: TxRingShape,
) -> io::Result<(PacketSocket, socket::Mapping)> {
    let socket = PacketSocket::new()?;
    socket.set(
        libc::PACKET_VERSION,
        &(libc::tpacket_versions::TPACKET_V2 as libc::c_int),
    )?;
    socket.set(libc::PACKET_QDISC_BYPASS, &1 as &libc::c_int)?;
    socket.set(libc::PACKET_LOSS, &1 as &libc::c_int)?;
    socket.set(libc::PACKET_TX_RING, &shape.request())?;
    let ring = socket.map(shape.bytes())?;
    socket.bind(interface.index(), 0)?;
    Ok((socket, ring))
}
