//! A small cloud in network namespaces with real TCP end to end: two `dataplane run`
//! daemons (compute-1 and compute-2, every port AF_PACKET on a veth) whose uplinks
//! share an underlay bridge, the VMs of two tenants with the same addresses (kernel
//! stacks in namespaces), a service function forwarding IP in its kernel, and an
//! external gateway with "the internet" behind it. `scripts/cloud-netns.sh` builds it
//! (the same cloud `bench/cloud-vs-kernel.sh` measures); each test gets its own, under
//! a unique name prefix, and a guard deletes it whatever happens.
//!
//! Each test asserts what the peers saw: HTTP bodies, captures inside the service
//! function, the route cache of a VM, the daemons' connection table and counters.

#![cfg(feature = "af-packet")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::read_pcap;

/// The clouds run one at a time: two daemons and their traffic already share the
/// machine's cores with the kernel stacks of the VMs.
static ONE_CLOUD_AT_A_TIME: Mutex<()> = Mutex::new(());
static CLOUDS: AtomicU32 = AtomicU32::new(0);

const GREEN_VM1_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0x00, 0x01, 0x01];
const FW1_IN_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0x00, 0x0f, 0x01];

fn builder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cloud-netns.sh")
}

/// A built cloud with its daemons; dropping it stops everything started in it and
/// deletes its namespaces.
struct Cloud {
    prefix: String,
    dir: tempfile::TempDir,
    daemons: Vec<Child>,
    background: Vec<Child>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Cloud {
    /// Builds the cloud and starts both nodes' daemons; None (said on stderr) when this
    /// machine cannot create network namespaces.
    fn up(test: &str) -> Option<Cloud> {
        let serial = ONE_CLOUD_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let prefix = format!(
            "cl{}x{}",
            std::process::id(),
            CLOUDS.fetch_add(1, Ordering::Relaxed)
        );
        let probe = format!("{prefix}-probe");
        let made = Command::new("ip").args(["netns", "add", &probe]).output();
        match made {
            Ok(out) if out.status.success() => {
                let _ = Command::new("ip").args(["netns", "del", &probe]).status();
            }
            Ok(out) => {
                eprintln!(
                    "SKIPPED {test}: cannot create network namespaces here (root needed): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return None;
            }
            Err(e) => {
                eprintln!("SKIPPED {test}: cannot run ip (iproute2): {e}");
                return None;
            }
        }
        for tool in ["curl", "iperf3", "tcpdump", "busybox", "ethtool", "python3"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(found, "{tool} is missing (scripts/test installs it)");
        }
        let mut cloud = Cloud {
            prefix,
            dir: tempfile::tempdir().unwrap(),
            daemons: Vec::new(),
            background: Vec::new(),
            _serial: serial,
        };
        let built = Command::new("bash")
            .arg(builder())
            .args(["up", &cloud.prefix])
            .arg(cloud.dir.path())
            .arg("dataplane")
            .output()
            .expect("run scripts/cloud-netns.sh");
        assert!(
            built.status.success(),
            "building the cloud failed: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        for node in [1, 2] {
            let log = std::fs::File::create(cloud.path(&format!("dataplane-{node}.log"))).unwrap();
            let daemon = Command::new("ip")
                .args(["netns", "exec", &cloud.ns(&format!("c{node}"))])
                .arg(env!("CARGO_BIN_EXE_dataplane"))
                .arg("run")
                .arg("--config")
                .arg(cloud.path(&format!("compute-{node}.toml")))
                .args(["--workers", "1", "--control-socket"])
                .arg(cloud.socket(node))
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start dataplane");
            cloud.daemons.push(daemon);
        }
        for node in [1, 2] {
            cloud.wait_for(&format!("the daemon of compute-{node}"), || {
                cloud.dpctl_output(node, &["stats"]).status.success()
            });
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

    /// A command run inside namespace `ns` of this cloud.
    fn exec(&self, ns: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(ns)])
            .args(args)
            .stdin(Stdio::null());
        command
    }

    /// Runs a command in a namespace and returns its stdout; panics with its stderr
    /// when it fails.
    fn run(&self, ns: &str, args: &[&str]) -> String {
        let out = self.exec(ns, args).output().expect("run in namespace");
        assert!(
            out.status.success(),
            "in {ns}: {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a command in a namespace, stopped when the cloud goes.
    fn spawn(&mut self, ns: &str, args: &[&str], log: &str) -> usize {
        let log = std::fs::File::create(self.path(log)).unwrap();
        let child = self
            .exec(ns, args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn in namespace");
        self.background.push(child);
        self.background.len() - 1
    }

    fn dpctl_output(&self, node: u32, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dpctl"))
            .arg("--socket")
            .arg(self.socket(node))
            .args(args)
            .output()
            .expect("run dpctl")
    }

    /// `dpctl -o json ARGS` on a node, parsed.
    fn dpctl_json(&self, node: u32, args: &[&str]) -> Value {
        let out = self.dpctl_output(node, &[&["-o", "json"][..], args].concat());
        assert!(
            out.status.success(),
            "dpctl {args:?} on compute-{node}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("dpctl prints JSON")
    }

    /// A drop counter of a node's daemon.
    fn drops(&self, node: u32, reason: &str) -> u64 {
        let stats = self.dpctl_json(node, &["stats"]);
        stats["total"]["drops"]
            .as_array()
            .expect("drop counters")
            .iter()
            .find(|d| d["reason"] == reason)
            .and_then(|d| d["count"].as_u64())
            .unwrap_or(0)
    }

    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !ready() {
            assert!(Instant::now() < deadline, "{what}: not ready after 15 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Serves DIR over HTTP on PORT from a namespace, and waits until it answers.
    fn serve_http(&mut self, ns: &str, port: u16, dir: &Path) {
        let port_text = port.to_string();
        let dir_text = dir.to_str().unwrap();
        self.spawn(
            ns,
            &[
                "python3",
                "-m",
                "http.server",
                &port_text,
                "--directory",
                dir_text,
            ],
            &format!("http-{ns}-{port}.log"),
        );
        let url = format!("http://127.0.0.1:{port}/");
        self.wait_for(&format!("the HTTP server of {ns}:{port}"), || {
            self.exec(ns, &["curl", "-s", "-o", "/dev/null", "-m", "1", &url])
                .status()
                .is_ok_and(|s| s.success())
        });
    }

    /// A directory of files to serve: name -> content.
    fn site(&self, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, content) in files {
            std::fs::write(dir.join(file), content).unwrap();
        }
        dir
    }

    fn curl(&self, ns: &str, url: &str, extra: &[&str]) -> Vec<u8> {
        let out = self
            .exec(
                ns,
                &[&["curl", "-sS", "--fail", "-m", "20"][..], extra, &[url]].concat(),
            )
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "curl {url} from {ns}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Pings until an answer comes, at most `tries` times (the first packets resolve
    /// the nodes' neighbours).
    fn ping(&self, ns: &str, address: &str, tries: usize) -> bool {
        (0..tries).any(|_| {
            self.exec(ns, &["busybox", "ping", "-c", "1", "-W", "1", address])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    }

    /// Starts tcpdump writing what crosses IFNAME of a namespace to a file, and waits
    /// until it listens.
    fn capture(&mut self, ns: &str, ifname: &str) -> (usize, PathBuf) {
        let file = self.path(&format!("{ns}-{ifname}.pcap"));
        let log = format!("tcpdump-{ns}-{ifname}.log");
        let index = self.spawn(
            ns,
            // Immediate mode: packets reach the file as they come, not when a ring
            // block fills or times out (stopping would lose those still waiting).
            &[
                "tcpdump",
                "--immediate-mode",
                "-U",
                "-n",
                "-i",
                ifname,
                "-w",
                file.to_str().unwrap(),
            ],
            &log,
        );
        let log = self.path(&log);
        self.wait_for(&format!("tcpdump on {ns}:{ifname}"), || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("listening on"))
        });
        (index, file)
    }

    /// Stops a background command (SIGTERM: tcpdump finishes its file) and waits for it.
    fn stop(&mut self, index: usize) {
        let child = &mut self.background[index];
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = child.wait();
    }

    fn wait(&mut self, index: usize, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.background[index].try_wait().unwrap() {
                let log = std::fs::read_to_string(self.path(what)).unwrap_or_default();
                assert!(status.success(), "{what}: {status}: {log}");
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: still running after 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        for child in self.background.iter_mut().chain(self.daemons.iter_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for node in [1, 2] {
                let log = std::fs::read_to_string(self.path(&format!("dataplane-{node}.log")));
                eprintln!(
                    "--- dataplane of compute-{node}:\n{}",
                    log.unwrap_or_default()
                );
            }
        }
        let _ = Command::new("bash")
            .arg(builder())
            .args(["down", &self.prefix])
            .status();
    }
}

/// Pseudo-random bytes (no compression or pattern can hide a lost or misplaced segment).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// What a capture saw of TCP: (source MAC, IPv4 TTL, source, destination port, SYN).
fn tcp_frames(pcap: &Path) -> Vec<([u8; 6], u8, String, u16, bool)> {
    read_pcap(pcap)
        .iter()
        .filter_map(|(_, frame)| {
            let headers = etherparse::SlicedPacket::from_ethernet(frame).ok()?;
            let Some(etherparse::LinkSlice::Ethernet2(eth)) = headers.link else {
                return None;
            };
            let Some(etherparse::NetSlice::Ipv4(ip)) = headers.net else {
                return None;
            };
            let Some(etherparse::TransportSlice::Tcp(tcp)) = headers.transport else {
                return None;
            };
            Some((
                eth.source(),
                ip.header().ttl(),
                format!("{}:{}", ip.header().source_addr(), tcp.source_port()),
                tcp.destination_port(),
                tcp.syn() && !tcp.ack(),
            ))
        })
        .collect()
}

fn destination_macs(pcap: &Path) -> Vec<[u8; 6]> {
    read_pcap(pcap)
        .iter()
        .filter(|(_, frame)| frame.len() >= 14 && frame[12..14] == [0x08, 0x00])
        .map(|(_, frame)| frame[..6].try_into().unwrap())
        .collect()
}

#[test]
fn vms_of_two_tenants_reach_each_other_across_nodes_over_vxlan() {
    let Some(mut cloud) = Cloud::up("vms_of_two_tenants_reach_each_other_across_nodes_over_vxlan")
    else {
        return;
    };
    let green = cloud.site("green", &[("whoami", b"green-vm2")]);
    let orange = cloud.site("orange", &[("whoami", b"orange-vm2")]);
    cloud.serve_http("g2", 8080, &green);
    cloud.serve_http("o2", 8080, &orange);

    // Same addresses, two tenants: each VM reaches its own tenant's server.
    assert!(
        cloud.ping("g1", "10.0.0.9", 10),
        "green-vm1 cannot ping 10.0.0.9"
    );
    let body = cloud.curl("g1", "http://10.0.0.9:8080/whoami", &[]);
    assert_eq!(body, b"green-vm2");
    let body = cloud.curl("o1", "http://10.0.0.9:8080/whoami", &[]);
    assert_eq!(body, b"orange-vm2");

    // compute-2's VTEP MAC is in no topology: compute-1 learned it by ARP.
    let neighbours = cloud.dpctl_json(1, &["neighbours"]);
    let learned = neighbours
        .as_array()
        .expect("a list")
        .iter()
        .any(|n| n["ip"] == "192.0.2.12" && n["mac"] == "02:00:c0:00:02:0c");
    assert!(
        learned,
        "compute-1 did not learn compute-2's VTEP: {neighbours}"
    );

    // The distributed router's own address: answered by the node's local services.
    assert!(
        cloud.ping("g1", "10.0.0.1", 3),
        "green-vm1 cannot ping its gateway 10.0.0.1"
    );
}

#[test]
fn both_tenants_reach_the_internet_through_each_nodes_snat() {
    let Some(mut cloud) = Cloud::up("both_tenants_reach_the_internet_through_each_nodes_snat")
    else {
        return;
    };
    let big = noise(4 << 20, 7);
    let site = cloud.site("internet", &[("hello", b"internet"), ("big", &big)]);
    cloud.serve_http("inet", 80, &site);

    // Both tenants of a node from the same address and source port, on both nodes.
    for (vm, port) in [
        ("g1", "40000"),
        ("o1", "40000"),
        ("g2", "40001"),
        ("o2", "40001"),
    ] {
        let body = cloud.curl(vm, "http://198.51.100.10/hello", &["--local-port", port]);
        assert_eq!(body, b"internet", "from {vm}");
    }
    let log = std::fs::read_to_string(cloud.path("http-inet-80.log")).unwrap();
    for external in ["203.0.113.11", "203.0.113.12"] {
        let seen = log
            .lines()
            .filter(|l| l.starts_with(&format!("{external} ")) && l.contains("GET /hello"))
            .count();
        assert_eq!(seen, 2, "requests from {external} (both tenants):\n{log}");
    }
    assert!(
        !log.contains("10.0.0."),
        "a tenant address reached the internet:\n{log}"
    );

    // Long downloads: while they run, compute-1 tracks both ESTABLISHED.
    let downloads: Vec<usize> = ["g1", "o1"]
        .iter()
        .map(|vm| {
            let file = cloud.path(&format!("{vm}.big"));
            cloud.spawn(
                vm,
                &[
                    "curl",
                    "-sS",
                    "--fail",
                    "-m",
                    "40",
                    "--limit-rate",
                    "1M",
                    "-o",
                    file.to_str().unwrap(),
                    "http://198.51.100.10/big",
                ],
                &format!("download-{vm}.log"),
            )
        })
        .collect();
    let mut listing = Value::Null;
    cloud.wait_for(
        "both downloads ESTABLISHED in compute-1's conntrack",
        || {
            listing = cloud.dpctl_json(1, &["conntrack"]);
            ["green", "orange"].iter().all(|tenant| {
                listing.as_array().unwrap().iter().any(|c| {
                    c["tenant"] == *tenant
                        && c["protocol"] == "tcp"
                        && c["destination"] == "198.51.100.10:80"
                        && c["state"] == "ESTABLISHED"
                        && c["translated_source"]
                            .as_str()
                            .is_some_and(|s| s.starts_with("203.0.113.11:"))
                })
            })
        },
    );
    for (index, vm) in downloads.into_iter().zip(["g1", "o1"]) {
        cloud.wait(index, &format!("download-{vm}.log"));
        let got = std::fs::read(cloud.path(&format!("{vm}.big"))).unwrap();
        assert!(
            got == big,
            "{vm}: the download differs ({} bytes)",
            got.len()
        );
    }
}

#[test]
fn web_traffic_is_steered_through_the_service_function_and_other_traffic_is_not() {
    let Some(mut cloud) =
        Cloud::up("web_traffic_is_steered_through_the_service_function_and_other_traffic_is_not")
    else {
        return;
    };
    let green = cloud.site("green", &[("whoami", b"green-vm2")]);
    let orange = cloud.site("orange", &[("whoami", b"orange-vm2")]);
    cloud.serve_http("g2", 80, &green);
    cloud.serve_http("g2", 8080, &green);
    cloud.serve_http("o2", 80, &orange);
    assert!(
        cloud.ping("g1", "10.0.0.9", 10),
        "green-vm1 cannot ping 10.0.0.9"
    );
    let (into_fw, into_file) = cloud.capture("sf", "in1");
    let (out_of_fw, out_file) = cloud.capture("sf", "out1");

    assert_eq!(
        cloud.curl("g1", "http://10.0.0.9/whoami", &[]),
        b"green-vm2"
    );
    assert_eq!(
        cloud.curl("g1", "http://10.0.0.9:8080/whoami", &[]),
        b"green-vm2"
    );
    assert_eq!(
        cloud.curl("o1", "http://10.0.0.9/whoami", &[]),
        b"orange-vm2"
    );
    cloud.stop(into_fw);
    cloud.stop(out_of_fw);

    let into = tcp_frames(&into_file);
    let out = tcp_frames(&out_file);
    // Green's port-80 connection, and only it, entered the function: one SYN, from
    // green-vm1's MAC, to the function's ingress MAC.
    let syns: Vec<_> = into.iter().filter(|f| f.4).collect();
    assert_eq!(syns.len(), 1, "SYNs into the function: {into:?}");
    assert!(
        into.iter()
            .all(|f| f.0 == GREEN_VM1_MAC && f.2.starts_with("10.0.0.5:") && f.3 == 80),
        "into the function: {into:?}"
    );
    assert!(
        destination_macs(&into_file)
            .iter()
            .all(|m| *m == FW1_IN_MAC),
        "frames into the function carry its ingress MAC"
    );
    // The function's kernel forwarded each of them out of its egress, one hop later.
    assert!(into.len() >= 4, "a whole HTTP exchange: {into:?}");
    assert_eq!(out.len(), into.len(), "out of the function: {out:?}");
    for (i, o) in into.iter().zip(&out) {
        assert_eq!((&i.2, i.3, i.4), (&o.2, o.3, o.4));
        assert_eq!(o.1 + 1, i.1, "TTL out of the function");
    }
}

#[test]
fn a_chain_change_keeps_a_running_transfer_on_its_pair() {
    let Some(mut cloud) = Cloud::up("a_chain_change_keeps_a_running_transfer_on_its_pair") else {
        return;
    };
    let green = cloud.site("green", &[("whoami", b"green-vm2")]);
    assert!(
        cloud.ping("g1", "10.0.0.9", 10),
        "green-vm1 cannot ping 10.0.0.9"
    );
    let (into_fw2, into_fw2_file) = cloud.capture("sf", "in2");
    let server = cloud.spawn(
        "g2",
        &["iperf3", "-s", "-1", "-p", "80"],
        "iperf3-server.log",
    );
    cloud.wait_for("iperf3 server", || {
        cloud
            .run("g2", &["ss", "-Hltn", "sport = :80"])
            .contains(":80")
    });
    // Six seconds of TCP from green-vm1 to port 80: the chain's traffic, through fw1.
    let client = cloud.spawn(
        "g1",
        &["iperf3", "-c", "10.0.0.9", "-p", "80", "-t", "6", "-J"],
        "iperf3-client.json",
    );
    std::thread::sleep(Duration::from_secs(2));
    let update = cloud.dpctl_output(
        1,
        &[
            "port-pair-group",
            "update",
            "firewalls",
            "--port-pair",
            "fw1",
            "--port-pair",
            "fw2",
        ],
    );
    assert!(
        update.status.success(),
        "dpctl port-pair-group update: {}",
        String::from_utf8_lossy(&update.stderr)
    );
    let report = cloud.wait(client, "iperf3-client.json");
    cloud.wait(server, "iperf3-server.log");
    let report: Value = serde_json::from_str(&report).expect("iperf3 JSON");
    assert!(report.get("error").is_none(), "iperf3: {}", report["error"]);
    let received = report["end"]["sum_received"]["bytes"].as_u64().unwrap();
    assert!(received > 0, "nothing arrived");
    // One interval a second: the change came at the second's end; every second from
    // then on moved data.
    let intervals = report["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 6, "iperf3 intervals: {intervals:?}");
    let after_change = &intervals[2..];
    assert!(
        after_change
            .iter()
            .all(|i| i["sum"]["bytes"].as_u64().unwrap() > 0),
        "the transfer stalled after the change: {after_change:?}"
    );

    // New connections follow the new group: some of sixteen take fw2 (each one does
    // with probability 1/2), while the running transfer never did.
    cloud.serve_http("g2", 80, &green);
    for port in 41000..41016 {
        let port = port.to_string();
        let body = cloud.curl("g1", "http://10.0.0.9/whoami", &["--local-port", &port]);
        assert_eq!(body, b"green-vm2");
    }
    cloud.stop(into_fw2);
    let into_fw2 = tcp_frames(&into_fw2_file);
    let new_ports: Vec<String> = (41000..41016).map(|p| format!("10.0.0.5:{p}")).collect();
    assert!(
        into_fw2.iter().all(|f| new_ports.contains(&f.2)),
        "fw2 saw packets of the transfer that started before the change: {into_fw2:?}"
    );
    assert!(
        into_fw2.iter().any(|f| f.4),
        "no new connection took fw2: {into_fw2:?}"
    );
}

#[test]
fn a_1500_byte_vm_over_a_1500_byte_underlay_learns_the_path_mtu() {
    let Some(mut cloud) = Cloud::up("a_1500_byte_vm_over_a_1500_byte_underlay_learns_the_path_mtu")
    else {
        return;
    };
    let big = noise(2 << 20, 11);
    let site = cloud.site("green", &[("big", &big)]);
    cloud.serve_http("g2", 8080, &site);
    assert!(
        cloud.ping("g1", "10.0.0.9", 10),
        "green-vm1 cannot ping 10.0.0.9"
    );
    let route = cloud.run("g2", &["ip", "route", "get", "10.0.0.5"]);
    assert!(!route.contains("mtu"), "before: {route}");

    // green-vm2 sends full 1500-byte segments; compute-2 cannot fit them in VXLAN over
    // its 1500-byte uplink and tells the VM (ICMP fragmentation needed, MTU 1450).
    let got = cloud.curl("g1", "http://10.0.0.9:8080/big", &[]);
    assert!(got == big, "the download differs ({} bytes)", got.len());
    let route = cloud.run("g2", &["ip", "route", "get", "10.0.0.5"]);
    assert!(
        route.contains("mtu 1450"),
        "green-vm2's route after: {route}"
    );
    assert!(
        cloud.drops(2, "mtu_exceeded") > 0,
        "compute-2 refused nothing"
    );
}
