//! Kernel TAP interfaces (`ifname`, `queues`): created when missing.

use ::port::PortQueues;
use port_tap::{TapConfig, TapPort};

use super::{kernel_max_frame, port_error};
use crate::run::RunError;
use crate::topology::Port;

pub(super) fn check(name: &str, ifname: &str) -> Result<(), RunError> {
    TapPort::check(ifname).map_err(|e| port_error(name, e))
}

pub(super) fn open(id: u16, port: &Port, ifname: &str) -> Result<PortQueues, RunError> {
    let config = TapConfig {
        ifname: ifname.to_owned(),
        queues: port.queues,
        max_frame: kernel_max_frame(port),
    };
    TapPort::open(id, &port.name, &config).map_err(|e| port_error(&port.name, e))
}
