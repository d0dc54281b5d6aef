//! `dataplane replay`: the pipeline over pcap inputs, merged by timestamp, with one
//! pcap output per port that sent packets. Every port of the topology becomes a pcap
//! port, whatever its driver.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use packet::{Burst, Pool, PoolConfig, MIN_HEADROOM};

mod parallel;

use crate::counters::Counters;
use crate::pipeline::tables::ForwardingTables;
use crate::pipeline::{Pipeline, TxQueues};
use crate::port::pcap::{PcapInput, PcapPort};
use crate::port::Port;
use crate::report::Report;
use crate::topology::{Topology, TopologyError};

/// Buffers of the replay pool: enough for a burst and its flooded copies.
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
    let mut ports = open_ports(&topology, options)?;
    let tables = Arc::new(ForwardingTables::build(&topology));
    let pool = PoolConfig {
        buffers: REPLAY_BUFFERS,
        headroom: MIN_HEADROOM,
        data_room: REPLAY_DATA_ROOM,
    };
    // The clock starts once the buffers and the worker state (connection table, ...)
    // are allocated: the report gives the time spent on packets.
    let (counters, started) = if options.workers > 1 {
        let started = Instant::now();
        let counters = parallel::run(
            &mut ports,
            tables,
            pool,
            options.burst_size,
            options.workers,
        )?;
        (counters, started)
    } else {
        let pipeline = Pipeline::new(tables);
        let pool = Pool::new(pool);
        let started = Instant::now();
        let counters = run_one_worker(&mut ports, pipeline, pool, options.burst_size)?;
        (counters, started)
    };
    for port in &mut ports {
        port.flush().map_err(ReplayError::Output)?;
    }
    Ok(Report {
        port_names: topology.ports.iter().map(|p| p.name.clone()).collect(),
        counters,
        elapsed: started.elapsed(),
        last_interval: None,
    })
}

/// The whole replay on the calling thread: read a burst, process it, write it.
fn run_one_worker(
    ports: &mut [PcapPort],
    mut pipeline: Pipeline,
    mut pool: Pool,
    burst_size: usize,
) -> Result<Counters, ReplayError> {
    let mut counters = Counters::new(ports.len());
    let mut rx = Burst::with_capacity(burst_size);
    let mut tx = TxQueues::new(ports.len());
    loop {
        while !rx.is_full() {
            let Some(next) = earliest_input(ports) else {
                break;
            };
            ports[next]
                .rx_burst(&mut pool, &mut rx, 1, &mut counters)
                .map_err(ReplayError::Input)?;
        }
        if rx.is_empty() && earliest_input(ports).is_none() {
            pipeline.finish(&mut pool, &mut tx, &mut counters);
            for (port, queue) in tx.pending() {
                ports[port]
                    .tx_burst(queue, &mut pool, &mut counters)
                    .map_err(ReplayError::Output)?;
            }
            return Ok(counters);
        }
        pipeline.process(&mut rx, &mut pool, &mut tx, &mut counters);
        for (port, queue) in tx.pending() {
            ports[port]
                .tx_burst(queue, &mut pool, &mut counters)
                .map_err(ReplayError::Output)?;
        }
    }
}

/// The port whose next frame is the earliest; ties go to the port listed first.
pub(crate) fn earliest_input(ports: &[PcapPort]) -> Option<usize> {
    ports
        .iter()
        .enumerate()
        .filter_map(|(index, port)| port.next_timestamp().map(|ts| (ts, index)))
        .min()
        .map(|(_, index)| index)
}

/// One pcap port per topology port, in topology order, after checking every input.
fn open_ports(topology: &Topology, options: &ReplayOptions) -> Result<Vec<PcapPort>, ReplayError> {
    let mut inputs: Vec<Option<PcapInput>> = topology.ports.iter().map(|_| None).collect();
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
        if inputs[id.index()].is_some() {
            return Err(ReplayError::DuplicateInput(name.clone()));
        }
        inputs[id.index()] = Some(PcapInput::open(path).map_err(ReplayError::Input)?);
    }
    let nanosecond = inputs.iter().flatten().any(PcapInput::nanosecond);

    std::fs::create_dir_all(&options.out_dir).map_err(|e| {
        ReplayError::Output(io::Error::new(
            e.kind(),
            format!("{}: {e}", options.out_dir.display()),
        ))
    })?;
    let mut ports = Vec::with_capacity(topology.ports.len());
    for (index, (port, input)) in topology.ports.iter().zip(inputs).enumerate() {
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
        ports.push(PcapPort::new(
            index as u16,
            &port.name,
            input,
            Some((output, nanosecond)),
        ));
    }
    Ok(ports)
}
