//! Kernel interfaces through AF_XDP sockets (`ifname`, `queues`): libxdp's redirect
//! program is attached while the port is open.

use ::port::PortQueues;
use port_afxdp::{AfXdpConfig, AfXdpPort};

use super::{kernel_max_frame, port_error};
use crate::run::RunError;
use crate::topology::Port;

pub(super) fn check(port: &Port, ifname: &str) -> Result<(), RunError> {
    AfXdpPort::check(ifname, port.queues)
        .map(drop)
        .map_err(|e| port_error(&port.name, e))
}

pub(super) fn open(id: u16, port: &Port, ifname: &str) -> Result<PortQueues, RunError> {
    let config = AfXdpConfig {
        ifname: ifname.to_owned(),
        queues: port.queues,
        max_frame: kernel_max_frame(port),
    };
    AfXdpPort::open(id, &port.name, &config).map_err(|e| port_error(&port.name, e))
}
