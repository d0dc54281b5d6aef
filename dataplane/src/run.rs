//! `dataplane run`: the daemon. Opens the ports the topology names, starts the
//! workers, and runs until SIGINT or SIGTERM; then drains and reports.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::control::cloud_status::CloudStatus;
use crate::control::{ControlOptions, ControlServer, ControlState, InstanceLock};
use crate::counters::Counters;
use crate::link_watch::LinkWatch;
use crate::pipeline::tables::ForwardingTables;
use crate::ports::OpenOptions;
use crate::report::{DriverStats, Interval, Report};
use crate::runtime::placement::RxqAffinity;
use crate::runtime::{Runtime, RuntimeConfig, RuntimeHandle, StartError};
use crate::topology::{file::TopologyFile, Topology, TopologyError};

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
    /// Follow the cloud's configuration in etcd instead of `config` (the agent).
    pub cloud: Option<crate::cloud::AgentOptions>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Topology(#[from] TopologyError),
    #[error(
        "ports \"{port}\": driver: {driver} ports are not supported by this build (supported: {})",
        crate::ports::supported_drivers()
    )]
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
    let (file, topology, initial) = match &options.cloud {
        Some(cloud) => crate::cloud::load(cloud, resume.map(PathBuf::as_path))?,
        None => {
            if let Some(state) = resume {
                eprintln!(
                    "dataplane: resuming the configuration saved in {} (not {})",
                    state.display(),
                    options.config.display()
                );
            }
            let (file, topology) = load(resume.unwrap_or(&options.config))?;
            (file, topology, None)
        }
    };
    crate::ports::check(&topology)?;
    // Before anything is opened: a second daemon on the socket touches nothing.
    let instance = options
        .control
        .as_ref()
        .map(|control| InstanceLock::acquire(&control.socket))
        .transpose()?;
    let ports = crate::ports::open(
        &topology,
        &OpenOptions {
            pcap_out_dir: options.pcap_out_dir.clone(),
        },
    )?;
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
    let cloud_status = options
        .cloud
        .as_ref()
        .map(|cloud| Arc::new(CloudStatus::new(crate::cloud::status(cloud))));
    let shared = if options.control.is_some() || options.cloud.is_some() {
        let state = ControlState::new(file, tables, runtime.handle())?;
        let state = match &options.state {
            Some(path) => state.with_state_file(path.clone()),
            None => Ok(state),
        };
        let state = match (state, &cloud_status) {
            (Ok(state), Some(status)) => Ok(state.with_cloud_status(Arc::clone(status))),
            (state, _) => state,
        };
        match state {
            Ok(state) => Some(Arc::new(Mutex::new(state))),
            Err(error) => {
                runtime.shutdown()?;
                return Err(error.into());
            }
        }
    } else {
        None
    };
    let control = match (&options.control, instance, &shared) {
        (Some(control), Some(instance), Some(state)) => {
            match ControlServer::start_shared(control, Arc::clone(state), instance) {
                Ok(server) => Some(server),
                Err(error) => {
                    runtime.shutdown()?;
                    return Err(error.into());
                }
            }
        }
        _ => None,
    };
    let agent = match (&options.cloud, &shared, cloud_status) {
        (Some(cloud), Some(state), Some(status)) => Some(crate::cloud::spawn(
            cloud.clone(),
            Arc::clone(state),
            status,
            initial,
        )?),
        _ => None,
    };
    let port_names: Vec<String> = topology.ports.iter().map(|p| p.name.clone()).collect();
    let handle = runtime.handle();
    log_start(&topology, &handle, control.as_ref().map(|c| c.socket()));
    // Rates are reported over the last whole interval (a second unless the stats
    // are printed more or less often), not averaged over the daemon's life.
    let interval = options.stats_interval.unwrap_or(Duration::from_secs(1));
    let mut sampler = Sampler::new(&handle.stats());
    let mut links = LinkWatch::new(handle.ports());
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        links.log_changes(handle.ports());
        if sampler.since().elapsed() >= interval {
            sampler.sample(&handle.stats());
            if options.stats_interval.is_some() {
                let stats = crate::control::stats::stats_reply(&handle, &port_names);
                println!("{}", serde_json::to_value(stats).unwrap_or_default());
            }
        }
    }
    if let Some(agent) = agent {
        crate::cloud::stop(agent);
    }
    if let Some(control) = control {
        control.stop();
    }
    let handle = runtime.handle();
    let counters = runtime.shutdown()?;
    let last_interval = sampler.last_interval(&counters);
    let mut report = report(&handle, &port_names, counters, started);
    report.last_interval = Some(last_interval);
    Ok(report)
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
        last_interval: None,
    }
}

/// The start-up summary: version, socket, ports and their queues, workers, their
/// cores and the queues they poll.
fn log_start(topology: &Topology, runtime: &RuntimeHandle, socket: Option<&std::path::Path>) {
    let config = runtime.config();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        socket = %socket.map_or("none".into(), |s| s.display().to_string()),
        ports = topology.ports.len(),
        workers = config.workers,
        "dataplane started"
    );
    let placement = runtime.placement();
    for (port, workers) in topology.ports.iter().zip(placement) {
        tracing::info!(
            port = %port.name,
            driver = port.driver.name(),
            rx_queues = workers.len(),
            workers = ?workers,
            "port open"
        );
    }
    for worker in 0..config.workers {
        let core = match config.cores.len() {
            0 => "unpinned".to_owned(),
            n => config.cores[worker % n].to_string(),
        };
        let queues: Vec<String> = placement
            .iter()
            .enumerate()
            .flat_map(|(port, workers)| {
                workers
                    .iter()
                    .enumerate()
                    .filter(move |(_, w)| **w == worker)
                    .map(move |(queue, _)| format!("{}:{queue}", topology.ports[port].name))
            })
            .collect();
        tracing::info!(worker, core = %core, rx_queues = ?queues, "worker started");
    }
}

/// Totals taken at the end of each interval.
struct Sampler {
    /// The two latest samples: (when, rx, tx).
    previous: (Instant, u64, u64),
    latest: (Instant, u64, u64),
}

impl Sampler {
    fn new(counters: &Counters) -> Self {
        let now = (Instant::now(), counters.total_rx(), counters.total_tx());
        Sampler {
            previous: now,
            latest: now,
        }
    }

    fn since(&self) -> Instant {
        self.latest.0
    }

    fn sample(&mut self, counters: &Counters) {
        self.previous = self.latest;
        self.latest = (Instant::now(), counters.total_rx(), counters.total_tx());
    }

    /// The last whole interval; before the first one ends, the time since start up
    /// to `end`.
    fn last_interval(&self, end: &Counters) -> Interval {
        let (from, to) = if self.previous.0 == self.latest.0 {
            (
                self.latest,
                (Instant::now(), end.total_rx(), end.total_tx()),
            )
        } else {
            (self.previous, self.latest)
        };
        Interval {
            elapsed: to.0.duration_since(from.0),
            rx: to.1.saturating_sub(from.1),
            tx: to.2.saturating_sub(from.2),
        }
    }
}

/// The file as written (the control plane's desired state) and its validated model.
pub(crate) fn load(path: &std::path::Path) -> Result<(TopologyFile, Topology), TopologyError> {
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
