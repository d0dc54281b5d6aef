//! vhost-user ports with real peers: DPDK's testpmd, through virtio-user, is the VM
//! side of the dataplane's ports, and frames cross the dataplane between its ports
//! (L2, routing, a service chain). The VM is killed and restarted under a running
//! dataplane; in client mode the dataplane reconnects by itself.

#![cfg(feature = "vhost-user")]

mod support;
#[path = "support/testpmd.rs"]
mod testpmd;

use std::path::Path;
use std::time::Duration;

use testpmd::{Daemon, Testpmd};

const VM1_MAC: &str = "fa:16:3e:00:01:01";
const VM2_MAC: &str = "fa:16:3e:00:01:02";
const WAIT: Duration = Duration::from_secs(30);

/// Two VMs of one network, each on a vhost-user port; vm2 without port security so
/// that the frames testpmd forwards back (with vm1's addresses) pass too.
fn l2_topology(dir: &Path, mode: &str) -> String {
    format!(
        r#"
[node]
name = "compute-1"

[[ports]]
name = "vm1"
driver = "vhost-user"
socket = "{dir}/vm1.sock"
vhost_mode = "{mode}"

[[ports]]
name = "vm2"
driver = "vhost-user"
socket = "{dir}/vm2.sock"
vhost_mode = "{mode}"

[[networks]]
name = "green-net"
tenant = "green"
vni = 1001
cidr = "10.0.0.0/24"
gateway_ip = "10.0.0.1"

[[logical_ports]]
name = "green-vm1"
network = "green-net"
mac = "{VM1_MAC}"
ip = "10.0.0.5"
port = "vm1"

[[logical_ports]]
name = "green-vm2"
network = "green-net"
mac = "{VM2_MAC}"
ip = "10.0.0.6"
port = "vm2"
port_security = false
"#,
        dir = dir.display()
    )
}

/// testpmd with ports 0 = vm1 and 1 = vm2, in io mode: each port sends a first burst
/// to the other VM's MAC, then whatever a port receives leaves by the other one, so
/// frames circle vm1 -> dataplane -> vm2 -> testpmd -> vm1 ... as long as both
/// directions of the dataplane work.
fn two_vms(dir: &Path, name: &str, server: bool) -> Testpmd {
    let (vm1, vm2) = (dir.join("vm1.sock"), dir.join("vm2.sock"));
    Testpmd::start(
        dir,
        name,
        &[(&vm1, VM1_MAC, server), (&vm2, VM2_MAC, server)],
        &[
            &format!("--eth-peer=0,{VM2_MAC}"),
            &format!("--eth-peer=1,{VM1_MAC}"),
            "--tx-ip=10.0.0.5,10.0.0.6",
        ],
    )
}

fn start_circling(vms: &mut Testpmd) {
    vms.command("set fwd io");
    vms.command("start tx_first");
}

#[test]
fn frames_cross_both_ways_and_resume_after_the_vm_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), &l2_topology(dir.path(), "server"), 1);
    daemon.wait_log("worker started", 1, WAIT);

    for (round, name) in ["first", "restarted"].into_iter().enumerate() {
        let mut vms = two_vms(dir.path(), name, false);
        daemon.wait_log("port vm2: link up", round + 1, WAIT);
        daemon.wait_log("port vm1: link up", round + 1, WAIT);
        start_circling(&mut vms);
        assert!(
            vms.wait_received(2, &[(0, 1000), (1, 1000)], WAIT),
            "{name}: frames did not cross both ways\n{}\n{}",
            vms.log(),
            daemon.log()
        );
        // The VM dies without a word; the dataplane sees its sockets close.
        vms.kill();
        daemon.wait_log("vhost-user frontend disconnected port=vm1", round + 1, WAIT);
        daemon.wait_log("vhost-user frontend disconnected port=vm2", round + 1, WAIT);
        assert!(daemon.running());
    }
}

#[test]
fn client_mode_connects_to_the_vm_and_reconnects_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // The dataplane starts first: the VMs' sockets are not there yet.
    let mut daemon = Daemon::start(dir.path(), &l2_topology(dir.path(), "client"), 1);
    daemon.wait_log("worker started", 1, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!daemon.log().contains("frontend connected"));

    for (round, name) in ["first", "restarted"].into_iter().enumerate() {
        // A VM that died leaves its listening sockets behind; its manager removes
        // them before starting it again (testpmd refuses to bind over them).
        for socket in ["vm1.sock", "vm2.sock"] {
            let _ = std::fs::remove_file(dir.path().join(socket));
        }
        let mut vms = two_vms(dir.path(), &format!("client-{name}"), true);
        daemon.wait_log("port vm1: link up", round + 1, WAIT);
        daemon.wait_log("port vm2: link up", round + 1, WAIT);
        start_circling(&mut vms);
        assert!(
            vms.wait_received(2, &[(0, 1000), (1, 1000)], WAIT),
            "{name}: frames did not cross both ways\n{}\n{}",
            vms.log(),
            daemon.log()
        );
        vms.kill();
        daemon.wait_log("vhost-user frontend disconnected port=vm1", round + 1, WAIT);
    }
    assert!(daemon.running());
}

const ROUTER_MAC: &str = "02:00:0a:00:00:01";
const VMA_MAC: &str = "fa:16:3e:00:0a:05";
const VMB_MAC: &str = "fa:16:3e:00:0b:05";

/// The routing scenario's shape: vma on net-a, vmb on net-b, one router between.
fn routing_topology(dir: &Path) -> String {
    format!(
        r#"
[node]
name = "compute-1"

[[ports]]
name = "vma"
driver = "vhost-user"
socket = "{dir}/vma.sock"

[[ports]]
name = "vmb"
driver = "vhost-user"
socket = "{dir}/vmb.sock"

[[networks]]
name = "net-a"
tenant = "green"
vni = 2001
cidr = "10.0.1.0/24"
gateway_ip = "10.0.1.1"

[[networks]]
name = "net-b"
tenant = "green"
vni = 2002
cidr = "10.0.2.0/24"
gateway_ip = "10.0.2.1"

[[routers]]
name = "r1"
tenant = "green"
mac = "{ROUTER_MAC}"
networks = ["net-a", "net-b"]

[[logical_ports]]
name = "vm-a"
network = "net-a"
mac = "{VMA_MAC}"
ip = "10.0.1.5"
port = "vma"

[[logical_ports]]
name = "vm-b"
network = "net-b"
mac = "{VMB_MAC}"
ip = "10.0.2.5"
port = "vmb"
"#,
        dir = dir.display()
    )
}

#[test]
fn frames_are_routed_between_two_vms_of_one_router() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), &routing_topology(dir.path()), 1);
    daemon.wait_log("worker started", 1, WAIT);
    let (vma, vmb) = (dir.path().join("vma.sock"), dir.path().join("vmb.sock"));
    // vma sends to its gateway (the router's MAC) for vmb's address.
    let mut vms = Testpmd::start(
        dir.path(),
        "routing",
        &[(&vma, VMA_MAC, false), (&vmb, VMB_MAC, false)],
        &[
            &format!("--eth-peer=0,{ROUTER_MAC}"),
            &format!("--eth-peer=1,{ROUTER_MAC}"),
            "--tx-ip=10.0.1.5,10.0.2.5",
        ],
    );
    daemon.wait_log("port vma: link up", 1, WAIT);
    daemon.wait_log("port vmb: link up", 1, WAIT);
    vms.command("set fwd rxonly");
    vms.command("set verbose 1");
    vms.command("start tx_first");
    assert!(
        vms.wait_received(2, &[(1, 32)], WAIT),
        "routed frames did not reach vmb\n{}\n{}",
        vms.log(),
        daemon.log()
    );
    // What vmb received was routed: from the router's MAC, to vmb's.
    let routed = format!(
        "src={} - dst={}",
        ROUTER_MAC.to_uppercase(),
        VMB_MAC.to_uppercase()
    );
    assert!(vms.log().contains(&routed), "{}", vms.log());
    // vmb's own burst claims vma's address: port security drops it, so vma got
    // nothing.
    assert_eq!(vms.port_counters(2)[0].rx, 0);
}

const SF_MAC: &str = "fa:16:3e:0f:01:01";

/// vm1 to vm2 through one MPLS-aware service function (one port, ingress and
/// egress the same logical port) for testpmd's UDP traffic.
fn chain_topology(dir: &Path) -> String {
    format!(
        r#"{l2}
[[ports]]
name = "sf1"
driver = "vhost-user"
socket = "{dir}/sf1.sock"

[[logical_ports]]
name = "sf1-port"
network = "green-net"
mac = "{SF_MAC}"
ip = "10.0.0.201"
port = "sf1"
port_security = false

[[port_pairs]]
name = "sf1"
ingress = "sf1-port"
egress = "sf1-port"
correlation = "mpls"

[[port_pair_groups]]
name = "sfs"
port_pairs = ["sf1"]

[[flow_classifiers]]
name = "udp"
ethertype = "IPv4"
protocol = "udp"
logical_source_port = "green-vm1"

[[port_chains]]
name = "chain"
chain_id = 7
port_pair_groups = ["sfs"]
flow_classifiers = ["udp"]
correlation = "mpls"
"#,
        l2 = l2_topology(dir, "server"),
        dir = dir.display()
    )
}

#[test]
fn frames_go_through_a_service_function_vm() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), &chain_topology(dir.path()), 1);
    daemon.wait_log("worker started", 1, WAIT);
    let (vm1, vm2, sf1) = (
        dir.path().join("vm1.sock"),
        dir.path().join("vm2.sock"),
        dir.path().join("sf1.sock"),
    );
    // Port 2, the service function, sends back whatever it receives (loop
    // topology); the VMs only receive.
    let mut vms = Testpmd::start(
        dir.path(),
        "chain",
        &[
            (&vm1, VM1_MAC, false),
            (&vm2, VM2_MAC, false),
            (&sf1, SF_MAC, false),
        ],
        &[
            &format!("--eth-peer=0,{VM2_MAC}"),
            &format!("--eth-peer=1,{VM1_MAC}"),
            &format!("--eth-peer=2,{VM1_MAC}"),
            "--tx-ip=10.0.0.5,10.0.0.6",
            "--port-topology=loop",
        ],
    );
    for port in ["vm1", "vm2", "sf1"] {
        daemon.wait_log(&format!("port {port}: link up"), 1, WAIT);
    }
    vms.command("set fwd io");
    vms.command("set verbose 1");
    vms.command("start tx_first");
    assert!(
        vms.wait_received(3, &[(2, 32), (1, 32)], WAIT),
        "frames did not go vm1 -> sf1 -> vm2\n{}\n{}",
        vms.log(),
        daemon.log()
    );
    // The service function saw MPLS (ethertype 0x8847) frames for its MAC.
    let to_sf = format!(
        "dst={} - pool=mb_pool_0 - type=0x8847",
        SF_MAC.to_uppercase()
    );
    assert!(vms.log().contains(&to_sf), "{}", vms.log());
}

#[test]
fn queue_pairs_are_spread_over_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let topology = l2_topology(dir.path(), "server").replace(
        "vhost_mode = \"server\"",
        "vhost_mode = \"server\"\nqueues = 2",
    );
    let mut daemon = Daemon::start(dir.path(), &topology, 2);
    daemon.wait_log("worker started", 2, WAIT);
    let (vm1, vm2) = (dir.path().join("vm1.sock"), dir.path().join("vm2.sock"));
    let mut vms = Testpmd::start_with(
        dir.path(),
        "mq",
        &[(&vm1, VM1_MAC, false), (&vm2, VM2_MAC, false)],
        "queues=2",
        &[
            "--rxq=2",
            "--txq=2",
            &format!("--eth-peer=0,{VM2_MAC}"),
            &format!("--eth-peer=1,{VM1_MAC}"),
            "--tx-ip=10.0.0.5,10.0.0.6",
        ],
    );
    daemon.wait_log("port vm1: link up", 1, WAIT);
    daemon.wait_log("port vm2: link up", 1, WAIT);
    start_circling(&mut vms);
    assert!(
        vms.wait_received(2, &[(0, 1000), (1, 1000)], WAIT),
        "{}\n{}",
        vms.log(),
        daemon.log()
    );
    // Both receive queues of vm1 carried frames, each polled by its own worker.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dpctl"))
        .arg("--socket")
        .arg(dir.path().join("control.sock"))
        .args(["-o", "json", "port", "show"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ports: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let vm1_port = ports
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "vm1")
        .unwrap();
    let queues = vm1_port["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 2, "{vm1_port}");
    let workers: Vec<u64> = queues
        .iter()
        .map(|q| q["worker"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(workers, vec![0, 1], "{vm1_port}");
    for queue in queues {
        assert!(queue["rx_packets"].as_u64().unwrap_or(0) > 0, "{vm1_port}");
    }
}

#[test]
fn a_socket_that_cannot_be_bound_is_refused_by_port_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let not_socket = dir.path().join("file");
    std::fs::write(&not_socket, "keep me").unwrap();
    let cases = [
        (
            l2_topology(&missing, "server"),
            format!(
                "ports \"vm1\": socket: {}/vm1.sock: directory {} does not exist",
                missing.display(),
                missing.display()
            ),
        ),
        (
            l2_topology(dir.path(), "server").replace(
                &format!("{}/vm1.sock", dir.path().display()),
                &not_socket.display().to_string(),
            ),
            format!(
                "ports \"vm1\": socket: {}: exists and is not a socket",
                not_socket.display()
            ),
        ),
    ];
    for (topology, expected) in cases {
        let config = dir.path().join("check.toml");
        std::fs::write(&config, topology).unwrap();
        let output = support::dataplane()
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(message.contains(&expected), "{message}");
    }
    // Refused, and left alone.
    assert_eq!(std::fs::read_to_string(&not_socket).unwrap(), "keep me");
}
