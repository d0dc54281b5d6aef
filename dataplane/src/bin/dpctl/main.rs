//! `dpctl`: the command-line client of the dataplane's control socket.
//!
//! Objects read like networking-sfc's CLI (`dpctl port-chain create NAME
//! --port-pair-group G --flow-classifier F`); tables by default, `-o json` for
//! scripts; a refusal is one line on stderr and exit status 1 (2: cannot connect or a
//! bad argument).

mod cloud;
mod objects;
mod output;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use dataplane::control::proto as pb;
use dataplane::control::{client, default_socket_path};
use objects::*;
use output::Format;

#[derive(Parser)]
#[command(
    name = "dpctl",
    version,
    about = "Control a running dataplane over its socket"
)]
struct Cli {
    /// The control socket (default: the daemon's default).
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "tcp")]
    socket: Option<PathBuf>,
    /// Connect over TCP (HOST:PORT) with mutual TLS instead of the socket.
    #[arg(long, global = true, value_name = "ADDR", requires_all = ["tls_cert", "tls_key", "tls_ca"])]
    tcp: Option<String>,
    /// This client's certificate (PEM), signed by the CA the daemon trusts.
    #[arg(long, global = true, value_name = "FILE", requires = "tcp")]
    tls_cert: Option<PathBuf>,
    /// This client's private key (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "tcp")]
    tls_key: Option<PathBuf>,
    /// The CA that signed the daemon's certificate (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "tcp")]
    tls_ca: Option<PathBuf>,
    /// The name the daemon's certificate carries (default: the host of --tcp).
    #[arg(long, global = true, value_name = "NAME", requires = "tcp")]
    tls_domain: Option<String>,
    /// Write the cloud topology to (and list the nodes of) this etcd cluster instead
    /// of talking to a dataplane: comma-separated endpoints (apply and nodes only).
    #[arg(long, global = true, value_name = "ENDPOINTS", value_delimiter = ',')]
    etcd: Vec<String>,
    /// The cloud's key prefix in etcd.
    #[arg(long, global = true, value_name = "PREFIX", default_value = "/cloud")]
    prefix: String,
    /// Output: table (default) or json.
    #[arg(short, long, global = true, value_enum, default_value = "table")]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show or change this node's settings.
    Node {
        #[command(subcommand)]
        verb: NodeVerb,
    },
    /// Dataplane ports.
    Port {
        #[command(subcommand)]
        verb: Verb<PortFields>,
    },
    /// Other nodes, reached over VXLAN.
    Chassis {
        #[command(subcommand)]
        verb: Verb<ChassisFields>,
    },
    /// Tenant networks: a prefix and a VNI each.
    Network {
        #[command(subcommand)]
        verb: Verb<NetworkFields>,
    },
    /// Distributed routers between a tenant's networks, with SNAT to the outside.
    Router {
        #[command(subcommand)]
        verb: Verb<RouterFields>,
    },
    /// The ports of VMs and service functions, here or on another chassis.
    LogicalPort {
        #[command(subcommand)]
        verb: Verb<LogicalPortFields>,
    },
    /// A service function's ingress and egress logical ports.
    PortPair {
        #[command(subcommand)]
        verb: Verb<PortPairFields>,
    },
    /// Equivalent service functions a chain hop spreads its flows over.
    PortPairGroup {
        #[command(subcommand)]
        verb: Verb<PortPairGroupFields>,
    },
    /// Which traffic enters a port chain.
    FlowClassifier {
        #[command(subcommand)]
        verb: Verb<FlowClassifierFields>,
    },
    /// Service function chains: port pair groups in order, and their classifiers.
    PortChain {
        #[command(subcommand)]
        verb: Verb<PortChainFields>,
    },
    /// Replace the whole configuration with a topology file, as one change.
    Apply {
        /// The topology file (TOML).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// With --etcd: the cloud's nodes, up (registered, lease alive) or down.
    Nodes,
    /// Where the configuration comes from: the file, or etcd (connected, revision,
    /// refused keys, nodes down).
    Status,
    /// Print the whole configuration as a topology file (TOML) that `apply -f` takes
    /// back; `-o json` for its JSON form.
    Topology,
    /// Counters: per port, drops by reason (since the last `stats clear`).
    Stats {
        #[command(subcommand)]
        action: Option<StatsAction>,
        /// One table per worker too.
        #[arg(long)]
        workers: bool,
    },
    /// Version, uptime, workers and the ports they poll.
    Show,
    /// The workers: their cores, the queues they poll, their counters.
    Worker {
        #[command(subcommand)]
        verb: WorkerVerb,
    },
    /// MACs this node learned by ARP (chassis VTEPs, the external gateway).
    #[command(alias = "neighbors")]
    Neighbours,
    /// The connection table (SNAT).
    // Filters go after `flush`, never before it: a filter given to the listing must
    // not turn into a flush of everything.
    #[command(args_conflicts_with_subcommands = true)]
    Conntrack {
        #[command(subcommand)]
        action: Option<ConntrackAction>,
        #[command(flatten)]
        filter: ConnFilterArgs,
    },
    /// Run a packet through the pipeline without sending it; show each stage's decision
    /// (exit status 1 when the packet is dropped).
    Trace(TraceArgs),
    /// Write a port's packets to a pcap file.
    Capture {
        /// The dataplane port.
        port: String,
        /// The pcap file to write.
        #[arg(short = 'w', long = "write")]
        file: PathBuf,
        /// Stop after this many packets.
        #[arg(short = 'c', long, default_value_t = 0)]
        count: u64,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 0.0)]
        duration: f64,
        /// Which packets: rx | tx | both.
        #[arg(long, default_value = "both")]
        direction: String,
        /// Only this protocol: tcp | udp | icmp | icmpv6 | arp | a number.
        #[arg(long)]
        protocol: Option<String>,
        /// Only packets from or to this IP address.
        #[arg(long)]
        host: Option<String>,
        /// Only packets from or to this TCP or UDP port.
        #[arg(long)]
        l4_port: Option<u32>,
    },
}

/// Which connections: every option given must match.
#[derive(clap::Args)]
struct ConnFilterArgs {
    /// Connections of this tenant's networks.
    #[arg(long)]
    tenant: Option<String>,
    /// Connections with this address at either end, before or after translation.
    #[arg(long)]
    address: Option<std::net::IpAddr>,
    /// Connections with this port at either end, before or after translation.
    #[arg(long)]
    port: Option<u16>,
    /// Connections in this state (case-insensitive).
    #[arg(long, value_parser = conn_state)]
    state: Option<String>,
}

/// A connection state, any case, as listed.
fn conn_state(text: &str) -> Result<String, String> {
    dataplane::control::connections::STATES
        .iter()
        .find(|state| state.eq_ignore_ascii_case(text))
        .map(|state| (*state).to_owned())
        .ok_or_else(|| {
            format!(
                "not one of {}",
                dataplane::control::connections::STATES.join(", ")
            )
        })
}

impl ConnFilterArgs {
    fn to_proto(&self) -> pb::ConnectionFilter {
        pb::ConnectionFilter {
            tenant: self.tenant.clone(),
            address: self.address.map(|a| a.to_string()),
            port: self.port.map(u32::from),
            state: self.state.clone(),
        }
    }
}

#[derive(Subcommand)]
enum StatsAction {
    /// Count from zero again (dpctl's view only: metrics and the final report keep
    /// counting).
    Clear,
}

#[derive(Subcommand)]
enum WorkerVerb {
    /// Every worker: core, queues polled, packets and drops since the last clear.
    Show,
}

#[derive(Subcommand)]
enum ConntrackAction {
    /// Remove the connections the filters match (every one without a filter).
    Flush {
        #[command(flatten)]
        filter: ConnFilterArgs,
    },
}

#[derive(Subcommand)]
enum NodeVerb {
    /// Show the node's settings.
    Show,
    /// Change the given settings.
    Update {
        #[command(flatten)]
        fields: NodeFields,
    },
}

#[derive(clap::Args)]
struct TraceArgs {
    /// The logical port the packet comes from (gives port, VLAN, source MAC and IP).
    #[arg(long = "from")]
    logical_port: Option<String>,
    /// The dataplane port it arrives on.
    #[arg(long)]
    port: Option<String>,
    /// The whole frame, in hex.
    #[arg(long, conflicts_with_all = ["dst_ip"])]
    frame_hex: Option<String>,
    /// Source MAC (default: the logical port's).
    #[arg(long)]
    src_mac: Option<String>,
    /// Destination MAC (default: the owner of the destination IP in the network, else
    /// the router).
    #[arg(long)]
    dst_mac: Option<String>,
    /// Source IP (default: the logical port's).
    #[arg(long)]
    src_ip: Option<String>,
    /// Destination IP.
    #[arg(long, required_unless_present = "frame_hex")]
    dst_ip: Option<String>,
    /// tcp | udp | icmp | icmpv6 (default: ICMP echo).
    #[arg(long)]
    protocol: Option<String>,
    /// TCP or UDP source port.
    #[arg(long)]
    sport: Option<u32>,
    /// TCP or UDP destination port.
    #[arg(long)]
    dport: Option<u32>,
    /// IP TTL or hop limit.
    #[arg(long)]
    ttl: Option<u32>,
    /// VLAN tag of the frame.
    #[arg(long)]
    vlan: Option<u32>,
    /// Trace against a copy of the live connection table (a reply finds its
    /// connection); default: an empty table.
    #[arg(long)]
    live: bool,
}

type Client = pb::dataplane_client::DataplaneClient<tonic::transport::Channel>;

enum Failure {
    /// The daemon refused: one line, exit 1.
    Refused(tonic::Status),
    /// Anything else: exit 2.
    Other(String),
    /// Said already (a traced packet was dropped): exit with this status.
    Status(u8),
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Failure::Refused(status)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::Other(error.to_string())
    }
}

/// The command line, with the options each object's `create` needs marked required
/// (`update` shares the options and needs none of them).
fn command() -> clap::Command {
    let required: [(&str, &[&str]); 9] = [
        ("port", PortFields::REQUIRED),
        ("chassis", ChassisFields::REQUIRED),
        ("network", NetworkFields::REQUIRED),
        ("router", RouterFields::REQUIRED),
        ("logical-port", LogicalPortFields::REQUIRED),
        ("port-pair", PortPairFields::REQUIRED),
        ("port-pair-group", PortPairGroupFields::REQUIRED),
        ("flow-classifier", FlowClassifierFields::REQUIRED),
        ("port-chain", PortChainFields::REQUIRED),
    ];
    required
        .into_iter()
        .fold(Cli::command(), |command, (object, ids)| {
            command.mut_subcommand(object, |object| {
                object.mut_subcommand("create", |create| {
                    ids.iter().fold(create, |create, id| {
                        create.mut_arg(*id, |a| a.required(true))
                    })
                })
            })
        })
}

fn main() -> ExitCode {
    dataplane::broken_pipe::end_quietly_on_broken_pipe();
    let cli = Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("dpctl: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(status)) => {
            let message = status.message().replace('\n', " ");
            eprintln!("dpctl: {message} ({})", code_name(status.code()));
            ExitCode::from(1)
        }
        Err(Failure::Other(message)) => {
            eprintln!("dpctl: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Status(code)) => ExitCode::from(code),
    }
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        InvalidArgument => "INVALID_ARGUMENT",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        FailedPrecondition => "FAILED_PRECONDITION",
        Unimplemented => "UNIMPLEMENTED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        Unavailable => "UNAVAILABLE",
        _ => "ERROR",
    }
}

macro_rules! object {
    ($client:ident, $format:ident, $verb:expr, $message:ident, $list:ident . $field:ident, $get:ident, $create:ident, $update:ident, $delete:ident) => {
        match $verb {
            Verb::List => {
                let reply = $client.$list(pb::Empty {}).await?.into_inner();
                output::rows($format, &reply.$field);
            }
            Verb::Show { name: Some(name) } => {
                let reply = $client.$get(pb::Name { name }).await?.into_inner();
                output::one($format, &reply);
            }
            Verb::Show { name: None } => {
                let reply = $client.$list(pb::Empty {}).await?.into_inner();
                output::rows($format, &reply.$field);
            }
            Verb::Create { name, fields } => {
                let mut message = pb::$message {
                    name,
                    ..Default::default()
                };
                fields.apply(&mut message);
                let reply = $client.$create(message).await?.into_inner();
                output::one($format, &reply);
            }
            Verb::Update { name, fields } => {
                let mut message = $client.$get(pb::Name { name }).await?.into_inner();
                fields.apply(&mut message);
                let reply = $client.$update(message).await?.into_inner();
                output::one($format, &reply);
            }
            Verb::Delete { name } => {
                let reply = $client
                    .$delete(pb::Name { name: name.clone() })
                    .await?
                    .into_inner();
                changed($format, &format!("deleted {name}"), reply.generation);
            }
        }
    };
}

fn changed(format: Format, what: &str, generation: u64) {
    if format == Format::Json {
        output::json(&serde_json::json!({ "generation": generation }));
    } else {
        output::line(&format!("{what} (generation {generation})"));
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if !cli.etcd.is_empty() {
        let command = match cli.command {
            Command::Apply { file } => cloud::Command::Apply(file),
            Command::Nodes => cloud::Command::Nodes,
            _ => return Err(Failure::Other(
                "--etcd: only apply and nodes go to etcd; the other commands talk to a dataplane"
                    .into(),
            )),
        };
        #[cfg(feature = "etcd")]
        return cloud::run(&cli.etcd, &cli.prefix, cli.output, command)
            .await
            .map_err(Failure::Other);
        #[cfg(not(feature = "etcd"))]
        {
            let _ = command;
            return Err(Failure::Other(
                "--etcd: this build has no etcd support (build with --features etcd)".into(),
            ));
        }
    }
    let mut client: Client = match (&cli.tcp, cli.tls_cert, cli.tls_key, cli.tls_ca) {
        (Some(address), Some(cert), Some(key), Some(ca)) => {
            let files = client::ClientTlsFiles { cert, key, ca };
            client::connect_tcp(address, &files, cli.tls_domain.as_deref())
                .await
                .map_err(|e| Failure::Other(format!("cannot connect to {address}: {e}")))?
        }
        _ => {
            let socket = cli.socket.unwrap_or_else(default_socket_path);
            client::connect(socket.clone()).await.map_err(|e| {
                Failure::Other(format!("cannot connect to {}: {e}", socket.display()))
            })?
        }
    };
    let c = &mut client;
    let format = cli.output;
    match cli.command {
        Command::Node { verb } => {
            let mut node = c.get_node(pb::Empty {}).await?.into_inner();
            if let NodeVerb::Update { fields } = verb {
                fields.apply(&mut node);
                node = c.update_node(node).await?.into_inner();
            }
            output::one(format, &node);
        }
        Command::Port {
            verb: Verb::Show { name },
        } => {
            let request = pb::PortStatusRequest { port: name };
            let reply = c.port_status(request).await?.into_inner();
            output::rows(format, &reply.ports);
        }
        Command::Port { verb } => object!(
            c,
            format,
            verb,
            Port,
            list_ports.ports,
            get_port,
            create_port,
            update_port,
            delete_port
        ),
        Command::Chassis { verb } => object!(
            c,
            format,
            verb,
            Chassis,
            list_chassis.chassis,
            get_chassis,
            create_chassis,
            update_chassis,
            delete_chassis
        ),
        Command::Network { verb } => object!(
            c,
            format,
            verb,
            Network,
            list_networks.networks,
            get_network,
            create_network,
            update_network,
            delete_network
        ),
        Command::Router { verb } => object!(
            c,
            format,
            verb,
            Router,
            list_routers.routers,
            get_router,
            create_router,
            update_router,
            delete_router
        ),
        Command::LogicalPort { verb } => object!(
            c,
            format,
            verb,
            LogicalPort,
            list_logical_ports.logical_ports,
            get_logical_port,
            create_logical_port,
            update_logical_port,
            delete_logical_port
        ),
        Command::PortPair { verb } => object!(
            c,
            format,
            verb,
            PortPair,
            list_port_pairs.port_pairs,
            get_port_pair,
            create_port_pair,
            update_port_pair,
            delete_port_pair
        ),
        Command::PortPairGroup { verb } => object!(
            c,
            format,
            verb,
            PortPairGroup,
            list_port_pair_groups.port_pair_groups,
            get_port_pair_group,
            create_port_pair_group,
            update_port_pair_group,
            delete_port_pair_group
        ),
        Command::FlowClassifier { verb } => object!(
            c,
            format,
            verb,
            FlowClassifier,
            list_flow_classifiers.flow_classifiers,
            get_flow_classifier,
            create_flow_classifier,
            update_flow_classifier,
            delete_flow_classifier
        ),
        Command::PortChain { mut verb } => {
            if let Verb::Create { fields, .. } = &mut verb {
                if fields.chain_id.is_none() {
                    let chains = c.list_port_chains(pb::Empty {}).await?.into_inner();
                    let used: Vec<i64> = chains.port_chains.iter().map(|p| p.chain_id).collect();
                    fields.chain_id = (1..).find(|id| !used.contains(id));
                }
            }
            object!(
                c,
                format,
                verb,
                PortChain,
                list_port_chains.port_chains,
                get_port_chain,
                create_port_chain,
                update_port_chain,
                delete_port_chain
            )
        }
        Command::Apply { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Failure::Other(format!("{}: {e}", file.display())))?;
            let request = pb::ApplyRequest {
                source: Some(pb::apply_request::Source::Toml(text)),
            };
            let reply = c.apply(request).await?.into_inner();
            changed(
                format,
                &format!("applied {}", file.display()),
                reply.generation,
            );
        }
        Command::Nodes => {
            return Err(Failure::Other(
                "nodes: give --etcd ENDPOINTS (the nodes are the cloud's)".into(),
            ))
        }
        Command::Status => {
            let reply = c.cloud_status(pb::Empty {}).await?.into_inner();
            cloud::status(format, &reply);
        }
        Command::Topology => {
            let reply = c.get_topology(pb::Empty {}).await?.into_inner();
            if format == Format::Json {
                let text = serde_json::to_string_pretty(&reply).unwrap_or_default();
                output::line(&text);
            } else {
                output::line(reply.toml.trim_end_matches('\n'));
            }
        }
        Command::Stats {
            action: Some(StatsAction::Clear),
            ..
        } => {
            let reply = c.clear_stats(pb::Empty {}).await?.into_inner();
            changed(format, "counters cleared", reply.generation);
        }
        Command::Stats { workers, .. } => {
            let reply = c.stats(pb::Empty {}).await?.into_inner();
            stats(format, &reply, workers);
        }
        Command::Show => {
            let reply = c.show(pb::Empty {}).await?.into_inner();
            show(format, &reply);
        }
        Command::Worker {
            verb: WorkerVerb::Show,
        } => {
            let reply = c.worker_status(pb::Empty {}).await?.into_inner();
            output::rows(format, &reply.workers);
        }
        Command::Neighbours => {
            let reply = c.list_neighbours(pb::Empty {}).await?.into_inner();
            output::rows(format, &reply.neighbours);
        }
        Command::Conntrack {
            action: Some(ConntrackAction::Flush { filter }),
            ..
        } => {
            let reply = c.flush_connections(filter.to_proto()).await?.into_inner();
            if format == Format::Json {
                output::json(&serde_json::to_value(reply).unwrap_or_default());
            } else {
                output::line(&format!("{} connections flushed", reply.flushed));
            }
            if reply.incomplete {
                eprintln!(
                    "dpctl: a worker did not answer in time: its connections were not flushed"
                );
            }
        }
        Command::Conntrack { filter, .. } => {
            let reply = c.list_connections(filter.to_proto()).await?.into_inner();
            output::rows(format, &reply.connections);
            if reply.truncated {
                eprintln!("dpctl: the listing is incomplete (a worker did not answer in time, or has more connections than it hands over at once)");
            }
        }
        Command::Trace(args) => trace(c, format, args).await?,
        Command::Capture {
            port,
            file,
            count,
            duration,
            direction,
            protocol,
            host,
            l4_port,
        } => {
            let direction = match direction.as_str() {
                "rx" => pb::Direction::Rx,
                "tx" => pb::Direction::Tx,
                "both" => pb::Direction::Both,
                other => {
                    return Err(Failure::Other(format!(
                        "--direction: \"{other}\" is not rx, tx or both"
                    )))
                }
            };
            let request = pb::CaptureRequest {
                port,
                direction: direction as i32,
                count,
                duration_ms: (duration.max(0.0) * 1000.0) as u64,
                filter: Some(pb::CaptureFilter {
                    protocol,
                    host,
                    l4_port,
                }),
            };
            capture(c, request, &file).await?;
        }
    }
    Ok(())
}

fn stats(format: Format, reply: &pb::StatsReply, workers: bool) {
    if format == Format::Json {
        output::json(&serde_json::to_value(reply).unwrap_or_default());
        return;
    }
    let show = |title: &str, counters: &pb::Counters| {
        output::line(title);
        let rows: Vec<Vec<String>> = counters
            .ports
            .iter()
            .map(|p| vec![p.port.clone(), p.rx.to_string(), p.tx.to_string()])
            .collect();
        output::print_table(
            &["PORT".into(), "RX(packets)".into(), "TX(packets)".into()],
            &rows,
        );
        let drops: Vec<Vec<String>> = counters
            .drops
            .iter()
            .filter(|d| d.count > 0)
            .map(|d| vec![d.reason.clone(), d.count.to_string()])
            .collect();
        if !drops.is_empty() {
            output::print_table(&["DROP_REASON".into(), "PACKETS".into()], &drops);
        }
    };
    if let Some(total) = &reply.total {
        show(&format!("generation {}", reply.generation), total);
    }
    output::line(&format!(
        "capture_dropped {} (copies the capture ring had no room for)",
        reply.capture_dropped
    ));
    let drivers: Vec<Vec<String>> = reply
        .drivers
        .iter()
        .filter(|d| d.rx_errors + d.rx_missed + d.tx_errors > 0)
        .map(|d| {
            let counts = [d.rx_errors, d.rx_missed, d.tx_errors];
            std::iter::once(d.port.clone())
                .chain(counts.iter().map(u64::to_string))
                .collect()
        })
        .collect();
    if !drivers.is_empty() {
        let header = [
            "PORT",
            "RX_ERRORS(packets)",
            "RX_MISSED(packets)",
            "TX_ERRORS(packets)",
        ]
        .map(String::from);
        output::print_table(&header, &drivers);
    }
    // What devices count themselves (DPDK ports), the counters that are not zero.
    let device: Vec<Vec<String>> = reply
        .drivers
        .iter()
        .flat_map(|d| {
            d.device
                .iter()
                .filter(|c| c.value > 0)
                .map(|c| vec![d.port.clone(), c.name.clone(), c.value.to_string()])
        })
        .collect();
    if !device.is_empty() {
        let header = ["PORT", "DEVICE_COUNTER", "VALUE"].map(String::from);
        output::print_table(&header, &device);
    }
    for driver in &reply.drivers {
        for fault in &driver.faults {
            output::line(&format!("port {}: {fault}", driver.port));
        }
    }
    if workers {
        for (index, counters) in reply.workers.iter().enumerate() {
            show(&format!("worker {index}"), counters);
        }
    }
}

fn show(format: Format, reply: &pb::ShowReply) {
    if format == Format::Json {
        output::json(&serde_json::to_value(reply).unwrap_or_default());
        return;
    }
    output::line(&format!(
        "dataplane {}, up {:.1} s, configuration generation {}",
        reply.version,
        reply.uptime_ms as f64 / 1000.0,
        reply.generation
    ));
    output::rows(format, &reply.workers);
    output::rows(format, &reply.ports);
}

async fn trace(c: &mut Client, format: Format, args: TraceArgs) -> Result<(), Failure> {
    let packet = match args.frame_hex {
        Some(hex) => pb::trace_request::Packet::Frame(
            decode_hex(&hex).map_err(|e| Failure::Other(format!("--frame-hex: {e}")))?,
        ),
        None => pb::trace_request::Packet::Fields(pb::PacketFields {
            src_mac: args.src_mac,
            dst_mac: args.dst_mac,
            src_ip: args.src_ip,
            dst_ip: args.dst_ip.unwrap_or_default(),
            protocol: args.protocol,
            src_port: args.sport,
            dst_port: args.dport,
            ttl: args.ttl,
            vlan: args.vlan,
        }),
    };
    let request = pb::TraceRequest {
        port: args.port,
        logical_port: args.logical_port,
        packet: Some(packet),
        live: args.live,
    };
    let reply = c.trace(request).await?.into_inner();
    // A dropped packet is the trace's answer, and its exit status (1).
    let outcome = match reply.drop_reason {
        Some(_) => Err(Failure::Status(1)),
        None => Ok(()),
    };
    if format == Format::Json {
        output::json(&serde_json::to_value(&reply).unwrap_or_default());
        return outcome;
    }
    let rows: Vec<Vec<String>> = reply
        .steps
        .iter()
        .map(|s| {
            let mut fields: Vec<String> =
                s.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            fields.sort();
            vec![s.stage.clone(), s.decision.clone(), fields.join(" ")]
        })
        .collect();
    output::print_table(&["STAGE".into(), "DECISION".into(), "FIELDS".into()], &rows);
    for out in &reply.outputs {
        let vlan = out.vlan.map(|v| format!(" vlan {v}")).unwrap_or_default();
        output::line(&format!(
            "output: port {}{vlan}, {} bytes",
            out.port,
            out.frame.len()
        ));
    }
    if !reply.waiting_for.is_empty() {
        output::line(&format!(
            "held: waits for the MAC of {} (ARP on the uplink), then leaves",
            reply.waiting_for.join(", ")
        ));
    }
    if let Some(reason) = &reply.drop_reason {
        output::line(&format!("dropped: {reason}"));
    }
    outcome
}

fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            u8::from_str_radix(pair, 16).map_err(|_| format!("\"{pair}\" is not hex"))
        })
        .collect()
}

async fn capture(
    c: &mut Client,
    request: pb::CaptureRequest,
    path: &PathBuf,
) -> Result<(), Failure> {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    use pcap_file::{DataLink, TsResolution};

    let file = std::fs::File::create(path)
        .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::NanoSecond,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(std::io::BufWriter::new(file), header)
        .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
    let mut stream = c.capture(request).await?.into_inner();
    let (mut written, mut dropped) = (0u64, 0u64);
    loop {
        let next = tokio::select! {
            next = stream.message() => next?,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(packet) = next else { break };
        let stamp = Duration::from_nanos(packet.timestamp_ns);
        writer
            .write_packet(&PcapPacket::new(
                stamp,
                packet.frame.len() as u32,
                &packet.frame,
            ))
            .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
        written += 1;
        dropped = packet.dropped;
    }
    writer
        .into_writer()
        .flush()
        .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
    eprintln!(
        "{written} packets written to {} ({dropped} dropped by the capture ring)",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand and option, at any depth, says what it is for.
    #[test]
    fn every_command_and_option_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_name() != "help" && sub.get_about().is_none() {
                    missing.push(path.clone());
                }
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&command(), "dpctl", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:?}");
    }

    #[test]
    fn create_names_a_missing_required_option_and_update_needs_none() {
        let error = command()
            .try_get_matches_from(["dpctl", "network", "create", "n1", "--tenant", "t"])
            .expect_err("refused");
        assert_eq!(
            error.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        let text = error.to_string();
        assert!(text.contains("--vni") && text.contains("--cidr"), "{text}");
        assert!(command()
            .try_get_matches_from(["dpctl", "network", "update", "n1", "--vni", "7"])
            .is_ok());
    }

    #[test]
    fn port_chain_takes_the_mpls_ttl() {
        let matches = command()
            .try_get_matches_from(["dpctl", "port-chain", "update", "c", "--mpls-ttl", "64"])
            .unwrap();
        let Command::PortChain {
            verb: Verb::Update { fields, .. },
        } = Cli::from_arg_matches(&matches).unwrap().command
        else {
            panic!("not a port-chain update");
        };
        let mut chain = pb::PortChain::default();
        fields.apply(&mut chain);
        assert_eq!(chain.mpls_ttl, Some(64));
    }

    #[test]
    fn conntrack_filters_are_checked_by_option() {
        for (args, option) in [
            (&["--state", "BOGUS"][..], "--state"),
            (&["--address", "1.2.3"][..], "--address"),
            (&["--port", "70000"][..], "--port"),
        ] {
            let error = command()
                .try_get_matches_from(["dpctl", "conntrack"].iter().chain(args))
                .expect_err("refused");
            assert!(error.to_string().contains(option), "{error}");
        }
        let matches = command()
            .try_get_matches_from(["dpctl", "conntrack", "--state", "established"])
            .unwrap();
        let Command::Conntrack { filter, .. } = Cli::from_arg_matches(&matches).unwrap().command
        else {
            panic!("not conntrack");
        };
        assert_eq!(filter.to_proto().state.as_deref(), Some("ESTABLISHED"));
    }

    #[test]
    fn a_listing_filter_never_precedes_a_flush() {
        let error = command()
            .try_get_matches_from(["dpctl", "conntrack", "--tenant", "green", "flush"])
            .expect_err("refused");
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
        let matches = command()
            .try_get_matches_from(["dpctl", "conntrack", "flush", "--tenant", "green"])
            .unwrap();
        let Command::Conntrack {
            action: Some(ConntrackAction::Flush { filter }),
            ..
        } = Cli::from_arg_matches(&matches).unwrap().command
        else {
            panic!("not a flush");
        };
        assert_eq!(filter.to_proto().tenant.as_deref(), Some("green"));
    }
}
