//! `dataplane replay`: the pipeline over pcap inputs, merged by timestamp, with one
//! pcap output per port that sent packets. Every port of the topology becomes a pcap
//! port, whatever its driver.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use packet::{PoolConfig, MIN_HEADROOM};

use crate::pipeline::tables::ForwardingTables;
use crate::report::{DriverStats, Report};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::topology::{Topology, TopologyError};
use ::port::{PortQueues, RxQueue};
use port_pcap::{CaptureNoteCounters, PcapInput, PcapPort, PcapRxQueue, ReadError};

/// Buffers of the replay pool, per worker: enough for bursts, their flooded copies,
/// frames held for resolution and the shared transmit rings.
const REPLAY_BUFFERS: usize = 2048;
/// Replay accepts jumbo frames.
const REPLAY_DATA_ROOM: usize = 9216;
pub const DEFAULT_BURST: usize = 32;

pub struct ReplayOptions {
    pub config: PathBuf,
    /// (port name, capture file), in command-line order.
    pub inputs: Vec<(String, PathBuf)>,
    pub out_dir: PathBuf,
    pub burst_size: usize,
    /// Worker threads; with more than one, packets are spread by flow hash and the
    /// output keeps the order within each flow.
    pub workers: usize,
}

/// What refused a replay before it started, or stopped it.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Topology(#[from] TopologyError),
    #[error("--in {name}=...: the topology has no port \"{name}\" (its ports: {known})")]
    UnknownPort { name: String, known: String },
    #[error("--in {0}=...: the port is given more than one input")]
    DuplicateInput(String),
    #[error("input {0}")]
    Input(io::Error),
    #[error("output {0}")]
    Output(io::Error),
}

impl ReplayError {
    /// Refusals of the request itself (exit status 2) versus failures while running.
    pub fn is_usage(&self) -> bool {
        !matches!(self, ReplayError::Output(_))
    }
}

/// What a replay did.
pub type ReplayReport = Report;

pub fn replay(options: &ReplayOptions) -> Result<ReplayReport, ReplayError> {
    let topology = Topology::load(&options.config)?;
    let workers = options.workers.max(1);
    let inputs = open_inputs(&topology, options)?;
    let nanosecond = inputs.iter().any(|(_, input)| input.nanosecond());
    let ports = open_outputs(&topology, options, nanosecond, workers)?;
    // Each worker reads the captures whole, merged by timestamp, and takes the flows
    // that hash to it (software RSS), so a flow keeps its order across ports.
    let mut queues: Vec<Box<dyn RxQueue>> = Vec::with_capacity(workers);
    // Every worker reads each capture whole: the first one's inputs count the notes.
    let notes: Vec<Arc<CaptureNoteCounters>> =
        inputs.iter().map(|(_, input)| input.notes()).collect();
    let mut first = Some(inputs);
    for worker in 0..workers {
        let inputs = match first.take() {
            Some(inputs) => inputs,
            None => open_inputs(&topology, options)?,
        };
        let inputs = inputs
            .into_iter()
            .map(|(port, input)| {
                (
                    port,
                    input,
                    ports[usize::from(port)].info.stats().rx_cell(worker),
                )
            })
            .collect();
        queues.push(Box::new(PcapRxQueue::new(inputs).spread(worker, workers)));
    }
    let tables = Arc::new(ForwardingTables::build(&topology));
    let config = RuntimeConfig {
        workers,
        burst: options.burst_size,
        lossless: true,
        pool: PoolConfig {
            buffers: REPLAY_BUFFERS * workers,
            headroom: MIN_HEADROOM,
            data_room: REPLAY_DATA_ROOM,
        },
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start_with_inputs(config, tables, ports, queues)
        .map_err(|e| ReplayError::Output(io::Error::other(e.to_string())))?;
    let started = Instant::now();
    let handle = runtime.handle();
    while !runtime.finished() {
        std::thread::sleep(Duration::from_micros(200));
    }
    let counters = runtime.shutdown().map_err(|error| {
        if ReadError::is_read_error(&error) {
            ReplayError::Input(error)
        } else {
            ReplayError::Output(error)
        }
    })?;
    Ok(Report {
        port_names: topology.ports.iter().map(|p| p.name.clone()).collect(),
        counters,
        drivers: handle
            .ports()
            .iter()
            .map(|p| DriverStats::of(&**p))
            .collect(),
        // The time spent on packets: from the workers' state (connection and flow
        // tables) allocated to the last output written.
        elapsed: handle.working_time().unwrap_or_else(|| started.elapsed()),
        capture: notes.iter().map(|n| n.get()).sum(),
        last_interval: None,
    })
}

/// The captures named on the command line, by port, after checking each.
fn open_inputs(
    topology: &Topology,
    options: &ReplayOptions,
) -> Result<Vec<(u16, PcapInput)>, ReplayError> {
    let mut inputs: Vec<(u16, PcapInput)> = Vec::with_capacity(options.inputs.len());
    for (name, path) in &options.inputs {
        let Some(id) = topology.port_by_name(name) else {
            let known = topology
                .ports
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ReplayError::UnknownPort {
                name: name.clone(),
                known,
            });
        };
        let port = id.index() as u16;
        if inputs.iter().any(|(taken, _)| *taken == port) {
            return Err(ReplayError::DuplicateInput(name.clone()));
        }
        inputs.push((port, PcapInput::open(path).map_err(ReplayError::Input)?));
    }
    // Ties in time go to the port listed first in the topology.
    inputs.sort_by_key(|(port, _)| *port);
    Ok(inputs)
}

/// One pcap port per topology port, in topology order, writing `DIR/PORT.pcap`; what
/// they receive comes through the merged inputs (one receive statistics cell per
/// worker).
fn open_outputs(
    topology: &Topology,
    options: &ReplayOptions,
    nanosecond: bool,
    workers: usize,
) -> Result<Vec<PortQueues>, ReplayError> {
    std::fs::create_dir_all(&options.out_dir).map_err(|e| {
        ReplayError::Output(io::Error::new(
            e.kind(),
            format!("{}: {e}", options.out_dir.display()),
        ))
    })?;
    let mut ports = Vec::with_capacity(topology.ports.len());
    for port in &topology.ports {
        let output = options.out_dir.join(format!("{}.pcap", port.name));
        // A file left by an earlier run would read as this run's output.
        match std::fs::remove_file(&output) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ReplayError::Output(io::Error::new(
                    e.kind(),
                    format!("{}: {e}", output.display()),
                )))
            }
        }
        ports.push(PcapPort::output_only(
            &port.name,
            (output, nanosecond),
            workers,
        ));
    }
    Ok(ports)
}
