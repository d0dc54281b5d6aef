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
