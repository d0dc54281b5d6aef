//! The local services against real clients: `dataplane run` with three af-packet
//! ports, each the host end of a veth pair whose other end is in a namespace of the
//! test with nothing configured but its MAC. Busybox's DHCP client gets its address,
//! gateway, MTU, DNS and domain from the dataplane and pings the gateway; traceroute
//! across the router shows the router's hop; an IPv6 namespace configures itself from
//! the router advertisements (SLAAC) and pings its gateway.

#![cfg(feature = "af-packet")]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use port_netdev::testing::{run, Netns};
use support::daemon::Daemon;

const ROUTER_MAC: &str = "02:00:0a:5d:00:01";
const MAC_DHCP: &str = "02:00:00:5d:00:05";
const MAC_FAR: &str = "02:00:00:5e:00:07";
const MAC_V6: &str = "02:00:00:5f:00:09";
const GATEWAY: &str = "10.93.0.1";
const LEASED: &str = "10.93.0.5";
const FAR: &str = "10.94.0.7";
const FAR_GATEWAY: &str = "10.94.0.1";
const GATEWAY_V6: &str = "fd00:93::1";
/// The SLAAC address of MAC_V6 in fd00:93::/64 (modified EUI-64).
const SLAAC_V6: &str = "fd00:93::ff:fe5f:9";

/// A namespace behind a veth pair: `host` (the port's) here, `peer` there, only its
/// MAC set, up, transmit offloads off (frames reach the port with their checksums).
struct Vm {
    ns: Netns,
    host: String,
    peer: String,
}

impl Vm {
    fn new(tag: &str, mac: &str) -> Vm {
        let ns = Netns::new(tag);
        let host = format!("{}h", ns.name);
        let peer = format!("{}p", ns.name);
        run(&[
            "ip", "link", "add", &host, "type", "veth", "peer", "name", &peer, "netns", &ns.name,
        ]);
        let _ = std::process::Command::new("sysctl")
            .args(["-qw", &format!("net.ipv6.conf.{host}.disable_ipv6=1")])
            .output();
        run(&["ip", "link", "set", &host, "up"]);
        ns.exec(&["ip", "link", "set", &peer, "address", mac]);
        ns.exec(&["ethtool", "-K", &peer, "tx", "off"]);
        Vm { ns, host, peer }
    }

    fn up(&self) {
        self.ns.exec(&["ip", "link", "set", &self.peer, "up"]);
    }
}

fn topology(dir: &Path, dhcp: &Vm, far: &Vm, v6: &Vm) -> PathBuf {
    let text = format!(
        r#"[node]
name = "services"

[[ports]]
name = "dhcp"
driver = "af-packet"
ifname = "{dhcp}"

[[ports]]
name = "far"
driver = "af-packet"
ifname = "{far}"

[[ports]]
name = "v6"
driver = "af-packet"
ifname = "{v6}"

[[networks]]
name = "near"
tenant = "t"
vni = 100
cidr = "10.93.0.0/24"
gateway_ip = "{GATEWAY}"
dns_servers = ["10.93.0.53"]
domain = "svc.test"
mtu = 1400

[[networks]]
name = "far"
tenant = "t"
vni = 101
cidr = "10.94.0.0/24"
gateway_ip = "{FAR_GATEWAY}"

[[networks]]
name = "v6"
tenant = "t"
vni = 102
cidr = "fd00:93::/64"
gateway_ip = "{GATEWAY_V6}"
mtu = 1450

[[routers]]
name = "r"
tenant = "t"
mac = "{ROUTER_MAC}"
networks = ["near", "far", "v6"]

[[logical_ports]]
name = "lp-dhcp"
network = "near"
mac = "{MAC_DHCP}"
ip = "{LEASED}"
port = "dhcp"

[[logical_ports]]
name = "lp-far"
network = "far"
mac = "{MAC_FAR}"
ip = "{FAR}"
port = "far"

[[logical_ports]]
name = "lp-v6"
network = "v6"
mac = "{MAC_V6}"
ip = "{SLAAC_V6}"
port = "v6"
"#,
        dhcp = dhcp.host,
        far = far.host,
        v6 = v6.host,
    );
    let path = dir.join("topology.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs busybox's udhcpc in `vm` until it has a lease; its script records what the
/// server said and configures the interface as a cloud image's would.
fn dhcp_client(vm: &Vm, dir: &Path) -> String {
    let record = dir.join("lease.env");
    let script = dir.join("udhcpc.sh");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
[ "$1" = bound ] || exit 0
printf 'ip=%s\nsubnet=%s\nrouter=%s\ndns=%s\ndomain=%s\nmtu=%s\nserverid=%s\nlease=%s\n' \
  "$ip" "$subnet" "$router" "$dns" "$domain" "$mtu" "$serverid" "$lease" > {record}
ip link set dev "$interface" mtu "$mtu"
ip addr add "$ip/$subnet" dev "$interface"
ip route add default via "$router"
"#,
            record = record.display()
        ),
    )
    .unwrap();
    run(&["chmod", "+x", script.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let output = vm
            .ns
            .command("busybox")
            .args([
                "udhcpc", "-f", "-q", "-n", "-t", "3", "-T", "1", "-O", "mtu",
            ])
            .args(["-i", &vm.peer, "-s", script.to_str().unwrap()])
            .output()
            .unwrap();
        if output.status.success() && record.exists() {
            return std::fs::read_to_string(&record).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "udhcpc got no lease: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn ping(vm: &Vm, program: &str, target: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = vm
            .ns
            .command("busybox")
            .args([program, "-c", "3", "-i", "0.2", "-W", "1", target])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            assert!(text.contains("3 packets received"), "{text}");
            return;
        }
        assert!(Instant::now() < deadline, "{program} {target}: {text}");
    }
}

/// Waits until `vm`'s IPv6 configuration (from the advertisements) shows `wanted`
/// on a line of its own that is no longer tentative: until duplicate address
/// detection ends, the kernel holds packets from that address.
fn wait_for(vm: &Vm, args: &[&str], wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = vm.ns.exec(args);
        if text
            .lines()
            .any(|line| line.contains(wanted) && !line.contains("tentative"))
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{args:?} never showed {wanted}: {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn vms_configure_themselves_from_the_dataplane() {
    let dir = tempfile::tempdir().unwrap();
    let dhcp = Vm::new("svd", MAC_DHCP);
    let far = Vm::new("svf", MAC_FAR);
    let v6 = Vm::new("svv", MAC_V6);
    let config = topology(dir.path(), &dhcp, &far, &v6);
    let daemon = Daemon::start(&config, 2);
    // The far VM is configured by hand; the others by the dataplane.
    far.ns
        .exec(&["ip", "addr", "add", &format!("{FAR}/24"), "dev", &far.peer]);
    far.up();
    far.ns
        .exec(&["ip", "route", "add", "default", "via", FAR_GATEWAY]);
    dhcp.up();
    v6.up();

    let lease = dhcp_client(&dhcp, dir.path());
    for line in [
        "ip=10.93.0.5",
        "subnet=255.255.255.0",
        "router=10.93.0.1",
        "dns=10.93.0.53",
        "domain=svc.test",
        "mtu=1400",
        "serverid=10.93.0.1",
        "lease=86400",
    ] {
        assert!(lease.lines().any(|l| l == line), "{line} not in:\n{lease}");
    }
    let link = dhcp.ns.exec(&["ip", "link", "show", &dhcp.peer]);
    assert!(link.contains("mtu 1400"), "{link}");
    ping(&dhcp, "ping", GATEWAY);

    // Across the router: the first hop is the router's gateway address (time
    // exceeded), the second the far VM itself (port unreachable from its kernel).
    let output = dhcp
        .ns
        .command("busybox")
        .args(["traceroute", "-n", "-q", "1", "-w", "2", "-m", "4", FAR])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let hops: Vec<&str> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let hop = fields.next()?;
            hop.parse::<u8>().ok().and(fields.next())
        })
        .collect();
    assert_eq!(hops, [GATEWAY, FAR], "traceroute:\n{text}");

    // IPv6: the namespace's router solicitation is answered; the kernel takes the
    // prefix's address, the router as default route and the advertised MTU.
    wait_for(
        &v6,
        &["ip", "-6", "addr", "show", "dev", &v6.peer],
        SLAAC_V6,
    );
    wait_for(
        &v6,
        &["ip", "-6", "route", "show", "default"],
        "via fe80::aff:fe5d:1",
    );
    let mtu = v6
        .ns
        .exec(&["cat", &format!("/proc/sys/net/ipv6/conf/{}/mtu", v6.peer)]);
    assert_eq!(mtu.trim(), "1450");
    ping(&v6, "ping6", GATEWAY_V6);

    let report = daemon.stop();
    let drops = &report["drops"];
    assert!(drops.is_object(), "{report}");
    for reason in ["dhcp_malformed", "ndisc_malformed", "icmp_malformed"] {
        assert!(
            drops.get(reason).is_none_or(|n| n == 0),
            "{reason}: {report}"
        );
    }
}
