//! Opening the topology's ports: one module per driver, each with a `check` (refuse
//! what cannot be opened, opening nothing that stays open) and an `open`. Drivers that
//! need a system library are behind a cargo feature of this crate.

#[cfg(feature = "af-packet")]
mod af_packet;
#[cfg(feature = "af-xdp")]
mod af_xdp;
#[cfg(feature = "dpdk")]
mod dpdk;
mod pcap;
#[cfg(feature = "tap")]
mod tap;
#[cfg(feature = "vhost-user")]
mod vhost_user;

use std::path::PathBuf;

use ::port::PortQueues;

use crate::run::RunError;
use crate::topology::{Driver, Topology};

/// What opening the ports needs besides the topology.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// Where pcap ports write what they transmit (`DIR/PORT.pcap`); none: discarded.
    pub pcap_out_dir: Option<PathBuf>,
}

/// The drivers `run` can open in this build.
pub fn supported_drivers() -> String {
    let mut drivers = vec!["pcap"];
    if cfg!(feature = "af-packet") {
        drivers.push("af-packet");
    }
    if cfg!(feature = "tap") {
        drivers.push("tap");
    }
    if cfg!(feature = "af-xdp") {
        drivers.push("af-xdp");
    }
    if cfg!(feature = "dpdk") {
        drivers.push("dpdk");
    }
    if cfg!(feature = "vhost-user") {
        drivers.push("vhost-user");
    }
    drivers.join(", ")
}

/// Refuses what `run` cannot open, without opening anything that stays open: drivers
/// this build lacks, inputs that are not there. `dataplane check` runs it too, so that
/// what it approves, `run` starts.
pub fn check(topology: &Topology) -> Result<(), RunError> {
    for port in &topology.ports {
        match &port.driver {
            Driver::Pcap { path } => pcap::check(&port.name, path.as_deref())?,
            // What a device needs is known once the EAL runs: `open` refuses it.
            #[cfg(feature = "dpdk")]
            Driver::Dpdk { .. } => {}
            #[cfg(feature = "af-packet")]
            Driver::AfPacket { ifname } => af_packet::check(&port.name, ifname)?,
            #[cfg(feature = "tap")]
            Driver::Tap { ifname } => tap::check(&port.name, ifname)?,
            #[cfg(feature = "af-xdp")]
            Driver::AfXdp { ifname } => af_xdp::check(port, ifname)?,
            #[cfg(feature = "vhost-user")]
            Driver::VhostUser { socket, mode, .. } => vhost_user::check(&port.name, socket, *mode)?,
            // Reached in builds without some driver's feature.
            #[allow(unreachable_patterns)]
            other => return Err(unsupported(&port.name, other)),
        }
    }
    Ok(())
}

/// Opens every port of the topology, in topology order (a port's index is its id).
pub fn open(topology: &Topology, options: &OpenOptions) -> Result<Vec<PortQueues>, RunError> {
    if let Some(dir) = &options.pcap_out_dir {
        std::fs::create_dir_all(dir).map_err(|error| {
            RunError::Option(format!("--pcap-out-dir {}: {error}", dir.display()))
        })?;
    }
    #[cfg(feature = "dpdk")]
    dpdk::start_eal(topology)?;
    let mut ports = Vec::with_capacity(topology.ports.len());
    for (id, port) in topology.ports.iter().enumerate() {
        let id = id as u16;
        ports.push(match &port.driver {
            Driver::Pcap { path } => pcap::open(id, &port.name, path.as_deref(), options)?,
            #[cfg(feature = "dpdk")]
            Driver::Dpdk {
                devargs,
                rx_queues,
                tx_queues,
            } => dpdk::open(
                id,
                &port.name,
                (devargs, *rx_queues, *tx_queues),
                port.mtu,
                &topology.dpdk,
            )?,
            #[cfg(feature = "af-packet")]
            Driver::AfPacket { ifname } => af_packet::open(id, port, ifname)?,
            #[cfg(feature = "tap")]
            Driver::Tap { ifname } => tap::open(id, port, ifname)?,
            #[cfg(feature = "af-xdp")]
            Driver::AfXdp { ifname } => af_xdp::open(id, port, ifname)?,
            #[cfg(feature = "vhost-user")]
            Driver::VhostUser { socket, mode } => vhost_user::open(id, port, socket, *mode)?,
            // Reached in builds without some driver's feature.
            #[allow(unreachable_patterns)]
            other => return Err(unsupported(&port.name, other)),
        });
    }
    Ok(ports)
}

fn unsupported(port: &str, driver: &Driver) -> RunError {
    RunError::UnsupportedDriver {
        port: port.to_owned(),
        driver: driver.name(),
    }
}

/// A driver's refusal, under the port's name.
#[cfg(any(feature = "af-packet", feature = "tap", feature = "af-xdp"))]
fn port_error(port: &str, source: std::io::Error) -> RunError {
    RunError::Port {
        port: port.to_owned(),
        source,
    }
}

/// The largest frame of a kernel-interface port: its MTU, the Ethernet header and
/// one VLAN tag.
#[cfg(any(feature = "af-packet", feature = "tap", feature = "af-xdp"))]
fn kernel_max_frame(port: &crate::topology::Port) -> u32 {
    u32::from(port.mtu) + 14 + 4
}
