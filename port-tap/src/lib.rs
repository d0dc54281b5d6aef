//! The TAP port: a kernel TAP interface (created when missing, or an existing
//! persistent one attached to), one non-blocking file descriptor per queue
//! (IFF_MULTI_QUEUE). The kernel spreads what the host sends over the queues by a
//! symmetric flow hash.
//!
//! A TAP gives one frame per `read` and takes one per `write`: it has no rings to
//! map, so the data path makes a system call per frame (and one `read` more per
//! burst, the one that finds the queue empty). Frames are read straight into pool
//! buffers and written from them: nothing is allocated or copied on the way.

mod fd;

use std::io;
use std::sync::Arc;

use crossbeam::utils::CachePadded;
use packet::{Burst, Pool};
use port::{PortQueues, QueueStatsCell, RxQueue, TxQueue};
use port_netdev::{explain, Interface, InterfacePortInfo};

use fd::TapFd;

/// How to open a TAP port: `queues` file descriptors.
pub use port_netdev::InterfaceConfig as TapConfig;

/// Capabilities opening the port takes: creating or attaching to a TAP, bringing
/// its link up.
pub(crate) const NEEDS: &str = "CAP_NET_ADMIN";

pub struct TapPort;

impl TapPort {
    /// Refuses what `open` would refuse without opening anything that stays open: a
    /// name no interface may have, an interface of that name that is not a TAP, or
    /// no right to use /dev/net/tun.
    pub fn check(ifname: &str) -> io::Result<()> {
        TapFd::check(ifname)
    }

    /// Opens (creating when missing) the TAP interface with `config.queues` queues
    /// and brings its link up. It lasts while the port is open, unless it was made
    /// persistent beforehand.
    pub fn open(id: u16, name: &str, config: &TapConfig) -> io::Result<PortQueues> {
        let queues = config.queues.max(1);
        let fds = (0..queues)
            .map(|_| TapFd::open(&config.ifname))
            .collect::<io::Result<Vec<_>>>()?;
        let interface = Interface::lookup(&config.ifname)?;
        interface.set_up().map_err(|e| {
            explain(
                &format!("ifname: \"{}\": bringing the link up", config.ifname),
                NEEDS,
                e,
            )
        })?;
        let info = Arc::new(InterfacePortInfo::new(
            name,
            interface,
            queues,
            config.max_frame,
            queues > 1,
        ));
        let fds: Vec<Arc<TapFd>> = fds.into_iter().map(Arc::new).collect();
        let max_frame = config.max_frame as usize;
        Ok(PortQueues {
            rx: fds
                .iter()
                .enumerate()
                .map(|(queue, fd)| {
                    Box::new(TapRxQueue {
                        port: id,
                        fd: Arc::clone(fd),
                        max_frame,
                        stats: info.stats.rx_cell(queue),
                    }) as Box<dyn RxQueue>
                })
                .collect(),
            tx: fds
                .iter()
                .enumerate()
                .map(|(queue, fd)| {
                    Box::new(TapTxQueue {
                        fd: Arc::clone(fd),
                        max_frame,
                        stats: info.stats.tx_cell(queue),
                    }) as Box<dyn TxQueue>
                })
                .collect(),
            info,
        })
    }
}

struct TapRxQueue {
    port: u16,
    fd: Arc<TapFd>,
    max_frame: usize,
    stats: Arc<CachePadded<QueueStatsCell>>,
}

impl RxQueue for TapRxQueue {
    fn rx_burst(&mut self, pool: &mut Pool, burst: &mut Burst, max: usize) -> io::Result<usize> {
        let (mut received, mut bytes, mut errors) = (0usize, 0u64, 0u64);
        let mut spare = None;
        while received < max && !burst.is_full() {
            let mut packet = match spare.take().map_or_else(|| pool.alloc(), Ok) {
                Ok(packet) => packet,
                Err(_) => {
                    // No buffer: the frames wait in the kernel's queue (which drops
                    // past its length, counted by the interface).
                    break;
                }
            };
            // One byte more than the largest frame: a frame that fills it is too large.
            let room_len = packet.tailroom().min(self.max_frame + 1);
            let room = packet.push_back(room_len).expect("within the tailroom");
            match self.fd.read(room) {
                Ok(len) if len > 0 && len <= self.max_frame && len < room_len => {
                    packet.truncate(len);
                    packet.rx_port = self.port;
                    bytes += len as u64;
                    received += 1;
                    // Cannot be refused: the burst was not full.
                    let _ = burst.push(packet);
                }
                Ok(_) => {
                    errors += 1;
                    packet.truncate(0);
                    spare = Some(packet);
                }
                Err(error) => {
                    packet.truncate(0);
                    pool.free(packet);
                    if error.kind() != io::ErrorKind::WouldBlock {
                        errors += 1;
                    }
                    break;
                }
            }
        }
        if let Some(packet) = spare {
            pool.free(packet);
        }
        self.stats.passed(received as u64, bytes);
        if errors > 0 {
            self.stats.error(errors);
        }
        Ok(received)
    }
}

struct TapTxQueue {
    fd: Arc<TapFd>,
    max_frame: usize,
    stats: Arc<CachePadded<QueueStatsCell>>,
}

impl TxQueue for TapTxQueue {
    fn tx_burst(&mut self, burst: &mut Burst, pool: &mut Pool) -> io::Result<usize> {
        let (mut sent, mut bytes, mut errors) = (0u64, 0u64, 0u64);
        burst.send_while(|packet| {
            let len = packet.len();
            if len > self.max_frame {
                errors += 1;
                pool.free(packet);
                return Ok(());
            }
            match self.fd.write(packet.data()) {
                Ok(_) => {
                    sent += 1;
                    bytes += len as u64;
                    pool.free(packet);
                    Ok(())
                }
                // The kernel's queue is full: the rest stays with the caller.
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => Err(packet),
                Err(_) => {
                    // The interface is down (EIO) or refused the frame: dropped.
                    errors += 1;
                    pool.free(packet);
                    Ok(())
                }
            }
        });
        self.stats.passed(sent, bytes);
        if errors > 0 {
            self.stats.error(errors);
        }
        Ok(sent as usize)
    }
}
