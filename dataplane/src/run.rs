//! `dataplane run`: the daemon. Opens the ports the topology names, starts the
//! workers, and runs until SIGINT or SIGTERM; then drains and reports.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::control::{ControlOptions, ControlServer, ControlState, InstanceLock};
use crate::pipeline::tables::ForwardingTables;
use crate::report::{DriverStats, Report};
use crate::runtime::placement::RxqAffinity;
use crate::runtime::{Runtime, RuntimeConfig, RuntimeHandle, StartError};
use crate::topology::{file::TopologyFile, Driver, Topology, TopologyError};
use ::port::PortQueues;
use port_pcap::{PcapInput, PcapPort};

pub struct RunOptions {
    pub config: PathBuf,
    pub runtime: RuntimeConfig,
    /// Receive queues pinned to workers: (port name, queue, worker).
    pub rxq_affinity: Vec<(String, u16, usize)>,
    /// Where pcap ports write what they transmit (`DIR/PORT.pcap`); none: discarded.
    pub pcap_out_dir: Option<PathBuf>,
    /// Print the counters this often while running.
    pub stats_interval: Option<Duration>,
    /// The control socket (and TCP listener); none: no control plane.
    pub control: Option<ControlOptions>,
    /// The desired state, saved after each accepted change; when it exists at start it
    /// is loaded instead of `config` (the configuration that was running).
    pub state: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Topology(#[from] TopologyError),
    #[error("ports \"{port}\": driver: {driver} ports are not supported by this build yet (supported: {SUPPORTED_DRIVERS})")]
    UnsupportedDriver { port: String, driver: &'static str },
    /// A command-line option that cannot be honoured; the message names it.
    #[error("{0}")]
    Option(String),
    #[error("ports \"{port}\": {source}")]
    Port { port: String, source: io::Error },
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Start(#[from] StartError),
    #[error("--rxq-affinity {0}:...: the topology has no such port")]
    UnknownAffinityPort(String),
}

/// The drivers `run` can open in this build.
pub const SUPPORTED_DRIVERS: &str = "pcap";

pub fn run(options: &RunOptions) -> Result<Report, RunError> {
    let config = &options.runtime;
    crate::cores::check(
        config.workers,
        &config.cores,
        &crate::cores::allowed_cores(),
    )
    .map_err(RunError::Option)?;
    if let Some(control) = &options.control {
        crate::control::check_tcp(control)?;
    }
    let resume = options.state.as_ref().filter(|state| state.exists());
    if let Some(state) = resume {
        eprintln!(
            "dataplane: resuming the configuration saved in {} (not {})",
            state.display(),
            options.config.display()
        );
    }
    let (file, topology) = load(resume.unwrap_or(&options.config))?;
    check_ports(&topology)?;
    // Before anything is opened: a second daemon on the socket touches nothing.
    let instance = options
        .control
        .as_ref()
        .map(|control| InstanceLock::acquire(&control.socket))
        .transpose()?;
    let ports = open_ports(&topology, options)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let started = Instant::now();
    let tables = Arc::new(ForwardingTables::build(&topology));
    let mut config = options.runtime.clone();
    for (name, queue, worker) in &options.rxq_affinity {
        let port = topology
            .port_by_name(name)
            .ok_or_else(|| RunError::UnknownAffinityPort(name.clone()))?;
        config.rxq_affinity.push(RxqAffinity {
            port: port.index() as u16,
            queue: *queue,
            worker: *worker,
        });
    }
    let runtime = Runtime::start(config, Arc::clone(&tables), ports)?;
    let control = match (&options.control, instance) {
        (Some(control), Some(instance)) => {
            let state = ControlState::new(file, tables, runtime.handle())?;
            let state = match &options.state {
                Some(path) => state.with_state_file(path.clone()),
                None => Ok(state),
            };
            match state.and_then(|state| ControlServer::start_locked(control, state, instance)) {
                Ok(server) => Some(server),
                Err(error) => {
                    runtime.shutdown()?;
                    return Err(error.into());
                }
            }
        }
        _ => None,
    };
    let port_names: Vec<String> = topology.ports.iter().map(|p| p.name.clone()).collect();
    let mut last_stats = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(interval) = options.stats_interval {
            if last_stats.elapsed() >= interval {
                last_stats = Instant::now();
                let report = report(
                    &runtime.handle(),
                    &port_names,
                    runtime.handle().stats(),
                    started,
                );
                println!("{}", report.to_json());
            }
        }
    }
    if let Some(control) = control {
        control.stop();
    }
    let handle = runtime.handle();
    let counters = runtime.shutdown()?;
    Ok(report(&handle, &port_names, counters, started))
}

fn report(
    runtime: &RuntimeHandle,
    port_names: &[String],
    counters: crate::counters::Counters,
    started: Instant,
) -> Report {
    Report {
        port_names: port_names.to_vec(),
        counters,
        drivers: runtime
            .ports()
            .iter()
            .map(|p| DriverStats::of(&**p))
            .collect(),
        elapsed: started.elapsed(),
        capture: Default::default(),
    }
}

/// The file as written (the control plane's desired state) and its validated model.
fn load(path: &std::path::Path) -> Result<(TopologyFile, Topology), TopologyError> {
    let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Io {
        path: path.to_owned(),
        source,
    })?;
    let file: TopologyFile = toml::from_str(&text).map_err(|source| TopologyError::Syntax {
        path: Some(path.to_owned()),
        source: Box::new(source),
    })?;
    let topology = Topology::from_file(&file)?;
    Ok((file, topology))
}

/// Refuses what `run` cannot open, without opening anything that stays open: drivers
/// this build lacks, pcap inputs that are not readable captures. `dataplane check`
/// runs it too, so that what it approves, `run` starts.
pub fn check_ports(topology: &Topology) -> Result<(), RunError> {
    for port in &topology.ports {
        match &port.driver {
            Driver::Pcap { path } => {
                if let Some(path) = path {
                    PcapInput::open(path).map_err(|source| RunError::Port {
                        port: port.name.clone(),
                        source,
                    })?;
                }
            }
            other => {
                return Err(RunError::UnsupportedDriver {
                    port: port.name.clone(),
                    driver: other.name(),
                })
            }
        }
    }
    Ok(())
}

fn open_ports(topology: &Topology, options: &RunOptions) -> Result<Vec<PortQueues>, RunError> {
    if let Some(dir) = &options.pcap_out_dir {
        std::fs::create_dir_all(dir).map_err(|error| {
            RunError::Option(format!("--pcap-out-dir {}: {error}", dir.display()))
        })?;
    }
    let mut ports = Vec::with_capacity(topology.ports.len());
    for (id, port) in topology.ports.iter().enumerate() {
        match &port.driver {
            Driver::Pcap { path } => {
                let input = path
                    .as_deref()
                    .map(PcapInput::open)
                    .transpose()
                    .map_err(|source| RunError::Port {
                        port: port.name.clone(),
                        source,
                    })?;
                let output = options
                    .pcap_out_dir
                    .as_ref()
                    .map(|dir| (dir.join(format!("{}.pcap", port.name)), false));
                ports.push(PcapPort::open(id as u16, &port.name, input, output));
            }
            other => {
                return Err(RunError::UnsupportedDriver {
                    port: port.name.clone(),
                    driver: other.name(),
                })
            }
        }
    }
    Ok(ports)
}
