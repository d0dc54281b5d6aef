//! Kernel interfaces through AF_PACKET sockets (`ifname`, `queues`).

use ::port::PortQueues;
use port_afpacket::{AfPacketConfig, AfPacketPort};

use super::{kernel_max_frame, port_error};
use crate::run::RunError;
use crate::topology::Port;

pub(super) fn check(name: &str, ifname: &str) -> Result<(), RunError> {
    AfPacketPort::check(ifname)
        .map(drop)
        .map_err(|e| port_error(name, e))
}

pub(super) fn open(id: u16, port: &Port, ifname: &str) -> Result<PortQueues, RunError> {
    let config = AfPacketConfig {
        ifname: ifname.to_owned(),
        queues: port.queues,
        max_frame: kernel_max_frame(port),
    };
    AfPacketPort::open(id, &port.name, &config).map_err(|e| port_error(&port.name, e))
}
