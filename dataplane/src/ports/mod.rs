//! Opening the topology's ports: one module per driver, each with a `check` (refuse
//! what cannot be opened, opening nothing that stays open) and an `open`. Drivers that
//! need a system library are behind a cargo feature of this crate.

mod pcap;
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
            #[cfg(feature = "vhost-user")]
            Driver::VhostUser { socket, mode, .. } => vhost_user::check(&port.name, socket, *mode)?,
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
    let mut ports = Vec::with_capacity(topology.ports.len());
    for (id, port) in topology.ports.iter().enumerate() {
        let id = id as u16;
        ports.push(match &port.driver {
            Driver::Pcap { path } => pcap::open(id, &port.name, path.as_deref(), options)?,
            #[cfg(feature = "vhost-user")]
            Driver::VhostUser {
                socket,
                mode,
                queues,
            } => vhost_user::open(id, port, socket, *mode, *queues)?,
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
