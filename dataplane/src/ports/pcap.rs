//! Capture-file ports: a file to read (optional) and a file to write (with
//! `--pcap-out-dir`).

use std::path::Path;

use ::port::PortQueues;
use port_pcap::{PcapInput, PcapPort};

use super::OpenOptions;
use crate::run::RunError;

pub(super) fn check(name: &str, path: Option<&Path>) -> Result<(), RunError> {
    if let Some(path) = path {
        PcapInput::open(path).map_err(|source| RunError::Port {
            port: name.to_owned(),
            source,
        })?;
    }
    Ok(())
}

pub(super) fn open(
    id: u16,
    name: &str,
    path: Option<&Path>,
    options: &OpenOptions,
) -> Result<PortQueues, RunError> {
    let input = path
        .map(PcapInput::open)
        .transpose()
        .map_err(|source| RunError::Port {
            port: name.to_owned(),
            source,
        })?;
    let output = options
        .pcap_out_dir
        .as_ref()
        .map(|dir| (dir.join(format!("{name}.pcap")), false));
    Ok(PcapPort::open(id, name, input, output))
}
