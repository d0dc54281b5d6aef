//! DPDK ports: the EAL starts once, from `[dpdk]`, before the first dpdk port opens;
//! each port is then a device found or created from its devargs.

use ::port::PortQueues;
use port_dpdk::{eal, is_pci_address, DpdkPort, DpdkPortConfig, EalConfig};

use crate::run::RunError;
use crate::topology::{Dpdk, Driver, Topology};

/// Starts the EAL if a port of the topology needs it (once per process: a second
/// call keeps the first outcome).
pub(super) fn start_eal(topology: &Topology) -> Result<(), RunError> {
    let devices: Vec<&str> = topology
        .ports
        .iter()
        .filter_map(|port| match &port.driver {
            Driver::Dpdk { devargs, .. } => Some(devargs.as_str()),
            _ => None,
        })
        .collect();
    if devices.is_empty() {
        return Ok(());
    }
    let settings = &topology.dpdk;
    let config = EalConfig {
        lcores: settings.lcores.clone(),
        memory_mb: settings.memory_mb,
        no_huge: settings.no_huge,
        file_prefix: settings.file_prefix.clone(),
        pci_devices: devices
            .into_iter()
            .filter(|devargs| is_pci_address(devargs.split(',').next().unwrap_or_default()))
            .map(str::to_owned)
            .collect(),
        args: settings.args.clone(),
    };
    eal::init(&config).map_err(|error| RunError::Option(format!("dpdk: {error}")))
}

pub(super) fn open(
    id: u16,
    name: &str,
    (devargs, rx_queues, tx_queues): (&str, u16, u16),
    mtu: u16,
    settings: &Dpdk,
) -> Result<PortQueues, RunError> {
    let config = DpdkPortConfig {
        devargs: devargs.to_owned(),
        rx_queues,
        tx_queues,
        rx_descriptors: settings.rx_descriptors,
        tx_descriptors: settings.tx_descriptors,
        mbufs: settings.mbufs,
        mbuf_cache: settings.mbuf_cache,
        mtu,
    };
    DpdkPort::open(id, name, &config).map_err(|source| RunError::Port {
        port: name.to_owned(),
        source,
    })
}
