//! vhost-user ports: a VM's virtio-net device on a Unix socket, the dataplane as
//! server (it binds the socket) or client (it connects to the VM's, and reconnects).

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use ::port::PortQueues;
use port_vhost_user::{Mode, VhostUserConfig, VhostUserPort};

use crate::run::RunError;
use crate::topology::{Port, VhostMode};

fn refused(name: &str, socket: &Path, reason: impl std::fmt::Display) -> RunError {
    RunError::Port {
        port: name.to_owned(),
        source: io::Error::other(format!("socket: {}: {reason}", socket.display())),
    }
}

/// A server socket needs its directory, and nothing but a stale socket at its path;
/// a client's socket may appear later (the VM starts after the dataplane).
pub(super) fn check(name: &str, socket: &Path, mode: VhostMode) -> Result<(), RunError> {
    if mode == VhostMode::Client {
        return Ok(());
    }
    let dir = match socket.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(refused(
            name,
            socket,
            format!("directory {} does not exist", dir.display()),
        ));
    }
    match std::fs::symlink_metadata(socket) {
        Ok(meta) if !meta.file_type().is_socket() => {
            Err(refused(name, socket, "exists and is not a socket"))
        }
        _ => Ok(()),
    }
}

pub(super) fn open(
    id: u16,
    port: &Port,
    socket: &Path,
    mode: VhostMode,
) -> Result<PortQueues, RunError> {
    check(&port.name, socket, mode)?;
    let config = VhostUserConfig {
        socket: socket.to_owned(),
        mode: match mode {
            VhostMode::Server => Mode::Server,
            VhostMode::Client => Mode::Client,
        },
        queue_pairs: port.queues,
        mtu: port.mtu,
    };
    VhostUserPort::open(id, &port.name, &config).map_err(|error| refused(&port.name, socket, error))
}
