//! The namespace cloud (scripts/cloud-netns.sh: two `dataplane run` daemons on
//! AF_PACKET ports, VMs as kernel stacks in namespaces) configured from etcd instead of
//! files: the daemons run with `--etcd`, reaching an etcd in the root namespace over a
//! management veth each. The nodes converge, a VM's logical port moved to the other
//! node is reached there by real TCP, and an established TCP transfer survives an etcd
//! restart and a node's restart. With `CLOUD_ETCD_MEASURE=1`, the time from an etcd
//! write to both nodes' data path is measured (bench/results/etcd-convergence.md).

// Built with the etcd feature (its client needs protoc to build).
#![cfg(feature = "etcd")]
#![cfg(feature = "af-packet")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cloud_config::cloud_file::{CloudFile, CloudNode};
use dataplane::topology::file::TopologyFile;
use serde_json::Value;
use support::etcd::{block, wait_until, Etcd, PREFIX};

/// One namespace cloud at a time (they share two cores with the VMs' kernels).
static ONE_CLOUD_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The VM that moves: on compute-2's port `mv` first, then on compute-1's.
const MOVER_MAC: &str = "fa:16:3e:00:01:77";
const MOVER_IP: &str = "10.0.0.77";

/// The management network between the root namespace (etcd) and node N: 198.18.N.0/30
/// (the benchmarking range, on veths this test makes).
fn management(node: u32) -> (String, String) {
    (format!("198.18.{node}.1"), format!("198.18.{node}.2"))
}

struct Cloud {
    prefix: String,
    dir: tempfile::TempDir,
    etcd: Etcd,
    daemons: Vec<Option<Child>>,
    background: Vec<Child>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Cloud {
    fn up(test: &str) -> Option<Cloud> {
        let serial = ONE_CLOUD_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let prefix = format!("ce{}", std::process::id() % 100_000);
        let probe = format!("{prefix}-probe");
        match Command::new("ip").args(["netns", "add", &probe]).output() {
            Ok(out) if out.status.success() => {
                let _ = Command::new("ip").args(["netns", "del", &probe]).status();
            }
            other => {
                eprintln!("SKIPPED {test}: cannot create network namespaces here: {other:?}");
                return None;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cloud-netns.sh");
        let built = Command::new("bash")
            .arg(&script)
            .args(["up", &prefix])
            .arg(dir.path())
            .arg("dataplane")
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let sh = |command: String| {
            let out = Command::new("sh").args(["-c", &command]).output().unwrap();
            assert!(
                out.status.success(),
                "{command}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        for node in [1, 2] {
            let (root, inside) = management(node);
            let ns = format!("{prefix}-c{node}");
            sh(format!(
                "ip link add {prefix}-m{node} type veth peer name mgmt netns {ns}"
            ));
            sh(format!(
                "ip addr add {root}/30 dev {prefix}-m{node} && ip link set {prefix}-m{node} up"
            ));
            sh(format!(
                "ip -n {ns} addr add {inside}/30 dev mgmt && ip -n {ns} link set mgmt up"
            ));
            // The VM that moves has a place on each node: namespace mvN on port mv.
            let vm = format!("{prefix}-mv{node}");
            sh(format!("ip netns add {vm} && ip -n {vm} link set lo up"));
            sh(format!(
                "ip -n {ns} link add mv type veth peer name eth0 netns {vm}"
            ));
            sh(format!("ip -n {ns} link set mv up"));
            sh(format!("ip -n {vm} link set eth0 address {MOVER_MAC} up"));
            sh(format!("ip -n {vm} addr add {MOVER_IP}/24 dev eth0"));
            for (space, ifname) in [(&ns, "mv"), (&vm, "eth0")] {
                sh(format!(
                    "ip netns exec {space} ethtool -K {ifname} tx off tso off gso off gro off >/dev/null 2>&1 || true"
                ));
            }
        }
        let addresses: Vec<String> = [1, 2].iter().map(|n| management(*n).0).collect();
        let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
        let etcd = Etcd::start_on(&refs);
        let mut cloud = Cloud {
            prefix,
            dir,
            etcd,
            daemons: vec![None, None],
            background: Vec::new(),
            _serial: serial,
        };
        let objects = cloud.cloud_file(2).checked_objects().unwrap();
        let mut client = cloud.etcd.client();
        block(cloud_config::nodes::apply(&mut client, PREFIX, &objects)).unwrap();
        for node in [1, 2] {
            cloud.start_daemon(node);
        }
        Some(cloud)
    }

    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn socket(&self, node: u32) -> PathBuf {
        self.path(&format!("c{node}.sock"))
    }

    /// The cloud file of the script's two nodes (their VMs, networks and routers; the
    /// service function stays out: a chain's functions must be on the node that
    /// classifies), each node with a port `mv`, and the moving VM on `mover_node`.
    fn cloud_file(&self, mover_node: u32) -> CloudFile {
        let read = |n: u32| -> TopologyFile {
            let text = std::fs::read_to_string(self.path(&format!("compute-{n}.toml"))).unwrap();
            toml::from_str(&text).unwrap()
        };
        let (one, two) = (read(1), read(2));
        let mut cloud = CloudFile {
            networks: one.networks.clone(),
            routers: one.routers.clone(),
            ..Default::default()
        };
        for (n, topology) in [(1, &one), (2, &two)] {
            let mut ports = topology.ports.clone();
            ports.push(
                serde_json::from_str(r#"{"name":"mv","driver":"af-packet","ifname":"mv"}"#)
                    .unwrap(),
            );
            cloud.nodes.push(CloudNode {
                settings: topology.node.clone(),
                ports,
            });
            for lp in &topology.logical_ports {
                if lp.port.is_some() && lp.name.contains("-vm") {
                    let mut lp = lp.clone();
                    lp.chassis = Some(format!("compute-{n}"));
                    cloud.logical_ports.push(lp);
                }
            }
        }
        let mut mover = cloud.logical_ports[0].clone();
        mover.name = "green-mover".into();
        mover.network = "green-net".into();
        mover.mac = MOVER_MAC.into();
        mover.ip = Some(MOVER_IP.into());
        mover.port = Some("mv".into());
        mover.chassis = Some(format!("compute-{mover_node}"));
        cloud.logical_ports.push(mover);
        cloud
    }

    fn start_daemon(&mut self, node: u32) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(&format!("dataplane-{node}.log")))
            .unwrap();
        let endpoint = format!("http://{}:{}", management(node).0, self.etcd_port());
        let daemon = Command::new("ip")
            .args(["netns", "exec", &self.ns(&format!("c{node}"))])
            .arg(env!("CARGO_BIN_EXE_dataplane"))
            .args(["run", "--workers", "1", "--etcd", &endpoint])
            .args([
                "--node",
                &format!("compute-{node}"),
                "--etcd-lease-ttl",
                "2",
            ])
            .arg("--control-socket")
            .arg(self.socket(node))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemons[node as usize - 1] = Some(daemon);
        let ready = wait_until(Duration::from_secs(20), || {
            self.status(node).is_some_and(|s| s["connected"] == true)
        });
        assert!(
            ready,
            "compute-{node} never followed etcd: {}",
            self.log(node)
        );
    }

    fn stop_daemon(&mut self, node: u32) {
        if let Some(mut daemon) = self.daemons[node as usize - 1].take() {
            // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
            unsafe { libc::kill(daemon.id() as libc::pid_t, libc::SIGINT) };
            let _ = daemon.wait();
        }
    }

    fn etcd_port(&self) -> u16 {
        self.etcd
            .endpoint()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn log(&self, node: u32) -> String {
        std::fs::read_to_string(self.path(&format!("dataplane-{node}.log"))).unwrap_or_default()
    }

    fn dpctl(&self, node: u32, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dpctl"))
            .arg("--socket")
            .arg(self.socket(node))
            .args(["-o", "json"])
            .args(args)
            .output()
            .unwrap()
    }

    fn status(&self, node: u32) -> Option<Value> {
        let out = self.dpctl(node, &["status"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// Where a logical port is bound in a node's view: "port" here or the chassis.
    fn binding(&self, node: u32, name: &str) -> Option<String> {
        let out = self.dpctl(node, &["logical-port", "show", name]);
        let value: Value = serde_json::from_slice(&out.stdout).ok()?;
        value["port"]
            .as_str()
            .map(|p| format!("port {p}"))
            .or_else(|| value["chassis"].as_str().map(|c| format!("chassis {c}")))
    }

    fn exec(&self, ns: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(ns)])
            .args(args)
            .stdin(Stdio::null());
        command
    }

    fn serve(&mut self, ns: &str, dir: &Path) {
        let log = std::fs::File::create(self.path(&format!("http-{ns}.log"))).unwrap();
        let child = self
            .exec(
                ns,
                &[
                    "python3",
                    "-m",
                    "http.server",
                    "80",
                    "--directory",
                    dir.to_str().unwrap(),
                ],
            )
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.background.push(child);
        let up = wait_until(Duration::from_secs(10), || {
            self.exec(
                ns,
                &[
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-m",
                    "1",
                    "http://127.0.0.1/",
                ],
            )
            .status()
            .is_ok_and(|s| s.success())
        });
        assert!(up, "the HTTP server in {ns} did not start");
    }

    fn site(&self, name: &str, body: &[u8]) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), body).unwrap();
        dir
    }

    /// curl from a namespace; None when it fails.
    fn curl(&self, ns: &str, url: &str, extra: &[&str]) -> Option<Vec<u8>> {
        let out = self
            .exec(
                ns,
                &[&["curl", "-sS", "--fail", "-m", "5"][..], extra, &[url]].concat(),
            )
            .output()
            .unwrap();
        out.status.success().then_some(out.stdout)
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        for node in [1, 2] {
            self.stop_daemon(node);
        }
        for child in &mut self.background {
            let _ = child.kill();
            let _ = child.wait();
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cloud-netns.sh");
        let _ = Command::new("bash")
            .arg(script)
            .args(["down", &self.prefix])
            .status();
    }
}

#[test]
fn nodes_in_namespaces_follow_etcd_a_moved_vm_is_reached_and_flows_survive_restarts() {
    let Some(mut cloud) = Cloud::up("cloud_etcd") else {
        return;
    };
    // Both nodes converge: each sees the other up and binds the VMs where they are.
    let converged = wait_until(Duration::from_secs(15), || {
        [1, 2].iter().all(|n| {
            cloud
                .status(*n)
                .is_some_and(|s| s["nodes_down"].as_array().is_some_and(|d| d.is_empty()))
        })
    });
    assert!(converged, "{:?} {:?}", cloud.status(1), cloud.status(2));
    assert_eq!(
        cloud.binding(1, "green-vm2").as_deref(),
        Some("chassis compute-2")
    );
    assert_eq!(cloud.binding(2, "green-vm2").as_deref(), Some("port vm1"));

    // Real TCP across the nodes: g1 (compute-1) fetches from g2 (compute-2).
    let g2 = cloud.site("g2", b"served by g2\n");
    cloud.serve("g2", &g2);
    let body = wait_until(Duration::from_secs(10), || {
        cloud.curl("g1", "http://10.0.0.9/", &[]).is_some()
    });
    assert!(body, "g1 cannot reach g2 across the nodes");

    // The VM on compute-2's port mv answers; then it moves to compute-1's.
    for (node, body) in [(1, "mover on compute-1\n"), (2, "mover on compute-2\n")] {
        let site = cloud.site(&format!("mv{node}"), body.as_bytes());
        cloud.serve(&format!("mv{node}"), &site);
    }
    let url = format!("http://{MOVER_IP}/");
    let before = wait_until(Duration::from_secs(10), || {
        cloud.curl("g1", &url, &[]).as_deref() == Some(&b"mover on compute-2\n"[..])
    });
    assert!(before, "the mover is not reached on compute-2");
    let objects = cloud.cloud_file(1).checked_objects().unwrap();
    let mut client = cloud.etcd.client();
    block(cloud_config::nodes::apply(&mut client, PREFIX, &objects)).unwrap();
    let moved = wait_until(Duration::from_secs(10), || {
        cloud.binding(1, "green-mover").as_deref() == Some("port mv")
            && cloud.binding(2, "green-mover").as_deref() == Some("chassis compute-1")
    });
    assert!(moved, "the move did not reach both nodes");
    let after = cloud.curl("g1", &url, &[]);
    assert_eq!(after.as_deref(), Some(&b"mover on compute-1\n"[..]));
    // From the node it left too: g2 reaches it over VXLAN at its new place.
    let from_g2 = cloud.curl("g2", &url, &[]);
    assert_eq!(from_g2.as_deref(), Some(&b"mover on compute-1\n"[..]));

    // An established transfer (g1 from g2, rate-limited to last ~8 s) survives an etcd
    // restart and compute-2's restart.
    let big: Vec<u8> = (0..4_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(g2.join("big"), &big).unwrap();
    let out = cloud.path("big.out");
    let log = std::fs::File::create(cloud.path("curl-big.log")).unwrap();
    let mut transfer = cloud
        .exec(
            "g1",
            &[
                "curl",
                "-sS",
                "--fail",
                "-m",
                "60",
                "--limit-rate",
                "500K",
                "-o",
                out.to_str().unwrap(),
                "http://10.0.0.9/big",
            ],
        )
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    cloud.etcd.restart();
    std::thread::sleep(Duration::from_secs(1));
    cloud.stop_daemon(2);
    cloud.start_daemon(2);
    let status = transfer.wait().unwrap();
    let log = std::fs::read_to_string(cloud.path("curl-big.log")).unwrap_or_default();
    assert!(status.success(), "the transfer broke: {log}");
    assert!(
        std::fs::read(&out).unwrap() == big,
        "the transfer's bytes differ"
    );
    // Both nodes follow etcd again, compute-2 up for compute-1.
    let again = wait_until(Duration::from_secs(15), || {
        cloud.status(1).is_some_and(|s| {
            s["connected"] == true && s["nodes_down"].as_array().is_some_and(|d| d.is_empty())
        })
    });
    assert!(again, "{:?}", cloud.status(1));

    if std::env::var_os("CLOUD_ETCD_MEASURE").is_some() {
        measure(&cloud);
    }
}

/// 100 writes, each timed from the put to both daemons publishing the snapshot that
/// holds it (the generation the control API's Show reports, polled back to back; the
/// workers switch to it at their next burst).
fn measure(cloud: &Cloud) {
    let mut client = cloud.etcd.client();
    let mut apis: Vec<_> = [1, 2]
        .iter()
        .map(|n| block(dataplane::control::client::connect(cloud.socket(*n))).unwrap())
        .collect();
    let mut generation = |node: u32| -> u64 {
        let api = &mut apis[node as usize - 1];
        block(api.show(dataplane::control::proto::Empty {}))
            .unwrap()
            .into_inner()
            .generation
    };
    let mut samples = Vec::new();
    for index in 0..100u32 {
        let before = [generation(1), generation(2)];
        let value = format!(
            r#"{{"name":"extra{index}","network":"green-net","mac":"fa:16:3e:02:00:{:02x}","ip":"10.0.0.{}","chassis":"compute-{}","port":"mv","vlan":{}}}"#,
            index,
            100 + index,
            1 + index % 2,
            10 + index
        );
        let start = Instant::now();
        block(client.put(format!("{PREFIX}/logical_ports/extra{index}"), value, None)).unwrap();
        while generation(1) == before[0] || generation(2) == before[1] {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "write {index} never arrived"
            );
        }
        samples.push(start.elapsed());
    }
    samples.sort();
    println!(
        "namespace cloud, 2 nodes, 100 writes: median {:?}, worst {:?}",
        samples[50], samples[99]
    );
}
