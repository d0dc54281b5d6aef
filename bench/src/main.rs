//! The throughput harness: the whole runtime (workers, rings, pipeline) driven through
//! in-memory ports with pre-built traffic, measured in packets per second.
//!
//! cargo run --release -p bench -- SCENARIO [--workers N] [--flows F] [--seconds S]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use dataplane::pipeline::tables::ForwardingTables;
use dataplane::port::memory::{MemoryPort, MemoryPortPeer};
use dataplane::port::Port;
use dataplane::runtime::{Runtime, RuntimeConfig};
use dataplane::topology::Topology;
use etherparse::PacketBuilder;
use packet::{Pool, PoolConfig};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Scenario {
    /// L2 switching between two VMs of one network.
    L2,
    /// Distributed routing between two networks of one router.
    Routed,
}

#[derive(Parser)]
struct Args {
    scenario: Scenario,
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Distinct flows in the offered traffic.
    #[arg(long, default_value_t = 1024)]
    flows: u32,
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Frames kept in flight by the traffic generator.
    #[arg(long, default_value_t = 2048)]
    window: usize,
}

const TOPOLOGY: &str = r#"
[node]
name = "bench"

[[ports]]
name = "in"
driver = "pcap"

[[ports]]
name = "out"
driver = "pcap"

[[ports]]
name = "out-b"
driver = "pcap"

[[networks]]
name = "a"
tenant = "t"
vni = 1
cidr = "10.0.1.0/24"
gateway_ip = "10.0.1.1"

[[networks]]
name = "b"
tenant = "t"
vni = 2
cidr = "10.0.2.0/24"
gateway_ip = "10.0.2.1"

[[routers]]
name = "r"
tenant = "t"
mac = "02:00:0a:00:00:01"
networks = ["a", "b"]

[[logical_ports]]
name = "vm-a"
network = "a"
mac = "fa:16:3e:00:00:01"
ip = "10.0.1.5"
port = "in"

[[logical_ports]]
name = "vm-a2"
network = "a"
mac = "fa:16:3e:00:00:02"
ip = "10.0.1.6"
port = "out"

[[logical_ports]]
name = "vm-b"
network = "b"
mac = "fa:16:3e:00:00:03"
ip = "10.0.2.5"
port = "out-b"
"#;

const VM_A: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 1];
const VM_A2: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 2];
const ROUTER: [u8; 6] = [0x02, 0, 0x0a, 0, 0, 1];

/// 64-byte frames (with FCS on the wire) of `flows` UDP flows.
fn traffic(scenario: Scenario, flows: u32) -> Vec<Vec<u8>> {
    (0..flows)
        .map(|flow| {
            let (dst_mac, dst_ip) = match scenario {
                Scenario::L2 => (VM_A2, [10, 0, 1, 6]),
                Scenario::Routed => (ROUTER, [10, 0, 2, 5]),
            };
            let mut frame = Vec::new();
            PacketBuilder::ethernet2(VM_A, dst_mac)
                .ipv4([10, 0, 1, 5], dst_ip, 64)
                .udp(1024 + (flow % 60000) as u16, 2000 + (flow / 60000) as u16)
                .write(&mut frame, &[0u8; 18])
                .expect("a frame fits");
            frame
        })
        .collect()
}

fn main() {
    let args = Args::parse();
    let topology = Topology::from_toml_str(TOPOLOGY).expect("the harness topology is valid");
    let mut ports: Vec<Box<dyn Port>> = Vec::new();
    let mut peers: Vec<MemoryPortPeer> = Vec::new();
    for (id, port) in topology.ports.iter().enumerate() {
        let (port, peer) = MemoryPort::new(id as u16, &port.name, 8192);
        ports.push(Box::new(port));
        peers.push(peer);
    }
    let config = RuntimeConfig {
        workers: args.workers,
        busy_poll: true,
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start(config, Arc::new(ForwardingTables::build(&topology)), ports)
        .expect("workers start");
    let frames = traffic(args.scenario, args.flows.max(1));
    let mut pool = Pool::new(PoolConfig {
        buffers: 16384,
        ..PoolConfig::default()
    });

    let output_port = match args.scenario {
        Scenario::L2 => 1,
        Scenario::Routed => 2,
    };
    let (input, output) = (&peers[0], &peers[output_port]);
    let mut offered = 0usize;
    let mut delivered = 0usize;
    let duration = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    while started.elapsed() < duration {
        while offered - delivered < args.window {
            let frame = &frames[offered % frames.len()];
            let Ok(packet) = pool.alloc_copy(frame) else {
                break;
            };
            if let Err(packet) = input.inject(packet) {
                pool.free(packet);
                break;
            }
            offered += 1;
        }
        while let Some(packet) = output.take() {
            pool.free(packet);
            delivered += 1;
        }
    }
    let elapsed = started.elapsed();
    let counters = runtime.shutdown().expect("workers stop");
    let per_second = delivered as f64 / elapsed.as_secs_f64();
    println!(
        "{:?}: {} workers, {} flows: {:.2} Mpps delivered ({:.2} Mpps per worker, {:.0} ns per packet per worker), {} dropped",
        args.scenario,
        args.workers,
        args.flows,
        per_second / 1e6,
        per_second / 1e6 / args.workers as f64,
        1e9 * args.workers as f64 / per_second,
        counters.total_drops()
    );
}
