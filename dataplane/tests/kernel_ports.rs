//! `dataplane run` bridging two kernel-interface ports: each port on one end of a
//! veth pair whose other end is in a namespace of the test, with a real kernel stack
//! there. Ping, UDP and TCP cross the dataplane (an L2 network of two logical ports);
//! what cannot be opened is refused at start, naming the port and the reason.

#![cfg(any(feature = "af-packet", feature = "tap", feature = "af-xdp"))]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use port_netdev::testing::{unique_name, Netns, VethNs};
use support::daemon::Daemon;
use support::dataplane;

const MAC_A: &str = "02:00:00:5a:00:01";
const MAC_B: &str = "02:00:00:5a:00:02";
const IP_A: &str = "10.92.0.1";
const IP_B: &str = "10.92.0.2";

/// A namespace with a kernel stack, and the interface in this namespace that a
/// dataplane port opens to reach it.
struct Host {
    ns: Netns,
    host: String,
}

/// Two namespaces, each behind an interface that is a dataplane port.
struct TwoHosts {
    a: Host,
    b: Host,
}

impl TwoHosts {
    /// Each namespace behind a veth pair (of `queues` queues) whose host end is the
    /// port's.
    fn veth(tag: &str, queues: u16) -> TwoHosts {
        let host = |tag: String, mac, ip| {
            let VethNs { ns, host, .. } = VethNs::with_queues(&tag, mac, ip, queues);
            Host { ns, host }
        };
        TwoHosts {
            a: host(format!("{tag}a"), MAC_A, IP_A),
            b: host(format!("{tag}b"), MAC_B, IP_B),
        }
    }

    /// Each namespace to receive a TAP that the dataplane makes ([`Self::adopt_taps`]).
    fn tap(tag: &str) -> TwoHosts {
        let host = |tag: String| Host {
            ns: Netns::new(&tag),
            host: unique_name(&format!("{tag}t")),
        };
        TwoHosts {
            a: host(format!("{tag}a")),
            b: host(format!("{tag}b")),
        }
    }

    /// Moves the TAPs the dataplane made into the namespaces, once they are there.
    fn adopt_taps(&self) {
        for (host, mac, ip) in [(&self.a, MAC_A, IP_A), (&self.b, MAC_B, IP_B)] {
            let sys = format!("/sys/class/net/{}", host.host);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !Path::new(&sys).exists() {
                assert!(
                    Instant::now() < deadline,
                    "the dataplane made no {}",
                    host.host
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            host.ns.adopt(&host.host, mac, ip);
        }
    }

    /// An L2 topology: ports a and b of `driver` on the host ends, one logical port
    /// each on one network.
    fn topology(&self, dir: &Path, driver: &str, queues: u16) -> PathBuf {
        let text = format!(
            r#"[node]
name = "kernel-ports"

[[ports]]
name = "a"
driver = "{driver}"
ifname = "{a}"
queues = {queues}

[[ports]]
name = "b"
driver = "{driver}"
ifname = "{b}"
queues = {queues}

[[networks]]
name = "net"
tenant = "t"
vni = 100
cidr = "10.92.0.0/24"

[[logical_ports]]
name = "lp-a"
network = "net"
mac = "{MAC_A}"
ip = "{IP_A}"
port = "a"

[[logical_ports]]
name = "lp-b"
network = "net"
mac = "{MAC_B}"
ip = "{IP_B}"
port = "b"
"#,
            a = self.a.host,
            b = self.b.host,
        );
        let path = dir.join("topology.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Pings from a to b until three in a row come back (the daemon may still be
/// starting), within ten seconds.
fn ping_through(hosts: &TwoHosts) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = hosts
            .a
            .ns
            .command("busybox")
            .args(["ping", "-c", "3", "-i", "0.2", "-W", "1", IP_B])
            .output()
            .unwrap();
        if output.status.success() {
            let text = String::from_utf8_lossy(&output.stdout);
            assert!(text.contains("3 packets received"), "{text}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "ping {IP_B} from {IP_A} never came through: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

/// UDP datagrams of every size up to the MTU, each arriving whole.
fn udp_through(hosts: &TwoHosts) {
    let receiver = hosts.b.ns.enter(|| UdpSocket::bind((IP_B, 5001)).unwrap());
    receiver
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let sender = hosts.a.ns.enter(|| UdpSocket::bind((IP_A, 0)).unwrap());
    let mut buf = vec![0u8; 2048];
    for size in [1usize, 18, 512, 1000, 1472] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
        sender.send_to(&payload, (IP_B, 5001)).unwrap();
        let (len, from) = receiver.recv_from(&mut buf).unwrap();
        assert_eq!(from.ip().to_string(), IP_A);
        assert_eq!(&buf[..len], &payload[..], "{size}-byte datagram");
    }
}

/// A TCP connection from a to b carrying `bytes` one way and an echo of its digest
/// back.
fn tcp_through(hosts: &TwoHosts, bytes: usize) {
    let listener = hosts
        .b
        .ns
        .enter(|| TcpListener::bind((IP_B, 5002)).unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut sum = 0u64;
        let mut total = 0usize;
        let mut buf = vec![0u8; 65536];
        loop {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            sum = buf[..n]
                .iter()
                .fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
        }
        stream.write_all(&sum.to_be_bytes()).unwrap();
        total
    });
    let mut stream = hosts.a.ns.enter(|| {
        TcpStream::connect_timeout(
            &(IP_B.parse::<std::net::IpAddr>().unwrap(), 5002).into(),
            Duration::from_secs(5),
        )
        .unwrap()
    });
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let data: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    stream.write_all(&data).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut digest = [0u8; 8];
    stream.read_exact(&mut digest).unwrap();
    let want = data
        .iter()
        .fold(0u64, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
    assert_eq!(u64::from_be_bytes(digest), want, "the bytes arrived intact");
    assert_eq!(server.join().unwrap(), bytes);
}

/// Ping, UDP and TCP across a dataplane bridging two ports of `driver`, then the
/// report: both ports received and transmitted.
fn bridges(tag: &str, driver: &str, queues: u16, workers: u16) {
    let hosts = match driver {
        "tap" => TwoHosts::tap(tag),
        _ => TwoHosts::veth(tag, queues),
    };
    let work = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&hosts.topology(work.path(), driver, queues), workers);
    if driver == "tap" {
        hosts.adopt_taps();
    }
    ping_through(&hosts);
    udp_through(&hosts);
    tcp_through(&hosts, 4 << 20);
    let report = daemon.stop();
    for port in ["a", "b"] {
        let counters = &report["ports"][port];
        let (rx, tx) = (counters["rx"].as_u64(), counters["tx"].as_u64());
        assert!(
            rx > Some(100) && tx > Some(100),
            "port {port}: rx {rx:?} tx {tx:?}: {report}"
        );
        assert_eq!(counters["rx_errors"], 0, "{report}");
    }
}

/// `dataplane check` and `run` on a topology whose port names an interface the
/// driver cannot open: both refuse, naming the port, the field and the reason.
fn refuses(driver: &str, ifname: &str, reason: &str) {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("topology.toml");
    std::fs::write(
        &config,
        format!(
            "[node]\nname = \"n\"\n\n[[ports]]\nname = \"uplink\"\ndriver = \"{driver}\"\nifname = \"{ifname}\"\n"
        ),
    )
    .unwrap();
    for command in [&["check"][..], &["run", "--no-control"]] {
        let output = dataplane()
            .args(command)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{command:?}");
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(
            message.contains(&format!("ports \"uplink\": ifname: {reason}")),
            "{command:?}: {message}"
        );
    }
}

#[cfg(feature = "af-packet")]
mod af_packet {
    #[test]
    fn bridges_ping_udp_and_tcp() {
        super::bridges("kda", "af-packet", 1, 1);
    }

    #[test]
    fn bridges_over_several_queues_and_workers() {
        super::bridges("kdq", "af-packet", 2, 2);
    }

    #[test]
    fn refuses_a_missing_interface() {
        super::refuses("af-packet", "eth9nosuch", "no interface \"eth9nosuch\"");
    }

    #[test]
    fn refuses_an_interface_that_is_not_ethernet() {
        super::refuses("af-packet", "lo", "\"lo\" is not an Ethernet interface");
    }

    #[test]
    fn refuses_without_privileges() {
        super::refuses_without_privileges("af-packet");
    }
}

#[cfg(feature = "af-xdp")]
mod af_xdp {
    #[test]
    fn bridges_ping_udp_and_tcp() {
        super::bridges("kdx", "af-xdp", 1, 1);
    }

    #[test]
    fn bridges_over_several_queues_and_workers() {
        super::bridges("kdy", "af-xdp", 2, 2);
    }

    #[test]
    fn refuses_a_missing_interface() {
        super::refuses("af-xdp", "eth9nosuch", "no interface \"eth9nosuch\"");
    }

    #[test]
    fn refuses_without_privileges() {
        super::refuses_without_privileges("af-xdp");
    }

    #[test]
    fn the_contract_example_uplink_starts_as_written_where_eth1_exists() {
        super::example_uplink_starts();
    }
}

#[cfg(feature = "tap")]
mod tap {
    #[test]
    fn bridges_ping_udp_and_tcp() {
        super::bridges("kdt", "tap", 1, 1);
    }

    #[test]
    fn bridges_over_several_queues_and_workers() {
        super::bridges("kdu", "tap", 2, 2);
    }

    #[test]
    fn refuses_without_privileges() {
        super::refuses_without_privileges("tap");
    }

    #[test]
    fn refuses_an_interface_that_is_not_a_tap() {
        super::refuses("tap", "lo", "\"lo\" exists and is not a TAP interface");
    }
}

/// The contract example with its uplink as written (af-xdp on eth1), run in a
/// namespace that has an eth1 (a veth whose peer sends into it); its VM ports
/// (vhost-user) become pcap ports, as this test is about the uplink.
#[cfg(feature = "af-xdp")]
fn example_uplink_starts() {
    let ns = Netns::new("kde");
    ns.exec(&[
        "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p",
    ]);
    ns.exec(&["ethtool", "-K", "eth1p", "tx", "off"]);
    ns.exec(&["ip", "link", "set", "eth1", "up"]);
    ns.exec(&["ip", "addr", "add", "192.0.2.50/24", "dev", "eth1p"]);
    ns.exec(&["ip", "link", "set", "eth1p", "up"]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/topology-example.toml");
    let mut text = std::fs::read_to_string(example).unwrap();
    assert!(text.contains("driver = \"af-xdp\"\nifname = \"eth1\""));
    for port in ["vm1", "vm2", "fw1"] {
        let from = format!("driver = \"vhost-user\"\nsocket = \"/run/dataplane/{port}.sock\"");
        assert!(text.contains(&from), "example port {port} as expected");
        text = text.replace(&from, "driver = \"pcap\"");
    }
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("topology.toml");
    std::fs::write(&config, text).unwrap();
    let command = ns.command(env!("CARGO_BIN_EXE_dataplane"));
    let daemon = Daemon::start_with(command, &config, 1);
    // ARP requests from the peer reach the uplink once the daemon is up.
    let _ = ns
        .command("busybox")
        .args(["ping", "-c", "5", "-i", "0.2", "-W", "1", "192.0.2.11"])
        .output();
    let report = daemon.stop();
    let rx = report["ports"]["uplink"]["rx"].as_u64();
    assert!(rx > Some(0), "{report}");
}

/// `dataplane run` without the capabilities a port of `driver` needs, on an
/// interface that is there: refused at start, naming the port and the reason.
fn refuses_without_privileges(driver: &str) {
    let hosts = match driver {
        "tap" => TwoHosts::tap("kdp"),
        _ => TwoHosts::veth("kdp", 1),
    };
    let work = tempfile::tempdir().unwrap();
    let config = hosts.topology(work.path(), driver, 1);
    let output = std::process::Command::new("setpriv")
        .args(["--inh-caps=-all", "--bounding-set=-all"])
        .arg(env!("CARGO_BIN_EXE_dataplane"))
        .args(["run", "--no-control", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    let names = format!("ports \"a\": ifname: \"{}\": ", hosts.a.host);
    assert!(
        message.contains(&names) && message.contains("not permitted"),
        "{message}"
    );
}
