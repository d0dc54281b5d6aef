//! The cloud configuration in a real etcd (started by each test on loopback, its data
//! in a temporary directory, killed at the end): nodes converge on the topology,
//! refused keys are named while the rest applies, etcd going away leaves forwarding
//! alone and the watch resumes, a node whose lease lapses is down for the others.
//! Nodes run in process (a runtime over memory ports, the agent), except the one
//! test that drives the binaries (`dataplane run --etcd`, `dpctl --etcd`).

// Built with the etcd feature (its client needs protoc to build).
#![cfg(feature = "etcd")]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;

use support::etcd::{block, registration, wait_until, Etcd, PREFIX};

use cloud_config::agent::initial;
use cloud_config::{Agent, AgentOptions};
use dataplane::control::cloud_status::{CloudStatus, CloudStatusView};
use dataplane::control::{ControlState, SharedState};
use dataplane::counters::DropReason;
use dataplane::pipeline::tables::ForwardingTables;
use dataplane::port::memory::{MemoryPort, MemoryPortPeer};
use dataplane::runtime::{Runtime, RuntimeConfig};
use dataplane::topology::{file::TopologyFile, Topology};
use etcd_client::PutOptions;
use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
use packet::Pool;

/// Two nodes, one VM each on network `net` (VNI 100).
const CLOUD: &str = r#"
[[nodes]]
name = "n1"
vtep_ip = "192.0.2.1"
uplink = "uplink"
uplink_mac = "02:00:00:00:00:01"
[[nodes.ports]]
name = "uplink"
driver = "pcap"
[[nodes.ports]]
name = "vm"
driver = "pcap"

[[nodes]]
name = "n2"
vtep_ip = "192.0.2.2"
uplink = "uplink"
uplink_mac = "02:00:00:00:00:02"
[[nodes.ports]]
name = "uplink"
driver = "pcap"
[[nodes.ports]]
name = "vm"
driver = "pcap"

[[networks]]
name = "net"
tenant = "t"
vni = 100
cidr = "10.0.0.0/24"

[[logical_ports]]
name = "a"
network = "net"
mac = "fa:16:3e:00:00:0a"
ip = "10.0.0.10"
chassis = "n1"
port = "vm"

[[logical_ports]]
name = "b"
network = "net"
mac = "fa:16:3e:00:00:0b"
ip = "10.0.0.11"
chassis = "n2"
port = "vm"
"#;

const A_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 0x0a];
const B_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 0x0b];

/// A node in process: its runtime over memory ports, its control state and agent.
struct Node {
    runtime: Option<Runtime>,
    agent: Option<Agent>,
    state: SharedState,
    status: Arc<CloudStatus>,
    peers: Vec<MemoryPortPeer>,
    port_names: Vec<String>,
}

impl Node {
    fn start(etcd: &Etcd, name: &str, lease_ttl: i64) -> Node {
        let options = AgentOptions {
            endpoints: vec![etcd.endpoint()],
            prefix: PREFIX.into(),
            node: name.into(),
            lease_ttl,
            version: "test".into(),
        };
        let first = initial(&options, Duration::from_secs(5)).unwrap();
        Node::start_from(options, first)
    }

    fn start_from(options: AgentOptions, first: cloud_config::agent::Initial) -> Node {
        let file = first.file().clone();
        let topology = Topology::from_file(&file).unwrap();
        let (ports, peers): (Vec<_>, Vec<_>) = topology
            .ports
            .iter()
            .enumerate()
            .map(|(id, port)| MemoryPort::open(id as u16, &port.name, 4096))
            .unzip();
        let tables = Arc::new(ForwardingTables::build(&topology));
        let config = RuntimeConfig {
            workers: 1,
            ..RuntimeConfig::default()
        };
        let runtime = Runtime::start(config, Arc::clone(&tables), ports).unwrap();
        let status = Arc::new(CloudStatus::new(options.status()));
        let state = ControlState::new(file, tables, runtime.handle())
            .unwrap()
            .with_cloud_status(Arc::clone(&status));
        let state = Arc::new(Mutex::new(state));
        let agent = Agent::spawn(
            options,
            Arc::clone(&state),
            Arc::clone(&status),
            Some(first),
        )
        .unwrap();
        Node {
            runtime: Some(runtime),
            agent: Some(agent),
            state,
            status,
            peers,
            port_names: topology.ports.iter().map(|p| p.name.clone()).collect(),
        }
    }

    fn view(&self) -> TopologyFile {
        self.state.lock().unwrap().file().clone()
    }

    fn status(&self) -> CloudStatusView {
        self.status.get()
    }

    fn generation(&self) -> u64 {
        self.runtime.as_ref().unwrap().handle().generation()
    }

    fn drops(&self, reason: DropReason) -> u64 {
        self.runtime
            .as_ref()
            .unwrap()
            .handle()
            .stats()
            .drops(reason)
    }

    fn peer(&self, port: &str) -> &MemoryPortPeer {
        let index = self.port_names.iter().position(|p| p == port).unwrap();
        &self.peers[index]
    }

    fn chassis_down(&self, name: &str) -> Option<bool> {
        self.view()
            .chassis
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.down)
    }

    /// Injects `frame` on `port` every millisecond until `stop`.
    fn keep_sending(
        &self,
        port: &str,
        frame: Vec<u8>,
        stop: Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        let peer = self.peer(port).clone();
        let buffers = Arc::clone(self.runtime.as_ref().unwrap().handle().buffers());
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

    /// Frames taken from `port` within `wait`.
    fn collect(&self, port: &str, wait: Duration) -> Vec<Vec<u8>> {
        let peer = self.peer(port);
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

    fn stop(mut self) {
        self.agent.take().unwrap().stop();
        self.runtime.take().unwrap().shutdown().unwrap();
    }
}

/// VM `a` (on n1) to VM `b`.
fn a_to_b() -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(A_MAC, B_MAC)
        .ipv4([10, 0, 0, 10], [10, 0, 0, 11], 64)
        .udp(40000, 5000)
        .write(&mut frame, b"hello b")
        .unwrap();
    frame
}

/// The VXLAN frames among `frames` sent to `vtep` (outer IPv4 destination).
fn vxlan_to(frames: &[Vec<u8>], vtep: [u8; 4]) -> usize {
    frames
        .iter()
        .filter(|frame| {
            let Ok(sliced) = SlicedPacket::from_ethernet(frame) else {
                return false;
            };
            let to_vtep = matches!(&sliced.net, Some(etherparse::NetSlice::Ipv4(ip)) if ip.header().destination() == vtep);
            let vxlan = matches!(&sliced.transport, Some(TransportSlice::Udp(udp)) if udp.destination_port() == 4789);
            to_vtep && vxlan
        })
        .count()
}

#[test]
fn nodes_converge_on_the_topology_and_follow_a_transaction_as_one_change() {
    let etcd = Etcd::start();
    etcd.apply(CLOUD);
    let n1 = Node::start(&etcd, "n1", 5);
    let n2 = Node::start(&etcd, "n2", 5);
    assert!(
        wait_until(Duration::from_secs(10), || n1.chassis_down("n2")
            == Some(false)
            && n2.chassis_down("n1") == Some(false)),
        "the nodes never saw each other up: {:?} {:?}",
        n1.view().chassis,
        n2.view().chassis
    );
    for (node, local, remote) in [(&n1, "a", "b"), (&n2, "b", "a")] {
        let view = node.view();
        let find = |name: &str| {
            view.logical_ports
                .iter()
                .find(|l| l.name == name)
                .unwrap()
                .clone()
        };
        assert_eq!(find(local).port.as_deref(), Some("vm"));
        assert_eq!(find(local).chassis, None);
        assert_eq!(find(remote).port, None);
        assert!(find(remote).chassis.is_some());
    }
    // a's frames to b leave n1 encapsulated to n2's VTEP.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = n1.keep_sending("vm", a_to_b(), Arc::clone(&stop));
    let sent = n1.collect("uplink", Duration::from_millis(500));
    assert!(
        vxlan_to(&sent, [192, 0, 2, 2]) > 0,
        "nothing encapsulated to n2"
    );

    // Two new objects in one transaction: one change (one generation) on each node.
    let before = (n1.generation(), n2.generation());
    let network = r#"{"name":"net2","tenant":"t","vni":200,"cidr":"10.0.2.0/24"}"#;
    let port = r#"{"name":"c","network":"net2","mac":"fa:16:3e:00:00:0c","ip":"10.0.2.5","chassis":"n2","port":"vm","vlan":20}"#;
    etcd.put_all(&[
        ("/cloud/networks/net2", network),
        ("/cloud/logical_ports/c", port),
    ]);
    let has_c = |node: &Node| node.view().logical_ports.iter().any(|l| l.name == "c");
    assert!(wait_until(Duration::from_secs(10), || has_c(&n1) && has_c(&n2)));
    assert_eq!(n1.generation(), before.0 + 1);
    assert_eq!(n2.generation(), before.1 + 1);
    assert!(n1.status().refused.is_empty() && n2.status().refused.is_empty());
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    n1.stop();
    n2.stop();
}

#[test]
fn a_malformed_or_invalid_key_is_refused_by_name_and_the_rest_applies() {
    let etcd = Etcd::start();
    etcd.apply(CLOUD);
    let n1 = Node::start(&etcd, "n1", 5);
    let generation = n1.generation();
    etcd.put_all(&[
        ("/cloud/networks/broken", "{ this is not json"),
        (
            "/cloud/logical_ports/lost",
            r#"{"name":"lost","network":"nowhere","mac":"fa:16:3e:00:00:0d","chassis":"n1","port":"vm"}"#,
        ),
        (
            "/cloud/logical_ports/good",
            r#"{"name":"good","network":"net","mac":"fa:16:3e:00:00:0e","ip":"10.0.0.14","chassis":"n1","port":"vm","vlan":50}"#,
        ),
    ]);
    let has = |name: &str| n1.view().logical_ports.iter().any(|l| l.name == name);
    assert!(
        wait_until(Duration::from_secs(10), || has("good")),
        "{:?}",
        n1.status()
    );
    assert!(!has("lost"));
    assert!(n1.view().networks.iter().all(|n| n.name != "broken"));
    assert_eq!(n1.generation(), generation + 1);
    let refused = n1.status().refused;
    let keys: Vec<&str> = refused.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        ["/cloud/networks/broken", "/cloud/logical_ports/lost"]
    );
    assert!(
        refused[0].reason.contains("not a valid object"),
        "{refused:?}"
    );
    assert!(refused[1].reason.contains("unknown network"), "{refused:?}");

    // An update that breaks an applied object: the applied version stays.
    etcd.put_all(&[(
        "/cloud/logical_ports/good",
        r#"{"name":"good","network":"net","mac":"not-a-mac","chassis":"n1","port":"vm","vlan":50}"#,
    )]);
    assert!(wait_until(Duration::from_secs(10), || n1
        .status()
        .refused
        .iter()
        .any(|r| r.key == "/cloud/logical_ports/good")));
    let good = n1
        .view()
        .logical_ports
        .into_iter()
        .find(|l| l.name == "good")
        .unwrap();
    assert_eq!(good.mac, "fa:16:3e:00:00:0e");
    n1.stop();
}

#[test]
fn etcd_down_leaves_forwarding_alone_and_the_watch_resumes() {
    let mut etcd = Etcd::start();
    etcd.apply(CLOUD);
    let n1 = Node::start(&etcd, "n1", 30);
    // n2 registered by hand, with a lease long enough to outlive the outage.
    let mut client = etcd.client();
    block(async {
        let lease = client.lease_grant(300, None).await.unwrap().id();
        let value = registration("n2", "192.0.2.2", "02:00:00:00:00:02");
        client
            .put(
                "/cloud/chassis/n2",
                value,
                Some(PutOptions::new().with_lease(lease)),
            )
            .await
            .unwrap();
    });
    assert!(wait_until(Duration::from_secs(10), || n1
        .chassis_down("n2")
        == Some(false)));
    assert!(wait_until(Duration::from_secs(10), || n1
        .status()
        .connected));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = n1.keep_sending("vm", a_to_b(), Arc::clone(&stop));

    etcd.kill();
    assert!(
        wait_until(Duration::from_secs(10), || !n1.status().connected),
        "the agent did not notice etcd going away"
    );
    let during = n1.collect("uplink", Duration::from_millis(700));
    assert!(
        vxlan_to(&during, [192, 0, 2, 2]) > 0,
        "forwarding stopped with etcd"
    );
    assert!(n1.status().last_error.is_some());
    let revision = n1.status().revision;

    etcd.restart();
    assert!(wait_until(Duration::from_secs(15), || n1
        .status()
        .connected));
    let port = r#"{"name":"late","network":"net","mac":"fa:16:3e:00:00:0f","ip":"10.0.0.15","chassis":"n1","port":"vm","vlan":40}"#;
    etcd.put_all(&[("/cloud/logical_ports/late", port)]);
    assert!(wait_until(Duration::from_secs(10), || n1
        .view()
        .logical_ports
        .iter()
        .any(|l| l.name == "late")));
    assert!(n1.status().revision > revision);
    assert_eq!(
        n1.status().full_reads,
        0,
        "the watch resumed from its revision"
    );
    let after = n1.collect("uplink", Duration::from_millis(300));
    assert!(vxlan_to(&after, [192, 0, 2, 2]) > 0);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    n1.stop();
}

#[test]
fn a_compacted_revision_makes_the_agent_read_everything_again() {
    let etcd = Etcd::start();
    etcd.apply(CLOUD);
    let options = AgentOptions {
        endpoints: vec![etcd.endpoint()],
        prefix: PREFIX.into(),
        node: "n1".into(),
        lease_ttl: 5,
        version: "test".into(),
    };
    // The node reads the cloud; before it watches, the cloud moves on and etcd
    // compacts its history past what the node read.
    let first = initial(&options, Duration::from_secs(5)).unwrap();
    let port = r#"{"name":"moved-on","network":"net","mac":"fa:16:3e:00:00:10","ip":"10.0.0.16","chassis":"n1","port":"vm","vlan":30}"#;
    etcd.put_all(&[("/cloud/logical_ports/moved-on", port)]);
    etcd.put_all(&[("/cloud/unrelated", "x")]);
    let mut client = etcd.client();
    block(async {
        let revision = client
            .get("x", None)
            .await
            .unwrap()
            .header()
            .unwrap()
            .revision();
        client.compact(revision, None).await.unwrap();
    });
    let n1 = Node::start_from(options, first);
    assert!(wait_until(Duration::from_secs(10), || n1
        .view()
        .logical_ports
        .iter()
        .any(|l| l.name == "moved-on")));
    assert_eq!(n1.status().full_reads, 1);
    n1.stop();
}

#[test]
fn a_node_whose_lease_lapses_is_down_for_the_others_until_it_registers_again() {
    let etcd = Etcd::start();
    etcd.apply(CLOUD);
    let n1 = Node::start(&etcd, "n1", 5);
    assert_eq!(
        n1.chassis_down("n2"),
        Some(true),
        "n2 never registered: down"
    );
    // n2 registers under a 2-second lease and never keeps it alive.
    let register = || {
        let mut client = etcd.client();
        block(async {
            let lease = client.lease_grant(2, None).await.unwrap().id();
            let value = registration("n2", "192.0.2.2", "02:00:00:00:00:02");
            client
                .put(
                    "/cloud/chassis/n2",
                    value,
                    Some(PutOptions::new().with_lease(lease)),
                )
                .await
                .unwrap();
        })
    };
    register();
    assert!(wait_until(Duration::from_secs(5), || n1.chassis_down("n2")
        == Some(false)));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = n1.keep_sending("vm", a_to_b(), Arc::clone(&stop));
    assert!(
        vxlan_to(
            &n1.collect("uplink", Duration::from_millis(300)),
            [192, 0, 2, 2]
        ) > 0
    );

    // The lease lapses (etcd checks expiry about every half second).
    assert!(
        wait_until(Duration::from_secs(10), || n1.chassis_down("n2")
            == Some(true)),
        "n2's lease expired but n1 still has it up"
    );
    assert_eq!(n1.status().nodes_down, ["n2"]);
    n1.collect("uplink", Duration::from_millis(100));
    let dropped = n1.drops(DropReason::ChassisDown);
    let while_down = n1.collect("uplink", Duration::from_millis(500));
    assert_eq!(vxlan_to(&while_down, [192, 0, 2, 2]), 0);
    assert!(
        n1.drops(DropReason::ChassisDown) > dropped,
        "frames to a down node are not counted"
    );

    register();
    assert!(wait_until(Duration::from_secs(5), || n1.chassis_down("n2")
        == Some(false)));
    assert!(
        vxlan_to(
            &n1.collect("uplink", Duration::from_millis(300)),
            [192, 0, 2, 2]
        ) > 0
    );
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    n1.stop();
}

fn dpctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dpctl"))
        .args(args)
        .output()
        .unwrap()
}

/// `dpctl --etcd apply`, `dataplane run --etcd`, `dpctl status`, `dpctl --etcd nodes`.
#[test]
fn the_binaries_write_follow_and_report_the_cloud() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud.toml");
    std::fs::write(&cloud, CLOUD).unwrap();
    let endpoint = etcd.endpoint();
    let cloud_arg = cloud.to_str().unwrap();
    let applied = dpctl(&[
        "--etcd", &endpoint, "--prefix", PREFIX, "apply", "-f", cloud_arg,
    ]);
    let text = String::from_utf8_lossy(&applied.stdout);
    assert!(applied.status.success(), "{applied:?}");
    assert!(text.contains("9 written, 0 deleted, 0 unchanged"), "{text}");
    let again = dpctl(&["--etcd", &endpoint, "apply", "-f", cloud_arg]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 written, 0 deleted, 9 unchanged"));
    // A file some node would refuse is refused whole, naming the node and object.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, CLOUD.replace("vni = 100", "vni = 0")).unwrap();
    let refused = dpctl(&["--etcd", &endpoint, "apply", "-f", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("nodes \"n1\": networks \"net\": vni"),
        "{message}"
    );

    let socket: PathBuf = dir.path().join("n1.sock");
    let metrics = format!("127.0.0.1:{}", support::etcd::free_port());
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_dataplane"))
        .args(["run", "--workers", "1", "--etcd", &endpoint, "--node", "n1"])
        .args([
            "--etcd-lease-ttl",
            "2",
            "--metrics",
            &metrics,
            "--control-socket",
        ])
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket_arg = socket.to_str().unwrap();
    let status = || dpctl(&["--socket", socket_arg, "-o", "json", "status"]);
    let connected = wait_until(Duration::from_secs(15), || {
        let output = status();
        output.status.success()
            && serde_json::from_slice::<serde_json::Value>(&output.stdout)
                .is_ok_and(|v| v["connected"] == true && v["registered"] == true)
    });
    assert!(connected, "{:?}", status());
    let reply: serde_json::Value = serde_json::from_slice(&status().stdout).unwrap();
    assert_eq!(reply["node"], "n1");
    assert_eq!(reply["nodes_down"], serde_json::json!(["n2"]));
    let scrape = Command::new("curl")
        .args(["-sS", "-m", "5", &format!("http://{metrics}/metrics")])
        .output()
        .unwrap();
    let scrape = String::from_utf8_lossy(&scrape.stdout);
    for line in [
        "dataplane_etcd_connected 1",
        "dataplane_etcd_registered 1",
        "dataplane_etcd_nodes_down 1",
        "dataplane_etcd_refused_objects 0",
    ] {
        assert!(scrape.lines().any(|l| l == line), "no {line} in {scrape}");
    }
    let topology = dpctl(&["--socket", socket_arg, "topology"]);
    let topology = String::from_utf8_lossy(&topology.stdout);
    assert!(
        topology.contains("name = \"n2\"") && topology.contains("down = true"),
        "{topology}"
    );

    let nodes = dpctl(&["--etcd", &endpoint, "-o", "json", "nodes"]);
    let nodes: serde_json::Value = serde_json::from_slice(&nodes.stdout).unwrap();
    assert_eq!(nodes[0]["name"], "n1");
    assert_eq!(nodes[0]["up"], true);
    assert_eq!(nodes[0]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(nodes[1]["name"], "n2");
    assert_eq!(nodes[1]["up"], false);
    let table = dpctl(&["--etcd", &endpoint, "nodes"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("n2    down"));

    // A clean stop revokes the lease: n1 is down at once.
    // SAFETY: kill sends a signal to the child we spawned.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGINT) };
    assert!(daemon.wait().unwrap().success());
    let nodes = dpctl(&["--etcd", &endpoint, "-o", "json", "nodes"]);
    let nodes: serde_json::Value = serde_json::from_slice(&nodes.stdout).unwrap();
    assert_eq!(nodes[0]["up"], false, "{nodes}");
}

fn median_and_worst(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], *samples.last().unwrap())
}

/// A measurement, not a check (run by hand, figures in
/// bench/results/etcd-convergence.md): the time from an etcd write to the moment every
/// node's workers run the snapshot that holds it, for 100 writes; and what one node's
/// view costs to derive, validate and compile as the cloud grows.
#[test]
#[ignore = "a measurement: cargo test -p dataplane --test etcd -- --ignored --nocapture measure"]
fn measure_convergence() {
    let etcd = Etcd::start();
    etcd.apply(CLOUD);
    let nodes = [Node::start(&etcd, "n1", 5), Node::start(&etcd, "n2", 5)];
    assert!(wait_until(Duration::from_secs(10), || nodes
        .iter()
        .all(|n| n.status().nodes_down.is_empty())));
    let mut client = etcd.client();
    let mut samples = Vec::new();
    for index in 0..100u32 {
        let handles: Vec<_> = nodes
            .iter()
            .map(|n| n.runtime.as_ref().unwrap().handle())
            .collect();
        let before: Vec<u64> = handles.iter().map(|h| h.generation()).collect();
        let value = format!(
            r#"{{"name":"p{index}","network":"net","mac":"fa:16:3e:01:{:02x}:{:02x}","ip":"10.0.0.{}","chassis":"n{}","port":"vm","vlan":{}}}"#,
            index / 256,
            index % 256,
            100 + index,
            1 + index % 2,
            100 + index
        );
        let key = format!("/cloud/logical_ports/p{index}");
        let start = Instant::now();
        block(client.put(key, value, None)).unwrap();
        let committed = start.elapsed();
        let deadline = start + Duration::from_secs(10);
        // Polled every 50 us: the figure is the write's, not the poll's.
        while !handles
            .iter()
            .zip(&before)
            .all(|(h, b)| h.generation() > *b && h.oldest_generation_in_use() > *b)
        {
            assert!(
                Instant::now() < deadline,
                "write {index} did not reach every node"
            );
            std::thread::sleep(Duration::from_micros(50));
        }
        samples.push((start.elapsed(), committed));
    }
    let (median, worst) = median_and_worst(samples.iter().map(|s| s.0).collect());
    let (put_median, put_worst) = median_and_worst(samples.iter().map(|s| s.1).collect());
    println!(
        "write to every node's workers, 2 nodes, 100 writes: median {median:?}, worst {worst:?}; the put alone (etcd commit): median {put_median:?}, worst {put_worst:?}"
    );
    for node in nodes {
        node.stop();
    }

    // One node's view of a cloud of N logical ports over 100 nodes.
    let resident = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    };
    for ports in [1_000usize, 10_000, 100_000] {
        let resident_before = resident();
        let mut raw = cloud_config::reconcile::Raw::new();
        for n in 0..100 {
            let node = format!(
                r#"{{"name":"n{n}","vtep_ip":"10.1.{}.{}","uplink":"uplink","uplink_mac":"02:00:00:00:{:02x}:{:02x}"}}"#,
                n / 256,
                n % 256 + 1,
                n / 256,
                n % 256
            );
            raw.insert(format!("/cloud/nodes/n{n}/node"), node.into_bytes());
            let registration = registration(
                &format!("n{n}"),
                &format!("10.1.{}.{}", n / 256, n % 256 + 1),
                "02:00:00:00:ff:ff",
            );
            raw.insert(format!("/cloud/chassis/n{n}"), registration.into_bytes());
        }
        for port in ["uplink", "vm"] {
            raw.insert(
                format!("/cloud/nodes/n0/ports/{port}"),
                format!(r#"{{"name":"{port}","driver":"pcap"}}"#).into_bytes(),
            );
        }
        let networks = ports / 100;
        for net in 0..networks {
            let value = format!(
                r#"{{"name":"net{net}","tenant":"t{net}","vni":{},"cidr":"10.{}.{}.0/24"}}"#,
                net + 1,
                100 + net / 256,
                net % 256
            );
            raw.insert(format!("/cloud/networks/net{net}"), value.into_bytes());
        }
        let mut bytes = 0;
        for p in 0..ports {
            let net = p % networks;
            let node = p % 100;
            // The node n0 hosts its ports as sub-ports of its port vm.
            let binding = if node == 0 {
                format!(r#""chassis":"n0","port":"vm","vlan":{}"#, 1 + p / 100)
            } else {
                format!(r#""chassis":"n{node}""#)
            };
            let value = format!(
                r#"{{"name":"p{p}","network":"net{net}","mac":"fa:16:{:02x}:{:02x}:{:02x}:{:02x}","ip":"10.{}.{}.{}",{binding}}}"#,
                (p >> 24) & 0xff,
                (p >> 16) & 0xff,
                (p >> 8) & 0xff,
                p & 0xff,
                100 + net / 256,
                net % 256,
                2 + p / networks
            );
            bytes += value.len();
            raw.insert(format!("/cloud/logical_ports/p{p}"), value.into_bytes());
        }
        let reconciler = cloud_config::reconcile::Reconciler::new("/cloud", "n0");
        let start = Instant::now();
        let outcome = reconciler.reconcile(&raw, None).unwrap();
        let reconcile = start.elapsed();
        assert!(outcome.refused.is_empty(), "{:?}", &outcome.refused[..1]);
        let topology = Topology::from_file(&outcome.file).unwrap();
        let start = Instant::now();
        let tables = ForwardingTables::build(&topology);
        let build = start.elapsed();
        let held = resident().saturating_sub(resident_before);
        drop((tables, topology, outcome));
        println!(
            "{ports} logical ports, {networks} networks, 100 nodes: {} keys, {:.0} bytes per port value; decode+derive+validate {reconcile:?}, tables {build:?}; resident {:.1} MB more (keys, view, model, tables)",
            raw.len(),
            bytes as f64 / ports as f64,
            held as f64 / 1e6
        );
    }
}

/// Without etcd at start a node resumes the configuration its `--state` file saved
/// (and catches up once etcd answers); without one it refuses to start, naming etcd.
#[test]
fn a_node_started_without_etcd_resumes_its_saved_state_or_refuses() {
    let mut etcd = Etcd::start();
    etcd.apply(CLOUD);
    let dir = tempfile::tempdir().unwrap();
    let endpoint = etcd.endpoint();
    let socket = dir.path().join("n1.sock");
    let state = dir.path().join("n1.state.toml");
    let start = |with_state: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dataplane"));
        command
            .args(["run", "--workers", "1", "--etcd", &endpoint, "--node", "n1"])
            .arg("--control-socket")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if with_state {
            command.arg("--state").arg(&state);
        }
        command.spawn().unwrap()
    };
    let status = || {
        let output = dpctl(&["--socket", socket.to_str().unwrap(), "-o", "json", "status"]);
        serde_json::from_slice::<serde_json::Value>(&output.stdout).ok()
    };
    let stop = |mut daemon: std::process::Child| {
        // SAFETY: kill sends a signal to the child we spawned.
        unsafe { libc::kill(daemon.id() as i32, libc::SIGINT) };
        assert!(daemon.wait().unwrap().success());
    };
    let daemon = start(true);
    assert!(wait_until(Duration::from_secs(15), || status()
        .is_some_and(|s| s["connected"] == true)));
    stop(daemon);
    assert!(state.exists(), "the state file was not written");

    etcd.kill();
    let refused = start(false).wait_with_output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("--etcd http://127.0.0.1:"), "{message}");
    assert!(message.contains("no --state file"), "{message}");

    let daemon = start(true);
    assert!(
        wait_until(Duration::from_secs(20), || status()
            .is_some_and(|s| s["connected"] == false)),
        "{:?}",
        status()
    );
    let topology = dpctl(&["--socket", socket.to_str().unwrap(), "topology"]);
    assert!(String::from_utf8_lossy(&topology.stdout).contains("name = \"b\""));
    etcd.restart();
    assert!(wait_until(Duration::from_secs(20), || {
        status().is_some_and(|s| s["connected"] == true && s["full_reads"] == 1)
    }));
    stop(daemon);
}
