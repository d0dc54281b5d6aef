//! The poll-mode runtime with in-memory ports: receive queues spread over workers,
//! fair polling, shared transmit queues, SNAT replies handed to their owner,
//! configuration published under traffic, shutdown accounting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::counters::Counters;
use dataplane::pipeline::tables::ForwardingTables;
use dataplane::port::memory::{MemoryPort, MemoryPortConfig, MemoryPortPeer};
use dataplane::port::PortQueues;
use dataplane::runtime::{Runtime, RuntimeConfig};
use dataplane::topology::Topology;
use etherparse::PacketBuilder;
use packet::{Pool, PoolConfig};

const VM1_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 1];
const VM2_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 2];

/// Two VMs on one network, plus (when `with_vm3`) a third: configurations to flip
/// between while traffic from vm1 to vm2 flows.
fn topology(with_vm3: bool) -> Topology {
    let mut text = String::from(
        r#"
[node]
name = "compute-1"

[[ports]]
name = "vm1"
driver = "pcap"

[[ports]]
name = "vm2"
driver = "pcap"

[[ports]]
name = "vm3"
driver = "pcap"

[[networks]]
name = "net"
tenant = "t"
vni = 10
cidr = "10.0.0.0/24"

[[logical_ports]]
name = "vm1"
network = "net"
mac = "fa:16:3e:00:00:01"
ip = "10.0.0.1"
port = "vm1"

[[logical_ports]]
name = "vm2"
network = "net"
mac = "fa:16:3e:00:00:02"
ip = "10.0.0.2"
port = "vm2"
"#,
    );
    if with_vm3 {
        text.push_str(
            r#"
[[logical_ports]]
name = "vm3"
network = "net"
mac = "fa:16:3e:00:00:03"
ip = "10.0.0.3"
port = "vm3"
"#,
        );
    }
    Topology::from_toml_str(&text).unwrap()
}

fn udp_frame(flow: u16, sequence: u32) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(VM1_MAC, VM2_MAC)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(10_000 + flow, 80)
        .write(&mut frame, &sequence.to_be_bytes())
        .unwrap();
    frame
}

struct Bench {
    runtime: Runtime,
    peers: Vec<MemoryPortPeer>,
    pool: Pool,
    /// What vm2 received so far.
    received: Vec<Vec<u8>>,
}

fn start(workers: usize, busy_poll: bool) -> Bench {
    start_with(RuntimeConfig {
        workers,
        busy_poll,
        ..RuntimeConfig::default()
    })
}

/// Memory ports for `topology`: each with a receive queue per worker (spread by flow
/// hash, as RSS does) and a single transmit queue the workers share.
fn memory_ports(
    topology: &Topology,
    workers: usize,
    capacity: usize,
) -> (Vec<PortQueues>, Vec<MemoryPortPeer>) {
    let config = MemoryPortConfig {
        capacity,
        rx_queues: workers as u16,
        tx_queues: 1,
    };
    topology
        .ports
        .iter()
        .enumerate()
        .map(|(id, port)| MemoryPort::open_with(id as u16, &port.name, config))
        .unzip()
}

fn start_with(config: RuntimeConfig) -> Bench {
    let topology = topology(false);
    let (ports, peers) = memory_ports(&topology, config.workers, 8192);
    let runtime =
        Runtime::start(config, Arc::new(ForwardingTables::build(&topology)), ports).unwrap();
    let pool = Pool::new(PoolConfig {
        buffers: 65536,
        ..PoolConfig::default()
    });
    Bench {
        runtime,
        peers,
        pool,
        received: Vec::new(),
    }
}

impl Bench {
    fn inject(&mut self, port: usize, frame: &[u8]) {
        let mut packet = self.pool.alloc_copy(frame).unwrap();
        loop {
            match self.peers[port].inject(packet) {
                Ok(()) => return,
                Err(back) => {
                    packet = back;
                    self.collect();
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Takes what vm2 received.
    fn collect(&mut self) {
        while let Some(packet) = self.peers[1].take() {
            self.received.push(packet.data().to_vec());
            self.pool.free(packet);
        }
    }

    fn wait_for(&mut self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.received.len() < count && Instant::now() < deadline {
            self.collect();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Per flow (source port), the sequence numbers in arrival order.
fn sequences(frames: &[Vec<u8>]) -> Vec<Vec<u32>> {
    let mut flows = vec![Vec::new(); 64];
    for frame in frames {
        let flow = u16::from_be_bytes([frame[34], frame[35]]) - 10_000;
        let sequence = u32::from_be_bytes(frame[42..46].try_into().unwrap());
        flows[usize::from(flow)].push(sequence);
    }
    flows
}

fn assert_accounted(counters: &Counters) {
    assert_eq!(
        counters.total_rx(),
        counters.total_tx() + counters.total_drops(),
        "every received packet is transmitted or dropped with a reason: {counters:?}"
    );
}

#[test]
fn two_workers_deliver_every_packet_in_flow_order() {
    let mut bench = start(2, false);
    let per_flow = 200u32;
    for sequence in 0..per_flow {
        for flow in 0..64u16 {
            bench.inject(0, &udp_frame(flow, sequence));
        }
        // Keep the offered load within the rings: a port's overflow is its own.
        bench.wait_for((sequence as usize).saturating_sub(16) * 64);
    }
    bench.wait_for(64 * per_flow as usize);
    let stats = bench.runtime.handle().stats();
    assert_eq!(stats.total_drops(), 0, "{stats:?}");
    assert_eq!(bench.received.len(), 64 * per_flow as usize);
    for (flow, sequence) in sequences(&bench.received).iter().enumerate() {
        assert_eq!(*sequence, (0..per_flow).collect::<Vec<_>>(), "flow {flow}");
    }
    // Flows were spread over vm1's two receive queues, one per worker: both workers
    // received and transmitted, on vm2's one shared transmit queue.
    let per_worker = bench.runtime.handle().worker_stats();
    assert!(
        per_worker
            .iter()
            .all(|c| c.total_rx() > 0 && c.total_tx() > 0),
        "{per_worker:?}"
    );
    let counters = bench.runtime.shutdown().unwrap();
    assert_eq!(counters.ports[0].rx, 64 * u64::from(per_flow));
    assert_eq!(counters.ports[1].tx, 64 * u64::from(per_flow));
    assert_accounted(&counters);
}

#[test]
fn a_thousand_configuration_changes_under_traffic_lose_nothing() {
    let mut bench = start(2, false);
    let variants = [
        Arc::new(ForwardingTables::build(&topology(true))),
        Arc::new(ForwardingTables::build(&topology(false))),
    ];
    let mut sent = 0usize;
    let mut last_generation = 0;
    let mut publish_latencies = Vec::with_capacity(1000);
    for change in 0..1000u32 {
        last_generation = bench
            .runtime
            .handle()
            .publish(Arc::clone(&variants[change as usize % 2]));
        let published = Instant::now();
        for flow in 0..8u16 {
            bench.inject(0, &udp_frame(flow, change));
            sent += 1;
        }
        bench.collect();
        // Every worker moves to the new snapshot between bursts.
        while bench.runtime.handle().oldest_generation_in_use() < last_generation {
            std::thread::yield_now();
        }
        publish_latencies.push(published.elapsed());
    }
    bench.wait_for(sent);
    assert_eq!(
        bench.received.len(),
        sent,
        "no packet that should pass was lost"
    );
    for (flow, sequence) in sequences(&bench.received).iter().take(8).enumerate() {
        assert_eq!(*sequence, (0..1000).collect::<Vec<_>>(), "flow {flow}");
    }
    assert_eq!(
        bench.runtime.handle().oldest_generation_in_use(),
        last_generation
    );
    publish_latencies.sort();
    eprintln!(
        "publish to every worker: median {:?}, 99th percentile {:?}, max {:?}",
        publish_latencies[500], publish_latencies[990], publish_latencies[999]
    );
    let counters = bench.runtime.shutdown().unwrap();
    assert_eq!(counters.total_drops(), 0, "{counters:?}");
}

#[test]
fn shutdown_drains_what_is_in_flight() {
    let mut bench = start(2, true);
    for sequence in 0..2000 {
        bench.inject(0, &udp_frame((sequence % 64) as u16, sequence));
    }
    // Stop at once: whatever was received must come out or be counted as dropped.
    let counters = bench.runtime.shutdown().unwrap();
    assert_accounted(&counters);
    let mut received = Vec::new();
    while let Some(packet) = bench.peers[1].take() {
        received.push(packet);
    }
    assert_eq!(received.len() as u64, counters.ports[1].tx);
    let still_queued = bench.peers[0].pending() as u64;
    assert_eq!(counters.ports[0].rx + still_queued, 2000);
}

#[test]
fn a_full_transmit_queue_is_counted_never_blocks() {
    let topology = topology(false);
    let (ports, peers) = memory_ports(&topology, 2, 64);
    let config = RuntimeConfig {
        workers: 2,
        ring_size: 8,
        ..RuntimeConfig::default()
    };
    let runtime =
        Runtime::start(config, Arc::new(ForwardingTables::build(&topology)), ports).unwrap();
    let mut bench = Bench {
        runtime,
        peers,
        pool: Pool::new(PoolConfig {
            buffers: 8192,
            ..PoolConfig::default()
        }),
        received: Vec::new(),
    };
    // Nobody takes what vm2 is sent: its 64-packet ring fills and stays full.
    let mut offered = 0u64;
    for sequence in 0..4000u32 {
        let packet = bench
            .pool
            .alloc_copy(&udp_frame((sequence % 64) as u16, sequence))
            .unwrap();
        match bench.peers[0].inject(packet) {
            Ok(()) => offered += 1,
            Err(packet) => {
                bench.pool.free(packet);
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while bench.peers[0].pending() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let counters = bench.runtime.shutdown().unwrap();
    assert_accounted(&counters);
    assert_eq!(counters.ports[0].rx, offered);
    let full = counters.drops(dataplane::counters::DropReason::TxQueueFull);
    assert_eq!(counters.total_drops(), full, "{counters:?}");
    // What vm2's ring took, plus what waits in the shared queue's ring (8) and its
    // staging burst (8): everything else was dropped as it came.
    assert!(full >= offered - 64 - 16, "{counters:?}");
    let mut delivered = 0;
    while bench.peers[1].take().is_some() {
        delivered += 1;
    }
    assert_eq!(delivered, 64);
}

/// One worker polling a flooded port and a port with a single frame serves both: the
/// single frame leaves long before the flood is through.
#[test]
fn a_busy_port_does_not_starve_its_neighbours() {
    let topology = topology(true);
    let (ports, peers) = memory_ports(&topology, 1, 8192);
    let mut pool = Pool::new(PoolConfig {
        buffers: 16384,
        ..PoolConfig::default()
    });
    for sequence in 0..8000u32 {
        let frame = udp_frame((sequence % 64) as u16, sequence);
        peers[0].inject(pool.alloc_copy(&frame).unwrap()).unwrap();
    }
    let mut lone = Vec::new();
    PacketBuilder::ethernet2([0xfa, 0x16, 0x3e, 0, 0, 3], VM2_MAC)
        .ipv4([10, 0, 0, 3], [10, 0, 0, 2], 64)
        .udp(7, 7)
        .write(&mut lone, b"neighbour")
        .unwrap();
    peers[2].inject(pool.alloc_copy(&lone).unwrap()).unwrap();
    let config = RuntimeConfig {
        workers: 1,
        ..RuntimeConfig::default()
    };
    let runtime =
        Runtime::start(config, Arc::new(ForwardingTables::build(&topology)), ports).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut flood_before_it = 0;
    let mut served = false;
    while !served && Instant::now() < deadline {
        match peers[1].take() {
            Some(packet) => {
                served = packet.data() == lone.as_slice();
                flood_before_it += u32::from(!served);
                pool.free(packet);
            }
            None => std::thread::yield_now(),
        }
    }
    assert!(served, "vm3's frame was delivered");
    // A burst (32) from each queue per round: vm3 is served in the first round, not
    // after the 8,000 frames of vm1.
    assert!(
        flood_before_it <= 32,
        "{flood_before_it} flood frames went first"
    );
    runtime.shutdown().unwrap();
}

const SNAT_TOPOLOGY: &str = r#"
[node]
name = "compute-1"
uplink = "uplink"
uplink_mac = "02:00:c0:00:02:0b"
external_ip = "203.0.113.11"
external_gateway_ip = "203.0.113.1"
external_gateway_mac = "02:00:cb:00:71:01"
snat_port_range = [1024, 65535]

[[ports]]
name = "uplink"
driver = "pcap"

[[ports]]
name = "vm1"
driver = "pcap"

[[networks]]
name = "net"
tenant = "t"
vni = 10
cidr = "10.0.0.0/24"
gateway_ip = "10.0.0.1"

[[routers]]
name = "r"
tenant = "t"
mac = "02:00:0a:00:00:01"
networks = ["net"]
snat = true

[[logical_ports]]
name = "vm1"
network = "net"
mac = "fa:16:3e:00:00:01"
ip = "10.0.0.5"
port = "vm1"
"#;

/// With two workers, a SNAT reply arriving on the uplink reaches the worker that owns
/// its external port, which holds the connection: every flow gets its replies back,
/// translated to the tenant's address and port.
#[test]
fn snat_replies_find_their_connection_on_any_worker() {
    let topology = Topology::from_toml_str(SNAT_TOPOLOGY).unwrap();
    let (ports, peers) = memory_ports(&topology, 2, 4096);
    let config = RuntimeConfig {
        workers: 2,
        ..RuntimeConfig::default()
    };
    let runtime =
        Runtime::start(config, Arc::new(ForwardingTables::build(&topology)), ports).unwrap();
    let mut pool = Pool::new(PoolConfig::default());
    let (uplink, vm1) = (&peers[0], &peers[1]);
    let flows = 200u16;
    for flow in 0..flows {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([0xfa, 0x16, 0x3e, 0, 0, 1], [0x02, 0, 0x0a, 0, 0, 1])
            .ipv4([10, 0, 0, 5], [198, 51, 100, 7], 64)
            .udp(20_000 + flow * 173, 53)
            .write(&mut frame, b"query")
            .unwrap();
        vm1.inject(pool.alloc_copy(&frame).unwrap()).unwrap();
    }

    // The outside: answer every translated query to the port it came from.
    let mut external_ports = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while external_ports.len() < usize::from(flows) && Instant::now() < deadline {
        let Some(packet) = uplink.take() else {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let meta = packet::parse(packet.data()).unwrap();
        assert_eq!(meta.flow.src_ip().to_string(), "203.0.113.11");
        let port = meta.flow.src_port;
        external_ports.push(port);
        pool.free(packet);
        let mut reply = Vec::new();
        PacketBuilder::ethernet2([0x02, 0, 0xcb, 0, 0x71, 1], [0x02, 0, 0xc0, 0, 0x02, 0x0b])
            .ipv4([198, 51, 100, 7], [203, 0, 113, 11], 60)
            .udp(53, port)
            .write(&mut reply, b"answer")
            .unwrap();
        uplink.inject(pool.alloc_copy(&reply).unwrap()).unwrap();
    }
    assert_eq!(external_ports.len(), usize::from(flows));
    // Both workers created connections: ports from both halves of the range.
    assert!(
        external_ports.iter().any(|&p| p < 33280) && external_ports.iter().any(|&p| p >= 33280)
    );

    let mut answered = Vec::new();
    while answered.len() < usize::from(flows) && Instant::now() < deadline {
        match vm1.take() {
            Some(packet) => {
                let meta = packet::parse(packet.data()).unwrap();
                assert_eq!(meta.flow.dst_ip().to_string(), "10.0.0.5");
                answered.push(meta.flow.dst_port);
                pool.free(packet);
            }
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    answered.sort_unstable();
    let expected: Vec<u16> = (0..flows).map(|flow| 20_000 + flow * 173).collect();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort_unstable();
    assert_eq!(answered, expected_sorted, "every tenant port got its reply");
    let counters = runtime.shutdown().unwrap();
    assert_eq!(counters.total_drops(), 0, "{counters:?}");
}

/// A node whose chassis has no MAC in the topology: the uplink resolves it by ARP.
fn overlay_topology(extra_port: bool) -> Topology {
    let mut text = String::from(
        r#"
[node]
name = "compute-1"
vtep_ip = "192.0.2.11"
uplink = "uplink"
uplink_mac = "02:00:c0:00:02:0b"

[[chassis]]
name = "compute-2"
vtep_ip = "192.0.2.12"

[[ports]]
name = "uplink"
driver = "pcap"

[[ports]]
name = "vm1"
driver = "pcap"

[[networks]]
name = "net"
tenant = "t"
vni = 1001
cidr = "10.0.0.0/24"

[[logical_ports]]
name = "vm1"
network = "net"
mac = "fa:16:3e:00:00:01"
ip = "10.0.0.1"
port = "vm1"

[[logical_ports]]
name = "web"
network = "net"
mac = "fa:16:3e:00:00:09"
ip = "10.0.0.9"
chassis = "compute-2"
"#,
    );
    if extra_port {
        text.push_str(
            r#"
[[logical_ports]]
name = "app"
network = "net"
mac = "fa:16:3e:00:00:0a"
ip = "10.0.0.10"
chassis = "compute-2"
"#,
        );
    }
    Topology::from_toml_str(&text).unwrap()
}

/// What the uplink sent next, waiting for it.
fn next_out(peer: &MemoryPortPeer, pool: &mut Pool) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(packet) = peer.take() {
            let frame = packet.data().to_vec();
            pool.free(packet);
            return frame;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("nothing left the uplink");
}

/// A chassis MAC resolved by ARP is still known after a configuration change: the
/// next frame to that chassis is encapsulated at once, without asking again.
#[test]
fn learned_macs_survive_a_configuration_change() {
    let topology = overlay_topology(false);
    let (ports, peers) = memory_ports(&topology, 1, 1024);
    let config = RuntimeConfig {
        workers: 1,
        ..RuntimeConfig::default()
    };
    let runtime =
        Runtime::start(config, Arc::new(ForwardingTables::build(&topology)), ports).unwrap();
    let mut pool = Pool::new(PoolConfig::default());
    let (uplink, vm1) = (&peers[0], &peers[1]);
    let to_web = |sequence: u32| {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([0xfa, 0x16, 0x3e, 0, 0, 1], [0xfa, 0x16, 0x3e, 0, 0, 9])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 9], 64)
            .udp(5000, 80)
            .write(&mut frame, &sequence.to_be_bytes())
            .unwrap();
        frame
    };
    let is_arp = |frame: &[u8]| frame[12..14] == [0x08, 0x06];
    let is_vxlan = |frame: &[u8]| frame[12..14] == [0x08, 0x00] && frame[23] == 17;

    vm1.inject(pool.alloc_copy(&to_web(1)).unwrap()).unwrap();
    let request = next_out(uplink, &mut pool);
    assert!(is_arp(&request), "the chassis MAC is asked for first");
    let chassis_mac = [0x02, 0, 0xc0, 0, 0x02, 0x0c];
    let mut reply = Vec::new();
    PacketBuilder::ethernet2(chassis_mac, [0x02, 0, 0xc0, 0, 0x02, 0x0b])
        .arp(
            etherparse::ArpPacket::new(
                etherparse::ArpHardwareId::ETHERNET,
                etherparse::EtherType::IPV4,
                etherparse::ArpOperation::REPLY,
                &chassis_mac,
                &[192, 0, 2, 12],
                &[0x02, 0, 0xc0, 0, 0x02, 0x0b],
                &[192, 0, 2, 11],
            )
            .unwrap(),
        )
        .write(&mut reply)
        .unwrap();
    uplink.inject(pool.alloc_copy(&reply).unwrap()).unwrap();
    let released = next_out(uplink, &mut pool);
    assert!(is_vxlan(&released), "the held frame leaves once resolved");
    assert_eq!(released[0..6], chassis_mac);

    let generation = runtime
        .handle()
        .publish(Arc::new(ForwardingTables::build(&overlay_topology(true))));
    while runtime.handle().oldest_generation_in_use() < generation {
        std::thread::yield_now();
    }
    vm1.inject(pool.alloc_copy(&to_web(2)).unwrap()).unwrap();
    let after = next_out(uplink, &mut pool);
    assert!(
        is_vxlan(&after),
        "encapsulated at once after the change, not held for a new ARP request"
    );
    assert_eq!(after[0..6], chassis_mac);
    let learned: Vec<_> = runtime.handle().learned().iter().collect();
    assert_eq!(learned.len(), 1);
    runtime.shutdown().unwrap();
}

/// Pcap ports for `topology(false)`: vm1 receives `frames` (written to a capture in
/// `dir`), every port writes what it sends to `dir/out-PORT.pcap` when `outputs`.
fn pcap_ports(
    dir: &std::path::Path,
    frames: impl Iterator<Item = Vec<u8>>,
    outputs: bool,
) -> (Topology, Vec<PortQueues>) {
    use dataplane::port::pcap::{PcapInput, PcapPort};
    use pcap_file::pcap::{PcapPacket, PcapWriter};

    let input = dir.join("vm1.pcap");
    let mut writer = PcapWriter::new(std::fs::File::create(&input).unwrap()).unwrap();
    for (sequence, frame) in frames.enumerate() {
        let time = Duration::from_micros(sequence as u64 + 1);
        writer
            .write_packet(&PcapPacket::new(time, frame.len() as u32, &frame))
            .unwrap();
    }
    drop(writer);
    let topology = topology(false);
    let ports = topology
        .ports
        .iter()
        .enumerate()
        .map(|(id, port)| {
            let input = (port.name == "vm1").then(|| PcapInput::open(&input).unwrap());
            let output = outputs.then(|| (dir.join(format!("out-{}.pcap", port.name)), false));
            PcapPort::open(id as u16, &port.name, input, output)
        })
        .collect();
    (topology, ports)
}

/// Two workers on a capture file with few buffers: the file waits for buffers instead
/// of losing frames, and every frame comes out.
#[test]
fn two_workers_on_a_file_input_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let frames = 20_000u32;
    let traffic = (0..frames).map(|sequence| udp_frame((sequence % 64) as u16, sequence));
    let (topology, ports) = pcap_ports(dir.path(), traffic, true);
    let config = RuntimeConfig {
        workers: 2,
        pool: PoolConfig {
            buffers: 256,
            ..PoolConfig::default()
        },
        ..RuntimeConfig::default()
    };
    let runtime =
        Runtime::start(config, Arc::new(ForwardingTables::build(&topology)), ports).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while runtime.handle().stats().total_tx() < u64::from(frames) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let handle = runtime.handle();
    let counters = runtime.shutdown().unwrap();
    assert_eq!(counters.total_drops(), 0, "{counters:?}");
    assert_eq!(counters.ports[0].rx, u64::from(frames));
    assert_eq!(counters.ports[1].tx, u64::from(frames));
    let vm1 = handle.ports()[0].stats().rx();
    assert_eq!(
        (vm1.packets, vm1.errors, vm1.missed),
        (u64::from(frames), 0, 0)
    );
    let written = pcap_file::pcap::PcapReader::new(
        std::fs::File::open(dir.path().join("out-vm2.pcap")).unwrap(),
    )
    .unwrap();
    let mut count = 0;
    let mut reader = written;
    while let Some(packet) = reader.next_packet() {
        packet.unwrap();
        count += 1;
    }
    assert_eq!(count, frames);
}

/// Frames the driver refuses on receive (larger than a buffer) show in the port's
/// statistics while the dataplane runs, not only at exit.
#[test]
fn receive_errors_show_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let oversize = std::iter::repeat_n(vec![0u8; 4000], 3);
    let (topology, ports) = pcap_ports(dir.path(), oversize, false);
    let config = RuntimeConfig {
        workers: 1,
        ..RuntimeConfig::default()
    };
    let runtime =
        Runtime::start(config, Arc::new(ForwardingTables::build(&topology)), ports).unwrap();
    let handle = runtime.handle();
    let deadline = Instant::now() + Duration::from_secs(20);
    while handle.ports()[0].stats().rx().errors < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(handle.ports()[0].stats().rx().errors, 3, "counted live");
    assert_eq!(handle.stats().total_rx(), 0, "nothing reached the pipeline");
    runtime.shutdown().unwrap();
}
