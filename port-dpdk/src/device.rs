//! Opening a DPDK device as a port: find or create it from its devargs, give it an
//! mbuf pool, configure its queues (RSS with the symmetric key when it has several
//! receive queues and can hash), start it; and what the control plane reads from it.

use std::ffi::{CStr, CString};
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use dpdk_sys as sys;
use port::{
    BasicPortInfo, Capabilities, LinkState, PortInfo, PortQueues, PortStats, RxQueue, TxQueue,
};

use crate::eal;
use crate::mbuf::PRIV_SIZE;
use crate::queues::{DpdkRxQueue, DpdkTxQueue};
use crate::rss::symmetric_key;

/// What a DPDK port is opened with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpdkPortConfig {
    /// A PCI address (probed at EAL start) or a virtual device and its arguments.
    pub devargs: String,
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    /// Mbufs in the port's pool, and the pool's per-lcore cache.
    pub mbufs: u32,
    pub mbuf_cache: u32,
    /// The largest IP packet the port carries.
    pub mtu: u16,
}

/// A started device, stopped and closed when its last queue and its info are gone.
pub(crate) struct Device {
    pub port_id: u16,
    /// The pool its receive queues fill from, and copies for transmission come from.
    /// It is never freed: packets on its mbufs may outlive the device.
    pub pool: *mut sys::rte_mempool,
}

// SAFETY: the port id and the pool pointer are shared read-only; DPDK's pool is
// thread-safe, and its queues are used by one thread each.
unsafe impl Send for Device {}
// SAFETY: as above.
unsafe impl Sync for Device {}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: nothing uses the device any more (every queue and the info held
        // this `Arc`). Stopping flushes what drivers buffer (a pcap file's end).
        unsafe {
            sys::rte_eth_dev_stop(self.port_id);
            sys::rte_eth_dev_close(self.port_id);
        }
    }
}

pub struct DpdkPort;

impl DpdkPort {
    /// Opens the device `config.devargs` as dataplane port `id` named `name`. The EAL
    /// must have started ([`crate::eal::init`]).
    pub fn open(id: u16, name: &str, config: &DpdkPortConfig) -> io::Result<PortQueues> {
        if !eal::started() {
            return Err(io::Error::other("DPDK's EAL is not started"));
        }
        let port_id = find_or_create(&config.devargs)?;
        let info = device_info(port_id)?;
        for (what, asked, most) in [
            ("rx_queues", config.rx_queues, info.max_rx_queues),
            ("tx_queues", config.tx_queues, info.max_tx_queues),
        ] {
            if asked > most {
                return Err(io::Error::other(format!(
                    "{what}: {asked}, but device {} ({}) has at most {most}",
                    config.devargs,
                    driver_name(&info)
                )));
            }
        }
        let rss = config.rx_queues > 1 && info.flow_type_rss_offloads != 0;
        let key = symmetric_key(if info.hash_key_size > 0 {
            usize::from(info.hash_key_size)
        } else {
            40
        });
        configure(port_id, config, &info, rss, &key)?;
        let (mut rx_descriptors, mut tx_descriptors) =
            (config.rx_descriptors, config.tx_descriptors);
        // SAFETY: a configured device; the counts are read and written in place.
        check(
            unsafe {
                sys::rte_eth_dev_adjust_nb_rx_tx_desc(
                    port_id,
                    &mut rx_descriptors,
                    &mut tx_descriptors,
                )
            },
            "descriptor counts",
        )?;
        let pool = mbuf_pool(port_id, config)?;
        let device = Arc::new(Device { port_id, pool });
        // SAFETY: a configured device and its own socket's pool.
        let socket = unsafe { sys::rte_eth_dev_socket_id(port_id) }.max(0) as u32;
        for queue in 0..config.rx_queues {
            // SAFETY: default queue settings (null), a live pool.
            check(
                unsafe {
                    sys::rte_eth_rx_queue_setup(
                        port_id,
                        queue,
                        rx_descriptors,
                        socket,
                        std::ptr::null(),
                        pool,
                    )
                },
                &format!("receive queue {queue}"),
            )?;
        }
        for queue in 0..config.tx_queues {
            // SAFETY: default queue settings (null).
            check(
                unsafe {
                    sys::rte_eth_tx_queue_setup(
                        port_id,
                        queue,
                        tx_descriptors,
                        socket,
                        std::ptr::null(),
                    )
                },
                &format!("transmit queue {queue}"),
            )?;
        }
        // SAFETY: a configured device. Promiscuous: the port receives frames for the
        // MACs of the logical ports behind it, not only its own; devices without the
        // mode (files, rings) receive everything anyway, so a refusal is no error.
        unsafe { sys::rte_eth_promiscuous_enable(port_id) };
        // SAFETY: every queue is set up.
        check(unsafe { sys::rte_eth_dev_start(port_id) }, "start")?;

        let data_room =
            u32::from(sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16) - sys::RTE_PKTMBUF_HEADROOM;
        // SAFETY: the shim's function returns a constant. `configure` turned the
        // offload on when the device has it.
        let rx_checksum = info.rx_offload_capa & unsafe { sys::dp_rx_offload_ipv4_cksum() } != 0;
        let info = Arc::new(DpdkPortInfo {
            basic: BasicPortInfo {
                name: name.to_owned(),
                capabilities: Capabilities {
                    rx_queues: config.rx_queues,
                    tx_queues: config.tx_queues,
                    max_frame: data_room.min(info.max_rx_pktlen.max(64)),
                    hashes_flows: rss,
                    rx_checksum,
                },
                stats: PortStats::new(config.rx_queues.into(), config.tx_queues.into()),
            },
            device: Arc::clone(&device),
        });
        let rx = (0..config.rx_queues)
            .map(|queue| {
                Box::new(DpdkRxQueue::new(
                    Arc::clone(&device),
                    id,
                    queue,
                    info.basic.stats.rx_cell(queue.into()),
                )) as Box<dyn RxQueue>
            })
            .collect();
        let tx = (0..config.tx_queues)
            .map(|queue| {
                Box::new(DpdkTxQueue::new(
                    Arc::clone(&device),
                    queue,
                    info.basic.stats.tx_cell(queue.into()),
                )) as Box<dyn TxQueue>
            })
            .collect();
        Ok(PortQueues { info, rx, tx })
    }
}

/// The port id of the device `devargs` names: a PCI device the EAL probed at start,
/// or a virtual device created now.
fn find_or_create(devargs: &str) -> io::Result<u16> {
    let name = devargs.split(',').next().unwrap_or_default();
    let c_name = CString::new(name).map_err(|_| io::Error::other("devargs: a NUL byte"))?;
    if is_pci_address(name) {
        return port_by_name(&c_name).ok_or_else(|| {
            io::Error::other(format!(
                "devargs: no DPDK device {name}: not present, or not bound to a driver DPDK can use (vfio-pci)"
            ))
        });
    }
    let c_devargs = CString::new(devargs).map_err(|_| io::Error::other("devargs: a NUL byte"))?;
    // SAFETY: a NUL-terminated string; the EAL is started.
    let rc = unsafe { sys::rte_dev_probe(c_devargs.as_ptr()) };
    if rc < 0 {
        return Err(io::Error::other(format!(
            "devargs: DPDK cannot create device \"{devargs}\": {} (see DPDK's log above)",
            eal::error_text(rc)
        )));
    }
    port_by_name(&c_name).ok_or_else(|| {
        io::Error::other(format!(
            "devargs: device \"{devargs}\" was created but is not an ethernet device named {name}"
        ))
    })
}

fn port_by_name(name: &CStr) -> Option<u16> {
    let mut port_id = 0;
    // SAFETY: a NUL-terminated name and a place for the id.
    (unsafe { sys::rte_eth_dev_get_port_by_name(name.as_ptr(), &mut port_id) } == 0)
        .then_some(port_id)
}

/// `DDDD:BB:DD.F` or `BB:DD.F`.
pub fn is_pci_address(name: &str) -> bool {
    let hex =
        |part: &str, len: usize| part.len() == len && part.chars().all(|c| c.is_ascii_hexdigit());
    let (bus_part, function) = match name.rsplit_once('.') {
        Some(parts) => parts,
        None => return false,
    };
    let parts: Vec<&str> = bus_part.split(':').collect();
    let slot_ok = match parts.as_slice() {
        [domain, bus, device] => hex(domain, 4) && hex(bus, 2) && hex(device, 2),
        [bus, device] => hex(bus, 2) && hex(device, 2),
        _ => false,
    };
    slot_ok && function.len() == 1 && function.chars().all(|c| c.is_ascii_digit())
}

fn device_info(port_id: u16) -> io::Result<sys::rte_eth_dev_info> {
    let mut info = sys::rte_eth_dev_info::default();
    // SAFETY: a valid port id and a place for its information.
    check(
        unsafe { sys::rte_eth_dev_info_get(port_id, &mut info) },
        "device information",
    )?;
    Ok(info)
}

fn driver_name(info: &sys::rte_eth_dev_info) -> String {
    if info.driver_name.is_null() {
        return "unknown driver".into();
    }
    // SAFETY: DPDK's driver names are static NUL-terminated strings.
    unsafe { CStr::from_ptr(info.driver_name) }
        .to_string_lossy()
        .into_owned()
}

fn configure(
    port_id: u16,
    config: &DpdkPortConfig,
    info: &sys::rte_eth_dev_info,
    rss: bool,
    key: &[u8],
) -> io::Result<()> {
    let mut conf = sys::rte_eth_conf::default();
    conf.rxmode.mtu = u32::from(config.mtu)
        .min(info.max_mtu.into())
        .max(info.min_mtu.into());
    // SAFETY: the shim's functions return constants.
    let (rss_hf, rss_hash, ipv4_checksum) = unsafe {
        (
            sys::dp_rss_hf_ip_tcp_udp(),
            sys::dp_rx_offload_rss_hash(),
            sys::dp_rx_offload_ipv4_cksum(),
        )
    };
    if rss {
        conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
        // DPDK copies the key during configure; it is only read.
        conf.rx_adv_conf.rss_conf.rss_key = key.as_ptr().cast_mut();
        conf.rx_adv_conf.rss_conf.rss_key_len = key.len() as u8;
        conf.rx_adv_conf.rss_conf.rss_hf = rss_hf & info.flow_type_rss_offloads;
        conf.rxmode.offloads |= rss_hash & info.rx_offload_capa;
    }
    conf.rxmode.offloads |= ipv4_checksum & info.rx_offload_capa;
    // SAFETY: a valid port id and configuration; the key outlives the call.
    check(
        unsafe { sys::rte_eth_dev_configure(port_id, config.rx_queues, config.tx_queues, &conf) },
        "configure",
    )
}

/// The port's own pool: mbufs with the packet header in their private area and the
/// default data room (2 KiB after 128 bytes of headroom).
fn mbuf_pool(port_id: u16, config: &DpdkPortConfig) -> io::Result<*mut sys::rte_mempool> {
    // Pools outlive their devices (never freed), and port ids are reused once a device
    // closes: each pool gets a name of its own.
    static POOLS: AtomicU32 = AtomicU32::new(0);
    let number = POOLS.fetch_add(1, Ordering::Relaxed);
    let name = CString::new(format!("dataplane_{number}")).expect("no NUL");
    // SAFETY: a valid port id.
    let socket = unsafe { sys::rte_eth_dev_socket_id(port_id) };
    // SAFETY: a NUL-terminated name; sizes checked by DPDK.
    let pool = unsafe {
        sys::rte_pktmbuf_pool_create(
            name.as_ptr(),
            config.mbufs,
            config.mbuf_cache,
            PRIV_SIZE,
            sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
            socket,
        )
    };
    if pool.is_null() {
        return Err(io::Error::other(format!(
            "cannot create a pool of {} mbufs: {} (hugepages too few? see [dpdk] memory_mb, no_huge, mbufs)",
            config.mbufs,
            eal::error_text(eal::errno())
        )));
    }
    Ok(pool)
}

fn check(rc: i32, what: &str) -> io::Result<()> {
    if rc < 0 {
        return Err(io::Error::other(format!("{what}: {}", eal::error_text(rc))));
    }
    Ok(())
}

/// The control plane's view of a DPDK port: our queue counters, and the device's.
struct DpdkPortInfo {
    basic: BasicPortInfo,
    device: Arc<Device>,
}

impl PortInfo for DpdkPortInfo {
    fn name(&self) -> &str {
        &self.basic.name
    }

    fn capabilities(&self) -> Capabilities {
        self.basic.capabilities
    }

    fn link(&self) -> LinkState {
        let mut link = sys::rte_eth_link::default();
        // SAFETY: a started device and a place for its link.
        if unsafe { sys::rte_eth_link_get_nowait(self.device.port_id, &mut link) } < 0 {
            return LinkState {
                up: false,
                speed_mbps: 0,
            };
        }
        // SAFETY: a constant.
        let unknown = unsafe { sys::dp_link_speed_unknown() };
        LinkState {
            up: link.link_status() != 0,
            speed_mbps: if link.link_speed == unknown {
                0
            } else {
                link.link_speed
            },
        }
    }

    fn stats(&self) -> &PortStats {
        &self.basic.stats
    }

    /// DPDK's extended statistics, which start with its basic ones
    /// (`rx_good_packets`, `rx_missed_errors`, `rx_mbuf_allocation_errors`, ...).
    fn extended_stats(&self) -> Vec<(String, u64)> {
        xstats(self.device.port_id).unwrap_or_default()
    }
}

fn xstats(port_id: u16) -> Option<Vec<(String, u64)>> {
    // SAFETY: with null arrays both calls return how many there are.
    let count = unsafe { sys::rte_eth_xstats_get_names(port_id, std::ptr::null_mut(), 0) };
    let count = usize::try_from(count).ok().filter(|n| *n > 0)?;
    let mut names = vec![sys::rte_eth_xstat_name::default(); count];
    let mut values = vec![sys::rte_eth_xstat::default(); count];
    // SAFETY: arrays of `count` entries.
    let (named, valued) = unsafe {
        (
            sys::rte_eth_xstats_get_names(port_id, names.as_mut_ptr(), count as u32),
            sys::rte_eth_xstats_get(port_id, values.as_mut_ptr(), count as u32),
        )
    };
    if named < 0 || valued < 0 {
        return None;
    }
    let len = (named as usize).min(valued as usize).min(count);
    Some(
        values[..len]
            .iter()
            .filter_map(|value| {
                let name = names.get(value.id as usize)?;
                // SAFETY: DPDK NUL-terminates each name inside its array.
                let text = unsafe { CStr::from_ptr(name.name.as_ptr()) };
                Some((text.to_string_lossy().into_owned(), value.value))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_addresses_are_told_from_vdev_names() {
        for pci in ["0000:3b:00.0", "3b:00.1", "0000:AF:1f.7"] {
            assert!(is_pci_address(pci), "{pci}");
        }
        for other in [
            "net_pcap0",
            "net_tap0",
            "0000:3b:00",
            "0000:3b:00.10",
            "zz:00.0",
            "",
        ] {
            assert!(!is_pci_address(other), "{other}");
        }
    }
}
