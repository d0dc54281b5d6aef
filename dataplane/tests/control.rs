//! The control socket in process: a runtime over memory ports, its control server on a
//! temporary socket, and our client. Traffic keeps flowing while the API changes it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::control::proto as pb;
use dataplane::control::{client, ControlOptions, ControlServer, ControlState};
use dataplane::pipeline::tables::ForwardingTables;
use dataplane::port::memory::{MemoryPort, MemoryPortPeer};
use dataplane::runtime::{Runtime, RuntimeConfig};
use dataplane::topology::{file::TopologyFile, Topology};
use etherparse::PacketBuilder;
use packet::Pool;

const VM1_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 1, 1];
const ROUTER_MAC: [u8; 6] = [2, 0, 0x0a, 0, 0, 1];

fn topology_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/control.toml"))
        .unwrap()
}

/// vm1 (10.0.0.5) to 10.0.1.5 through the router: routed once a port owns 10.0.1.5.
fn routed_frame() -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(VM1_MAC, ROUTER_MAC)
        .ipv4([10, 0, 0, 5], [10, 0, 1, 5], 64)
        .udp(40000, 5000)
        .write(&mut frame, b"hello")
        .unwrap();
    frame
}

struct Daemon {
    runtime: Option<Runtime>,
    server: Option<ControlServer>,
    peers: Vec<MemoryPortPeer>,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start() -> Daemon {
        Daemon::start_with_metrics(None)
    }

    fn start_with_metrics(metrics: Option<std::net::SocketAddr>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run/control.sock");
        let file: TopologyFile = toml::from_str(&topology_text()).unwrap();
        let topology = Topology::from_file(&file).unwrap();
        let (ports, peers): (Vec<_>, Vec<_>) = topology
            .ports
            .iter()
            .enumerate()
            .map(|(id, port)| MemoryPort::open(id as u16, &port.name, 4096))
            .unzip();
        let tables = Arc::new(ForwardingTables::build(&topology));
        let config = RuntimeConfig {
            workers: 2,
            ..RuntimeConfig::default()
        };
        let runtime = Runtime::start(config, Arc::clone(&tables), ports).unwrap();
        let state = ControlState::new(file, tables, runtime.handle()).unwrap();
        let options = ControlOptions {
            socket: socket.clone(),
            tcp: None,
            tls: None,
            worker_cores: Vec::new(),
            metrics,
        };
        let server = ControlServer::start(&options, state).unwrap();
        Daemon {
            runtime: Some(runtime),
            server: Some(server),
            peers,
            socket,
            _dir: dir,
        }
    }

    fn stop(mut self) {
        self.server.take().unwrap().stop();
        self.runtime.take().unwrap().shutdown().unwrap();
    }
}

/// Injects `frame` on port `port` every millisecond until `stop`.
/// Buffers come from the runtime's own pool, to which the workers return them.
fn keep_sending(
    daemon: &Daemon,
    port: usize,
    frame: Vec<u8>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let peer = daemon.peers[port].clone();
    let buffers = Arc::clone(daemon.runtime.as_ref().unwrap().handle().buffers());
    std::thread::spawn(move || {
        let mut pool = Pool::attach(&buffers);
        while !stop.load(Ordering::Relaxed) {
            if let Ok(packet) = pool.alloc_copy(&frame) {
                if let Err(packet) = peer.inject(packet) {
                    pool.free(packet);
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

/// Frames taken from a peer within `wait`.
fn collect(peer: &MemoryPortPeer, wait: Duration) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + wait;
    let mut frames = Vec::new();
    while Instant::now() < deadline {
        while let Some(packet) = peer.take() {
            frames.push(packet.data().to_vec());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    frames
}

/// Frames `peer` receives, waiting up to a few seconds for the first (a loaded machine
/// may take a while to schedule the sender and the worker).
fn first_frames(peer: &MemoryPortPeer) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let frames = collect(peer, Duration::from_millis(100));
        if !frames.is_empty() || Instant::now() > deadline {
            return frames;
        }
    }
}

/// Whether `peer` stops receiving (a 200 ms window without a frame) within a few
/// seconds: frames already in flight when a flow is cut may still arrive.
fn falls_quiet(peer: &MemoryPortPeer) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if collect(peer, Duration::from_millis(200)).is_empty() {
            return true;
        }
    }
    false
}

fn db1() -> pb::LogicalPort {
    pb::LogicalPort {
        name: "green-db1".into(),
        network: "green-db".into(),
        mac: "fa:16:3e:00:02:01".into(),
        ip: Some("10.0.1.5".into()),
        port: Some("vm3".into()),
        ..Default::default()
    }
}

#[test]
fn api_changes_take_effect_on_flowing_traffic_and_refusals_change_nothing() {
    let daemon = Daemon::start();
    let vm3 = daemon.peers[3].clone();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = keep_sending(&daemon, 1, routed_frame(), Arc::clone(&stop));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = client::connect(daemon.socket.clone()).await.unwrap();
        // Before: nobody owns 10.0.1.5: the router answers host unreachable as fast
        // as its ICMP budget allows and drops the rest of the flow.
        assert!(collect(&vm3, Duration::from_millis(200)).is_empty());
        let rate_limited = |s: &pb::StatsReply| {
            let drops = &s.total.as_ref().unwrap().drops;
            drops.iter().find(|d| d.reason == "icmp_rate_limited").unwrap().count
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let stats = loop {
            let stats = c.stats(pb::Empty {}).await.unwrap().into_inner();
            if rate_limited(&stats) > 0 || Instant::now() > deadline {
                break stats;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(rate_limited(&stats) > 0, "the flow is running and dropped");
        // The drivers' own statistics, per port: vm1's queue delivered the flow.
        let drivers: Vec<&str> = stats.drivers.iter().map(|d| d.port.as_str()).collect();
        assert_eq!(drivers.len(), daemon.peers.len(), "{drivers:?}");
        let vm1 = &stats.drivers[1];
        assert_eq!(vm1.port, "vm1");
        let frame_len = routed_frame().len() as u64;
        assert!(vm1.rx_packets > 0, "{vm1:?}");
        assert!(vm1.rx_bytes > 0 && vm1.rx_bytes % frame_len == 0, "{vm1:?}");
        assert_eq!((vm1.rx_queues, vm1.tx_queues, vm1.link_up), (1, 1, true));

        // The change: the flow now reaches vm3, routed (router MAC as source, TTL 63).
        let created = c.create_logical_port(db1()).await.unwrap().into_inner();
        assert_eq!(created.port_security, Some(true), "defaults filled in");
        let frames = first_frames(&vm3);
        assert!(!frames.is_empty(), "created logical port receives the running flow");
        assert_eq!(&frames[0][0..6], &[0xfa, 0x16, 0x3e, 0, 2, 1]);
        assert_eq!(&frames[0][6..12], &ROUTER_MAC);
        assert_eq!(frames[0][14 + 8], 63);
        let generation = c.stats(pb::Empty {}).await.unwrap().into_inner().generation;

        // Refusals: nothing applied, the same generation, traffic as it was.
        let mut duplicate = db1();
        duplicate.name = "green-db2".into();
        duplicate.ip = Some("10.0.1.6".into());
        duplicate.port = Some("fw1".into());
        let status = c.create_logical_port(duplicate).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::AlreadyExists);
        assert_eq!(
            status.message(),
            "logical_ports \"green-db2\": mac: fa:16:3e:00:02:01 is already used by logical port \"green-db1\" in network \"green-db\""
        );
        let status = c.delete_network(pb::Name { name: "green-db".into() }).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{}", status.message());
        let mut bad = db1();
        bad.ip = Some("10.0.9.5".into());
        let status = c.update_logical_port(bad).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{}", status.message());
        assert!(status.message().starts_with("logical_ports \"green-db1\": ip:"), "{}", status.message());
        let status = c.get_network(pb::Name { name: "nope".into() }).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound);
        let status = c.create_port(pb::Port { name: "p9".into(), driver: "pcap".into(), ..Default::default() }).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        let after = c.stats(pb::Empty {}).await.unwrap().into_inner();
        assert_eq!(after.generation, generation, "refused changes publish nothing");
        let lps = c.list_logical_ports(pb::Empty {}).await.unwrap().into_inner().logical_ports;
        assert_eq!(lps.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["green-vm1", "green-vm2", "green-db1"]);
        assert!(!first_frames(&vm3).is_empty(), "traffic still flows");

        // Deleting it again stops the flow.
        c.delete_logical_port(pb::Name { name: "green-db1".into() }).await.unwrap();
        assert!(falls_quiet(&vm3), "the flow stops when its logical port is deleted");
    });
    drop(rt);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    daemon.stop();
}

#[test]
fn trace_reports_each_stage_and_sends_nothing() {
    let daemon = Daemon::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = client::connect(daemon.socket.clone()).await.unwrap();
        c.create_logical_port(db1()).await.unwrap();
        let request = pb::TraceRequest {
            live: false,
            logical_port: Some("green-vm1".into()),
            port: None,
            packet: Some(pb::trace_request::Packet::Fields(pb::PacketFields {
                dst_ip: "10.0.1.5".into(),
                protocol: Some("tcp".into()),
                dst_port: Some(80),
                ..Default::default()
            })),
        };
        let reply = c.trace(request).await.unwrap().into_inner();
        let stages: Vec<&str> = reply.steps.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(stages, ["ingress", "l2", "routing", "egress"]);
        assert_eq!(reply.steps[0].fields["logical_port"], "green-vm1");
        assert_eq!(reply.steps[2].fields["router"], "green-router");
        assert_eq!(reply.steps[2].fields["logical_port"], "green-db1");
        assert_eq!(reply.outputs.len(), 1);
        assert_eq!(reply.outputs[0].port, "vm3");
        assert_eq!(reply.drop_reason, None);

        // Bytes, spoofed source: port security refuses it.
        let mut frame = routed_frame();
        frame[6 + 5] = 0x99;
        let request = pb::TraceRequest {
            live: false,
            port: Some("vm1".into()),
            logical_port: None,
            packet: Some(pb::trace_request::Packet::Frame(frame)),
        };
        let reply = c.trace(request).await.unwrap().into_inner();
        assert_eq!(reply.steps[0].stage, "port_security");
        assert_eq!(reply.drop_reason.as_deref(), Some("port_security"));
        assert!(reply.outputs.is_empty());
    });
    drop(rt);
    // Nothing was transmitted or counted by the traces.
    assert!(daemon.peers.iter().all(|p| p.take().is_none()));
    let stats = daemon.runtime.as_ref().unwrap().handle().stats();
    assert_eq!(
        (stats.total_rx(), stats.total_tx(), stats.total_drops()),
        (0, 0, 0)
    );
    daemon.stop();
}

#[test]
fn dpctl_capture_writes_a_pcap_tshark_reads() {
    let daemon = Daemon::start();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = keep_sending(&daemon, 1, routed_frame(), Arc::clone(&stop));
    let out = daemon._dir.path().join("vm1.pcap");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_dpctl"))
        .arg("--socket")
        .arg(&daemon.socket)
        .args(["capture", "vm1", "--direction", "rx", "-c", "5", "-w"])
        .arg(&out)
        .status()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    assert!(status.success());
    let tshark = std::process::Command::new("tshark")
        .args(["-r"])
        .arg(&out)
        .args(["-T", "fields", "-e", "ip.dst", "-e", "udp.dstport"])
        .output()
        .expect("tshark is installed (scripts/test installs it)");
    assert!(
        tshark.status.success(),
        "{}",
        String::from_utf8_lossy(&tshark.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&tshark.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines, vec!["10.0.1.5\t5000".to_owned(); 5]);
    daemon.stop();
}

/// control.toml with SNAT on the router, a remote port on compute-2 and a chain through
/// a proxied firewall on fw1 for green-vm1's web traffic to the outside.
fn sfc_snat_vxlan_topology() -> String {
    let text = topology_text()
        .replace(
            "external_ip = \"203.0.113.11\"",
            "external_ip = \"203.0.113.11\"\nexternal_gateway_ip = \"203.0.113.1\"\n\
             external_gateway_mac = \"02:00:cb:00:71:01\"",
        )
        .replace(
            "networks = [\"green-net\", \"green-db\"]",
            "networks = [\"green-net\", \"green-db\"]\nsnat = true",
        );
    assert!(text.contains("snat = true") && text.contains("external_gateway_mac"));
    text + r#"
[[chassis]]
name = "compute-2"
vtep_ip = "192.0.2.12"
mac = "02:00:c0:00:02:0c"

[[logical_ports]]
name = "green-web"
network = "green-net"
mac = "fa:16:3e:00:01:09"
ip = "10.0.0.9"
chassis = "compute-2"

[[logical_ports]]
name = "fw1-in"
network = "green-net"
mac = "fa:16:3e:00:0f:01"
ip = "10.0.0.201"
port = "fw1"
vlan = 101

[[logical_ports]]
name = "fw1-out"
network = "green-net"
mac = "fa:16:3e:00:0f:02"
ip = "10.0.0.202"
port = "fw1"
vlan = 102

[[port_pairs]]
name = "fw1"
ingress = "fw1-in"
egress = "fw1-out"
correlation = "none"

[[port_pair_groups]]
name = "firewalls"
port_pairs = ["fw1"]

[[flow_classifiers]]
name = "green-web-out"
ethertype = "IPv4"
protocol = "tcp"
destination_port_range = [80, 80]
logical_source_port = "green-vm1"
destination_ip_prefix = "198.51.100.0/24"

[[port_chains]]
name = "green-out-chain"
chain_id = 7
port_pair_groups = ["firewalls"]
flow_classifiers = ["green-web-out"]
"#
}

fn stages(reply: &pb::TraceReply) -> Vec<&str> {
    reply.steps.iter().map(|s| s.stage.as_str()).collect()
}

fn step<'a>(reply: &'a pb::TraceReply, stage: &str) -> &'a pb::TraceStep {
    reply
        .steps
        .iter()
        .find(|s| s.stage == stage)
        .unwrap_or_else(|| panic!("no {stage} step in {:?}", stages(reply)))
}

#[test]
fn trace_follows_a_chained_snat_packet_and_a_vxlan_packet() {
    let daemon = Daemon::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = client::connect(daemon.socket.clone()).await.unwrap();
        let apply = pb::ApplyRequest {
            source: Some(pb::apply_request::Source::Toml(sfc_snat_vxlan_topology())),
        };
        c.apply(apply).await.unwrap();

        // green-vm1's web request to the outside: classified into chain 7, sent to the
        // firewall's ingress sub-port.
        let request = pb::TraceRequest {
            live: false,
            logical_port: Some("green-vm1".into()),
            port: None,
            packet: Some(pb::trace_request::Packet::Fields(pb::PacketFields {
                dst_ip: "198.51.100.7".into(),
                protocol: Some("tcp".into()),
                dst_port: Some(80),
                ..Default::default()
            })),
        };
        let reply = c.trace(request).await.unwrap().into_inner();
        assert_eq!(step(&reply, "classifier").fields["chain_id"], "7");
        assert_eq!(
            step(&reply, "classifier").fields["chain"],
            "green-out-chain"
        );
        assert_eq!(
            step(&reply, "classifier").decision,
            "matched: enters chain \"green-out-chain\""
        );
        assert_eq!(step(&reply, "sfc").fields["logical_port"], "fw1-in");
        assert_eq!(reply.outputs.len(), 1, "{reply:?}");
        assert_eq!(reply.outputs[0].port, "fw1");
        assert_eq!(reply.drop_reason, None);

        // The same packet as the firewall returns it on fw1-out (VLAN 102): end of
        // chain, routed, translated by SNAT, out of the uplink.
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(VM1_MAC, ROUTER_MAC)
            .single_vlan(etherparse::VlanId::try_new(102).unwrap())
            .ipv4([10, 0, 0, 5], [198, 51, 100, 7], 64)
            .tcp(40000, 80, 1, 64240)
            .syn()
            .write(&mut frame, &[])
            .unwrap();
        let request = pb::TraceRequest {
            live: false,
            port: Some("fw1".into()),
            logical_port: None,
            packet: Some(pb::trace_request::Packet::Frame(frame)),
        };
        let reply = c.trace(request).await.unwrap().into_inner();
        let order = stages(&reply);
        let position = |stage: &str| {
            order
                .iter()
                .position(|s| *s == stage)
                .unwrap_or_else(|| panic!("no {stage} in {reply:?}"))
        };
        assert!(position("sfc") < position("routing"), "{order:?}");
        assert!(position("routing") < position("snat"), "{order:?}");
        assert_eq!(step(&reply, "ingress").fields["logical_port"], "fw1-out");
        assert!(
            reply
                .steps
                .iter()
                .any(|s| s.stage == "sfc" && s.decision.contains("end of chain")),
            "{reply:?}"
        );
        let snat = step(&reply, "snat");
        assert_eq!(snat.fields["external_ip"], "203.0.113.11");
        assert_eq!(
            snat.fields["external_port"], "40000",
            "the tenant's port is kept"
        );
        assert_eq!(reply.outputs.len(), 1, "{reply:?}");
        assert_eq!(reply.outputs[0].port, "uplink");

        // green-vm1 to green-web, hosted on compute-2: VXLAN to its VTEP.
        let request = pb::TraceRequest {
            live: false,
            logical_port: Some("green-vm1".into()),
            port: None,
            packet: Some(pb::trace_request::Packet::Fields(pb::PacketFields {
                dst_ip: "10.0.0.9".into(),
                protocol: Some("udp".into()),
                dst_port: Some(53),
                ..Default::default()
            })),
        };
        let reply = c.trace(request.clone()).await.unwrap().into_inner();
        let vxlan = step(&reply, "vxlan");
        assert_eq!(vxlan.fields["vni"], "1001");
        assert_eq!(vxlan.fields["chassis"], "compute-2");
        assert_eq!(vxlan.fields["remote_vtep"], "192.0.2.12");
        let source_port: u16 = vxlan.fields["source_port"].parse().unwrap();
        assert!(source_port >= 49152);
        assert_eq!(reply.outputs.len(), 1, "{reply:?}");
        assert_eq!(reply.outputs[0].port, "uplink");
        assert!(reply.waiting_for.is_empty());
        // Objects are named in every decision, never numbered.
        for step in &reply.steps {
            let words: Vec<&str> = step.decision.split(' ').collect();
            for pair in words.windows(2) {
                let object = ["port", "network", "router", "chassis", "chain"].contains(&pair[0]);
                assert!(
                    !(object && pair[1].parse::<u32>().is_ok()),
                    "{}",
                    step.decision
                );
            }
        }

        // compute-2's MAC left to ARP: the frame is held until the VTEP answers.
        let topology = sfc_snat_vxlan_topology().replace("mac = \"02:00:c0:00:02:0c\"\n", "");
        let apply = pb::ApplyRequest {
            source: Some(pb::apply_request::Source::Toml(topology)),
        };
        c.apply(apply).await.unwrap();
        let reply = c.trace(request).await.unwrap().into_inner();
        assert!(reply.outputs.is_empty(), "{reply:?}");
        assert_eq!(reply.drop_reason, None);
        assert_eq!(reply.waiting_for, ["192.0.2.12"]);
        let resolve = step(&reply, "resolve");
        assert_eq!(
            resolve.decision,
            "held until 192.0.2.12 answers ARP on the uplink; it leaves then"
        );
    });
    drop(rt);
    daemon.stop();
}

#[test]
fn list_connections_shows_what_snat_tracks() {
    let daemon = Daemon::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = rt.block_on(client::connect(daemon.socket.clone())).unwrap();
    let apply = pb::ApplyRequest {
        source: Some(pb::apply_request::Source::Toml(sfc_snat_vxlan_topology())),
    };
    rt.block_on(c.apply(apply)).unwrap();

    // green-vm1 queries a server outside: SNAT opens a connection on some worker.
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(VM1_MAC, ROUTER_MAC)
        .ipv4([10, 0, 0, 5], [198, 51, 100, 7], 64)
        .udp(40000, 53)
        .write(&mut frame, b"query")
        .unwrap();
    let buffers = Arc::clone(daemon.runtime.as_ref().unwrap().handle().buffers());
    let mut pool = Pool::attach(&buffers);
    daemon.peers[1]
        .inject(pool.alloc_copy(&frame).unwrap())
        .unwrap();
    let sent = collect(&daemon.peers[0], Duration::from_millis(300));
    assert_eq!(sent.len(), 1, "the query left through the uplink");

    let all = rt
        .block_on(c.list_connections(pb::ConnectionFilter::default()))
        .unwrap()
        .into_inner();
    assert!(!all.truncated);
    assert_eq!(all.connections.len(), 1, "{all:?}");
    let connection = &all.connections[0];
    assert_eq!(connection.tenant, "green");
    assert_eq!(connection.protocol, "udp");
    assert_eq!(connection.source, "10.0.0.5:40000");
    assert_eq!(connection.destination, "198.51.100.7:53");
    // The external port is the worker slice's choice: the one the query left with.
    let left_with = packet::parse(&sent[0]).unwrap().flow.src_port;
    assert_eq!(
        connection.translated_source,
        format!("203.0.113.11:{left_with}")
    );
    assert_eq!(connection.state, "UNREPLIED");
    // One query: 20 bytes of IPv4 header, 8 of UDP, 5 of payload.
    assert_eq!((connection.packets, connection.bytes), (1, 33));
    assert!(connection.expires_in_ms > 0 && connection.expires_in_ms <= 30_000);

    let other_tenant = pb::ConnectionFilter {
        tenant: Some("orange".into()),
        ..Default::default()
    };
    let refused = rt.block_on(c.list_connections(other_tenant)).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        refused.message(),
        "tenant: no network belongs to tenant \"orange\""
    );
    let by_port = pb::ConnectionFilter {
        port: Some(53),
        state: Some("unreplied".into()),
        ..Default::default()
    };
    let found = rt
        .block_on(c.list_connections(by_port))
        .unwrap()
        .into_inner();
    assert_eq!(found.connections.len(), 1);

    // The server's answer, traced: against the live table it finds its connection and
    // goes back to green-vm1; against an empty one it is unsolicited.
    let mut answer = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0xcb, 0, 0x71, 1], [2, 0, 0xc0, 0, 2, 0x0b])
        .ipv4([198, 51, 100, 7], [203, 0, 113, 11], 60)
        .udp(53, left_with)
        .write(&mut answer, b"answer")
        .unwrap();
    let trace = |live: bool| {
        let request = pb::TraceRequest {
            port: Some("uplink".into()),
            logical_port: None,
            packet: Some(pb::trace_request::Packet::Frame(answer.clone())),
            live,
        };
        let mut c = c.clone();
        rt.block_on(c.trace(request)).unwrap().into_inner()
    };
    let unsolicited = trace(false);
    assert_eq!(
        unsolicited.drop_reason.as_deref(),
        Some("snat_no_connection"),
        "{unsolicited:?}"
    );
    let matched = trace(true);
    assert_eq!(matched.drop_reason, None, "{matched:?}");
    let snat = matched.steps.iter().find(|s| s.stage == "snat").unwrap();
    assert_eq!(snat.decision, "reply translated back to 10.0.0.5");
    assert_eq!(matched.outputs.len(), 1);
    assert_eq!(matched.outputs[0].port, "vm1");
    let unchanged = rt
        .block_on(c.list_connections(pb::ConnectionFilter::default()))
        .unwrap()
        .into_inner();
    assert_eq!(
        unchanged.connections[0].state, "UNREPLIED",
        "the trace changed nothing"
    );
    assert_eq!(unchanged.connections[0].packets, 1);

    // Flushing: a filter matching nothing removes nothing; the workers remove what
    // one matches, and a flush with a bad filter is refused.
    let other_port = pb::ConnectionFilter {
        port: Some(54),
        ..Default::default()
    };
    let kept = rt
        .block_on(c.flush_connections(other_port))
        .unwrap()
        .into_inner();
    assert_eq!((kept.flushed, kept.incomplete), (0, false));
    let bad = pb::ConnectionFilter {
        state: Some("BOGUS".into()),
        ..Default::default()
    };
    let refused = rt.block_on(c.flush_connections(bad)).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let by_address = pb::ConnectionFilter {
        address: Some("198.51.100.7".into()),
        tenant: Some("green".into()),
        ..Default::default()
    };
    let flushed = rt
        .block_on(c.flush_connections(by_address))
        .unwrap()
        .into_inner();
    assert_eq!((flushed.flushed, flushed.incomplete), (1, false));
    let left = rt
        .block_on(c.list_connections(pb::ConnectionFilter::default()))
        .unwrap()
        .into_inner();
    assert!(left.connections.is_empty(), "{left:?}");
    drop(c);
    drop(rt);
    daemon.stop();
}

#[test]
fn show_port_and_worker_status_and_stats_clear() {
    let daemon = Daemon::start();
    let stop = Arc::new(AtomicBool::new(false));
    // vm1 sends to an address nobody owns: received on vm1, answered host unreachable
    // within the router's ICMP budget, the rest dropped.
    let sender = keep_sending(&daemon, 1, routed_frame(), Arc::clone(&stop));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = client::connect(daemon.socket.clone()).await.unwrap();
        let show = c.show(pb::Empty {}).await.unwrap().into_inner();
        assert_eq!(show.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(show.workers.len(), 2);
        assert_eq!(show.generation, 1);
        // Each receive queue has a worker, and the workers list what they poll.
        for port in &show.ports {
            assert!(
                !port.workers.is_empty() && port.workers.iter().all(|w| *w < 2),
                "{show:?}"
            );
            for worker in &port.workers {
                assert!(
                    show.workers[*worker as usize].ports.contains(&port.name),
                    "{show:?}"
                );
            }
        }
        assert!(show.ports.iter().all(|p| !p.driver.is_empty()));

        tokio::time::sleep(Duration::from_millis(100)).await;
        let vm1 = |list: &pb::PortStatusList| {
            list.ports
                .iter()
                .find(|p| p.name == "vm1")
                .unwrap()
                .rx_packets
        };
        let request = pb::PortStatusRequest {
            port: Some("vm1".into()),
        };
        let before = c.port_status(request.clone()).await.unwrap().into_inner();
        assert_eq!(before.ports.len(), 1);
        assert!(vm1(&before) > 0, "{before:?}");
        let workers = c.worker_status(pb::Empty {}).await.unwrap().into_inner();
        assert_eq!(workers.workers.len(), 2);
        // The worker polling vm1 receives its packets and drops them.
        let vm1_worker = show.ports.iter().find(|p| p.name == "vm1").unwrap().workers[0] as usize;
        let polling = &workers.workers[vm1_worker];
        assert!(polling.rx_packets > 0 && polling.dropped > 0, "{workers:?}");
        assert!(polling
            .rx_queues
            .iter()
            .any(|q| q.port == "vm1" && q.queue == 0));
        let ports = c
            .port_status(pb::PortStatusRequest { port: None })
            .await
            .unwrap()
            .into_inner();
        let vm1_status = ports.ports.iter().find(|p| p.name == "vm1").unwrap();
        assert_eq!(vm1_status.queues[0].worker as usize, vm1_worker);
        assert!(vm1_status.link_up);

        c.clear_stats(pb::Empty {}).await.unwrap();
        let cleared = c.port_status(request.clone()).await.unwrap().into_inner();
        assert!(
            vm1(&cleared) < vm1(&before),
            "counting from zero again: {cleared:?}"
        );
        let stats = c.stats(pb::Empty {}).await.unwrap().into_inner();
        let total_rx: u64 = stats
            .total
            .as_ref()
            .unwrap()
            .ports
            .iter()
            .map(|p| p.rx)
            .sum();
        let lifetime_rx = daemon.runtime.as_ref().unwrap().handle().stats().total_rx();
        assert!(
            total_rx < lifetime_rx,
            "{total_rx} since the clear, {lifetime_rx} in all"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let later = c.port_status(request).await.unwrap().into_inner();
        assert!(vm1(&later) > vm1(&cleared), "and counting on");

        let unknown = c
            .port_status(pb::PortStatusRequest {
                port: Some("nope".into()),
            })
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), tonic::Code::NotFound);
    });
    drop(rt);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    daemon.stop();
}

/// One sample of a scrape: the value of the series `series` (name and labels).
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn scrape(address: std::net::SocketAddr) -> String {
    let output = std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "5"])
        .arg(format!("http://{address}/metrics"))
        .output()
        .expect("curl runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn prometheus_endpoint_counts_running_traffic() {
    // A free port: bound, read, released for the daemon.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let daemon = Daemon::start_with_metrics(Some(address));
    let stop = Arc::new(AtomicBool::new(false));
    // vm1 sends to an address nobody owns: received, answered host unreachable within
    // the router's ICMP budget, the rest dropped.
    let sender = keep_sending(&daemon, 1, routed_frame(), Arc::clone(&stop));
    let rx = "dataplane_port_rx_packets_total{port=\"vm1\"}";
    let rate_limited = "dataplane_drops_total{reason=\"icmp_rate_limited\"}";
    std::thread::sleep(Duration::from_millis(100));
    let first = scrape(address);
    std::thread::sleep(Duration::from_millis(200));
    let second = scrape(address);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();

    let (before, after) = (sample(&first, rx).unwrap(), sample(&second, rx).unwrap());
    assert!(after > before, "{rx}: {before} then {after}");
    assert!(sample(&second, rate_limited).unwrap() > 0.0, "{second}");
    assert_eq!(sample(&second, "dataplane_config_generation"), Some(1.0));
    let bytes = "dataplane_port_rx_bytes_total{port=\"vm1\"}";
    assert!(sample(&second, bytes).unwrap() > sample(&first, bytes).unwrap());
    assert_eq!(
        sample(&second, "dataplane_port_link_up{port=\"vm1\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &second,
            "dataplane_conntrack_entries{state=\"ESTABLISHED\"}"
        ),
        Some(0.0)
    );
    let workers_rx: f64 = ["0", "1"]
        .iter()
        .map(|w| {
            sample(
                &second,
                &format!("dataplane_worker_rx_packets_total{{worker=\"{w}\"}}"),
            )
            .unwrap()
        })
        .sum();
    assert!(workers_rx > 0.0, "{second}");
    let busy: f64 = ["0", "1"]
        .iter()
        .map(|w| {
            let name = format!("dataplane_worker_busy_cycles_total{{worker=\"{w}\"}}");
            sample(&second, &name).unwrap()
        })
        .sum();
    assert!(busy > 0.0, "cycles spent on the flow: {second}");
    let pool = sample(&second, "dataplane_pool_buffers").unwrap();
    let free = sample(&second, "dataplane_pool_buffers_free").unwrap();
    assert!(pool > 0.0 && free <= pool, "{second}");
    assert_eq!(
        sample(
            &second,
            "dataplane_worker_handoff_ring_packets{worker=\"0\"}"
        ),
        Some(0.0),
        "no SNAT reply crosses workers here"
    );
    assert!(
        second.contains("# TYPE dataplane_port_rx_packets counter"),
        "{second}"
    );
    assert!(second.trim_end().ends_with("# EOF"));
    daemon.stop();
}
