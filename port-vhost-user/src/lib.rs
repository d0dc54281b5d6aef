//! The vhost-user port: a VM's virtio-net device served by the dataplane, as
//! OVS-DPDK and VPP serve QEMU. The protocol runs on a thread of its own (the vhost
//! crate parses the messages); the workers poll the guest's virtqueues directly,
//! queue pair `q` as receive and transmit queue `q` of the port, copying frames
//! between guest memory and the pool's buffers.
//!
//! Offered: VERSION_1, MRG_RXBUF, INDIRECT_DESC, EVENT_IDX, MQ and STATUS; protocol
//! features MQ, REPLY_ACK, CONFIG and STATUS. Not offered: checksum and segmentation
//! offloads (frames cross complete), dirty logging (live migration).

mod backend;
mod chain;
mod device;
mod fault;
mod guest_rx;
mod guest_tx;
mod memory;
mod net;
mod session;
mod vring;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use port::{Capabilities, LinkState, PortInfo, PortQueues, PortStats, RxQueue, TxQueue};

use device::Device;
use guest_rx::GuestRxQueue;
use guest_tx::GuestTxQueue;
use vring::VringUser;

pub use fault::Fault;

/// Who owns the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// The dataplane listens; the VM's frontend connects (and connects again after a
    /// restart).
    #[default]
    Server,
    /// The frontend listens; the dataplane connects, and reconnects with backoff.
    Client,
}

#[derive(Clone, Debug)]
pub struct VhostUserConfig {
    pub socket: PathBuf,
    pub mode: Mode,
    /// Queue pairs offered to the guest (it may enable fewer): receive and transmit
    /// queues of the port.
    pub queue_pairs: u16,
    /// The MTU the configuration space announces.
    pub mtu: u16,
}

pub struct VhostUserPort;

impl VhostUserPort {
    /// Opens the port: binds the socket (server) or starts connecting (client), and
    /// returns its queues. The message thread ends when the port's info is dropped.
    pub fn open(id: u16, name: &str, config: &VhostUserConfig) -> io::Result<PortQueues> {
        if config.queue_pairs == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "at least one queue pair is needed",
            ));
        }
        let device = Arc::new(Device::new(name, config.queue_pairs, config.mtu));
        let listener = match config.mode {
            Mode::Server => Some(session::bind(&config.socket)?),
            Mode::Client => None,
        };
        let thread_device = Arc::clone(&device);
        let socket = config.socket.clone();
        std::thread::Builder::new()
            .name(format!("vhost-{name}"))
            .spawn(move || match listener {
                Some(listener) => session::serve_listener(thread_device, listener, socket),
                None => session::serve_client(thread_device, socket),
            })?;
        let pairs = usize::from(config.queue_pairs);
        let info = Arc::new(VhostUserPortInfo {
            capabilities: Capabilities {
                rx_queues: config.queue_pairs,
                tx_queues: config.queue_pairs,
                max_frame: u32::from(config.mtu) + 18,
                hashes_flows: false,
                rx_checksum: false,
            },
            stats: PortStats::new(pairs, pairs),
            device: Arc::clone(&device),
        });
        let rx = (0..pairs)
            .map(|q| {
                let vring = VringUser::new(Arc::clone(&device.slots[2 * q + 1]));
                Box::new(GuestTxQueue::new(id, vring, info.stats.rx_cell(q))) as Box<dyn RxQueue>
            })
            .collect();
        let tx = (0..pairs)
            .map(|q| {
                let vring = VringUser::new(Arc::clone(&device.slots[2 * q]));
                Box::new(GuestRxQueue::new(vring, info.stats.tx_cell(q))) as Box<dyn TxQueue>
            })
            .collect();
        Ok(PortQueues { info, rx, tx })
    }
}

pub struct VhostUserPortInfo {
    capabilities: Capabilities,
    stats: PortStats,
    device: Arc<Device>,
}

impl VhostUserPortInfo {
    /// Frontend sessions so far.
    pub fn sessions(&self) -> u64 {
        self.device.sessions.load(Ordering::Relaxed)
    }
}

impl PortInfo for VhostUserPortInfo {
    fn name(&self) -> &str {
        &self.device.name
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn link(&self) -> LinkState {
        LinkState {
            up: self.device.link_up(),
            speed_mbps: 0,
        }
    }

    fn stats(&self) -> &PortStats {
        &self.stats
    }

    fn faults(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (index, slot) in self.device.slots.iter().enumerate() {
            let (pair, side) = (index / 2, if index % 2 == 0 { "rx" } else { "tx" });
            for (fault, count) in slot.faults() {
                if count > 0 {
                    out.push(format!(
                        "guest {side} queue {pair}: {} (x{count}){}",
                        fault.reason(),
                        if slot.is_broken() { ", stopped" } else { "" }
                    ));
                }
            }
        }
        out
    }
}

impl Drop for VhostUserPortInfo {
    fn drop(&mut self) {
        self.device.stop.store(true, Ordering::Relaxed);
    }
}
