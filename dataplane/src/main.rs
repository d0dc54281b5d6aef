//! The `dataplane` command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use dataplane::control::tls::ServerTlsFiles;
use dataplane::control::{default_socket_path, ControlOptions};
use dataplane::replay::{replay, ReplayOptions, DEFAULT_BURST};
use dataplane::run::{run, RunError, RunOptions};
use dataplane::runtime::RuntimeConfig;
use dataplane::topology::Topology;

#[derive(Parser)]
#[command(
    name = "dataplane",
    version,
    about = "Userspace fast-path packet dataplane"
)]
struct Cli {
    /// Log level or filter, e.g. debug or info,dataplane=debug (default: RUST_LOG, else info).
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: dataplane::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the pipeline over pcap inputs and write one pcap per port that sent packets.
    Replay {
        /// The topology file.
        #[arg(long)]
        config: PathBuf,
        /// An input capture for a port, as PORT=FILE (pcap or pcapng); repeatable.
        #[arg(long = "in", value_name = "PORT=FILE", value_parser = port_input)]
        inputs: Vec<(String, PathBuf)>,
        /// Where DIR/PORT.pcap outputs are written.
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
        /// Print the counters as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Packets per burst (1 to 256).
        #[arg(long, default_value_t = DEFAULT_BURST as u16, value_parser = clap::value_parser!(u16).range(1..=256))]
        burst: u16,
        /// Worker threads (flows are spread over them; order is kept within a flow).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        workers: u16,
    },
    /// Run the dataplane on the ports the topology names, until SIGINT or SIGTERM.
    Run {
        /// The topology file (not with --etcd: the configuration comes from etcd).
        #[arg(long, required_unless_present = "etcd", conflicts_with = "etcd")]
        config: Option<PathBuf>,
        /// Follow the cloud's configuration in etcd (comma-separated endpoints, e.g.
        /// http://127.0.0.1:2379): this node's view under --prefix, as --node.
        #[arg(
            long,
            value_name = "ENDPOINTS",
            value_delimiter = ',',
            requires = "node"
        )]
        etcd: Vec<String>,
        /// The cloud's key prefix in etcd.
        #[arg(
            long,
            value_name = "PREFIX",
            default_value = "/cloud",
            requires = "etcd"
        )]
        prefix: String,
        /// This node's name in the cloud (its keys under PREFIX/nodes/NAME/).
        #[arg(long, value_name = "NAME", requires = "etcd")]
        node: Option<String>,
        /// Seconds this node's registration outlives its agent (the others mark it
        /// down then).
        #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..=3600), requires = "etcd")]
        etcd_lease_ttl: i64,
        /// Worker threads (default: one per core of --cores; without --cores, the
        /// machine's cores less one, at least one).
        #[arg(long)]
        workers: Option<usize>,
        /// Cores to pin the workers to, e.g. 1,2: at least one per worker, each once.
        #[arg(long, value_delimiter = ',')]
        cores: Vec<usize>,
        /// Poll without sleeping when idle (lowest latency, 100 % CPU per worker).
        #[arg(long)]
        busy_poll: bool,
        /// Pin a port's receive queue to a worker, as PORT:QUEUE:WORKER (repeatable;
        /// the other queues are spread round robin over the workers).
        #[arg(long, value_name = "PORT:QUEUE:WORKER", value_parser = rxq_affinity)]
        rxq_affinity: Vec<(String, u16, usize)>,
        /// Where pcap ports write what they transmit (DIR/PORT.pcap).
        #[arg(long, value_name = "DIR")]
        pcap_out_dir: Option<PathBuf>,
        /// Print the counters as JSON every SECONDS while running.
        #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
        stats_interval: Option<Duration>,
        /// Print the final counters as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The control socket (default: /run/dataplane/control.sock as root,
        /// $XDG_RUNTIME_DIR/dataplane/control.sock otherwise).
        #[arg(long, value_name = "PATH")]
        control_socket: Option<PathBuf>,
        /// Also serve the control API on this TCP address, e.g. 127.0.0.1:50051,
        /// with mutual TLS (the three --control-tls options are then required).
        #[arg(long, value_name = "ADDR", requires_all = ["control_tls_cert", "control_tls_key", "control_client_ca"])]
        control_tcp: Option<std::net::SocketAddr>,
        /// The TCP listener's certificate (PEM).
        #[arg(long, value_name = "FILE", requires = "control_tcp")]
        control_tls_cert: Option<PathBuf>,
        /// The TCP listener's private key (PEM).
        #[arg(long, value_name = "FILE", requires = "control_tcp")]
        control_tls_key: Option<PathBuf>,
        /// The CA whose certificates clients over TCP must present (PEM).
        #[arg(long, value_name = "FILE", requires = "control_tcp")]
        control_client_ca: Option<PathBuf>,
        /// Save the running configuration to FILE after each accepted change, and
        /// resume it from FILE at start when FILE exists (it then wins over --config).
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Run without the control socket.
        #[arg(long, conflicts_with_all = ["control_socket", "control_tcp", "metrics"])]
        no_control: bool,
        /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9100 (off by
        /// default).
        #[arg(long, value_name = "ADDR")]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Validate a topology file against what `run` needs (drivers of this build,
    /// readable pcap inputs) and say what it holds.
    Check {
        /// The topology file.
        #[arg(long)]
        config: PathBuf,
    },
}

fn port_input(value: &str) -> Result<(String, PathBuf), String> {
    match value.split_once('=') {
        Some((port, file)) if !port.is_empty() && !file.is_empty() => {
            Ok((port.to_owned(), PathBuf::from(file)))
        }
        _ => Err(format!("expected PORT=FILE, got \"{value}\"")),
    }
}

fn positive_seconds(value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => {
            Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
        }
        _ => Err(format!(
            "expected a positive number of seconds, got \"{value}\""
        )),
    }
}

fn rxq_affinity(value: &str) -> Result<(String, u16, usize), String> {
    let parts: Vec<&str> = value.rsplitn(3, ':').collect();
    let [worker, queue, port] = parts[..] else {
        return Err(format!("expected PORT:QUEUE:WORKER, got \"{value}\""));
    };
    let queue = queue
        .parse()
        .map_err(|_| format!("queue \"{queue}\" is not a queue number"))?;
    let worker = worker
        .parse()
        .map_err(|_| format!("worker \"{worker}\" is not a worker number"))?;
    Ok((port.to_owned(), queue, worker))
}

fn main() -> ExitCode {
    dataplane::broken_pipe::end_quietly_on_broken_pipe();
    let cli = Cli::parse();
    if let Err(error) = dataplane::logging::init(cli.log_level.as_deref(), cli.log_format) {
        eprintln!("dataplane: {error}");
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Replay {
            config,
            inputs,
            out_dir,
            json,
            burst,
            workers,
        } => {
            let options = ReplayOptions {
                config,
                inputs,
                out_dir,
                burst_size: usize::from(burst),
                workers: usize::from(workers),
            };
            match replay(&options) {
                Ok(report) if json => {
                    println!("{}", report.to_json());
                    ExitCode::SUCCESS
                }
                Ok(report) => {
                    print!("{}", report.to_table());
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("dataplane replay: {error}");
                    ExitCode::from(if error.is_usage() { 2 } else { 1 })
                }
            }
        }
        Command::Run {
            config,
            etcd,
            prefix,
            node,
            etcd_lease_ttl,
            workers,
            cores,
            busy_poll,
            rxq_affinity,
            pcap_out_dir,
            stats_interval,
            json,
            control_socket,
            control_tcp,
            control_tls_cert,
            control_tls_key,
            control_client_ca,
            state,
            no_control,
            metrics,
        } => {
            let control = (!no_control).then(|| ControlOptions {
                socket: control_socket.unwrap_or_else(default_socket_path),
                tcp: control_tcp,
                tls: match (control_tls_cert, control_tls_key, control_client_ca) {
                    (Some(cert), Some(key), Some(client_ca)) => Some(ServerTlsFiles {
                        cert,
                        key,
                        client_ca,
                    }),
                    _ => None,
                },
                worker_cores: cores.clone(),
                metrics,
            });
            let defaults = RuntimeConfig::default();
            #[cfg(feature = "etcd")]
            let cloud =
                node.filter(|_| !etcd.is_empty())
                    .map(|node| dataplane::cloud::AgentOptions {
                        endpoints: etcd,
                        prefix,
                        node,
                        lease_ttl: etcd_lease_ttl,
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                    });
            #[cfg(not(feature = "etcd"))]
            let cloud = {
                let _ = (prefix, node, etcd_lease_ttl);
                if !etcd.is_empty() {
                    eprintln!("dataplane: --etcd: this build has no etcd support (build with --features etcd)");
                    return ExitCode::from(2);
                }
                None
            };
            let options = RunOptions {
                config: config.unwrap_or_default(),
                cloud,
                runtime: RuntimeConfig {
                    workers: workers.unwrap_or(if cores.is_empty() {
                        defaults.workers
                    } else {
                        cores.len()
                    }),
                    cores,
                    busy_poll,
                    ..defaults
                },
                rxq_affinity,
                pcap_out_dir,
                stats_interval,
                control,
                state,
            };
            match run(&options) {
                Ok(report) => {
                    if json {
                        println!("{}", report.to_json());
                    } else {
                        print!("{}", report.to_table());
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("dataplane run: {error}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Check { config } => match Topology::load(&config)
            .map_err(RunError::from)
            .and_then(|topology| dataplane::ports::check(&topology).map(|()| topology))
        {
            Ok(topology) => {
                println!(
                    "{}: {} ports, {} networks, {} routers, {} logical ports, {} port chains",
                    config.display(),
                    topology.ports.len(),
                    topology.networks.len(),
                    topology.routers.len(),
                    topology.logical_ports.len(),
                    topology.port_chains.len()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("dataplane check: {error}");
                ExitCode::from(2)
            }
        },
    }
}
