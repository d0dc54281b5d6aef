//! The TAP port creates its interface; the test moves it into a namespace of its
//! own, where a real kernel stack sends and receives through it.

use std::net::UdpSocket;

use packet::{Burst, Pool, PoolConfig};
use port::PortQueues;
use port_netdev::testing::{self, unique_name, Netns, UdpReceived};
use port_tap::{TapConfig, TapPort};

const PORT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xaa, 0x02];
const PORT_MAC_TEXT: &str = "02:00:00:00:aa:02";
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xbb, 0x02];
const PEER_MAC_TEXT: &str = "02:00:00:00:bb:02";

/// A TAP port of `queues` queues whose interface is in a new namespace, as
/// 10.93.0.2 (the port's side is 10.93.0.1, a static neighbour there).
fn tap_in_namespace(tag: &str, queues: u16, max_frame: u32) -> (Netns, PortQueues) {
    let ifname = unique_name(tag);
    let config = TapConfig {
        ifname: ifname.clone(),
        queues,
        max_frame,
    };
    let port = TapPort::open(5, "vm1", &config).unwrap();
    let ns = Netns::new(tag);
    ns.adopt(&ifname, PEER_MAC_TEXT, "10.93.0.2");
    ns.neighbour(&ifname, "10.93.0.1", PORT_MAC_TEXT);
    (ns, port)
}

/// A UDP socket in the namespace, bound to the peer's address.
fn peer_socket(ns: &Netns, port: u16) -> UdpSocket {
    ns.udp_socket("10.93.0.2", port)
}

/// The UDP frames to port 9000 the port received.
fn receive_udp(port: &mut PortQueues, pool: &mut Pool, want: usize) -> Vec<UdpReceived> {
    testing::receive_udp(port, pool, 5, 9000, want)
}

fn udp_frame(payload: &[u8]) -> Vec<u8> {
    let (from, to) = ([10, 93, 0, 1], [10, 93, 0, 2]);
    testing::udp_frame((PORT_MAC, from, 9000), (PEER_MAC, to, 7000), payload)
}

#[test]
fn frames_cross_the_tap_both_ways() {
    let (ns, mut port) = tap_in_namespace("kta", 1, 1518);
    let mut pool = Pool::new(PoolConfig::default());
    let socket = peer_socket(&ns, 7000);
    for i in 0..5u8 {
        socket.send_to(&[i; 200], "10.93.0.1:9000").unwrap();
    }
    let got = receive_udp(&mut port, &mut pool, 5);
    let payloads: Vec<Vec<u8>> = got.into_iter().map(|(_, _, p)| p).collect();
    assert_eq!(payloads, (0..5u8).map(|i| vec![i; 200]).collect::<Vec<_>>());

    let mut burst = Burst::with_capacity(8);
    for i in 0..3u8 {
        burst
            .push(pool.alloc_copy(&udp_frame(&[0x60 + i; 80])).unwrap())
            .unwrap();
    }
    assert_eq!(port.tx[0].tx_burst(&mut burst, &mut pool).unwrap(), 3);
    let mut buf = [0u8; 2048];
    for i in 0..3u8 {
        let (len, from) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(from.to_string(), "10.93.0.1:9000");
        assert_eq!(&buf[..len], &[0x60 + i; 80]);
    }
    let stats = port.info.stats();
    assert_eq!(stats.tx().packets, 3);
    assert!(stats.rx().packets >= 5);
}

#[test]
fn several_queues_receive_every_frame_once_and_keep_each_flow_on_one_queue() {
    let (ns, mut port) = tap_in_namespace("ktq", 4, 1518);
    let mut pool = Pool::new(PoolConfig::default());
    let sockets: Vec<UdpSocket> = (0..16).map(|i| peer_socket(&ns, 7100 + i)).collect();
    for round in 0..10u8 {
        for socket in &sockets {
            socket.send_to(&[round; 32], "10.93.0.1:9000").unwrap();
        }
    }
    let got = receive_udp(&mut port, &mut pool, 160);
    assert_eq!(got.len(), 160, "every frame once");
    let used = testing::each_once_one_queue_per_flow(&got);
    assert!(
        used.len() > 1,
        "16 flows spread over more than one queue: {used:?}"
    );
}

#[test]
fn frames_larger_than_the_port_takes_are_receive_errors() {
    let (ns, mut port) = tap_in_namespace("ktl", 1, 1518);
    let mut pool = Pool::new(PoolConfig::default());
    let ifname = ns.exec(&["ls", "/sys/class/net"]);
    let tap = ifname
        .split_whitespace()
        .find(|n| *n != "lo")
        .unwrap()
        .to_owned();
    ns.exec(&["ip", "link", "set", &tap, "mtu", "4000"]);
    let socket = peer_socket(&ns, 7000);
    socket.send_to(&[1; 3000], "10.93.0.1:9000").unwrap();
    socket.send_to(&[2; 1000], "10.93.0.1:9000").unwrap();
    let got = receive_udp(&mut port, &mut pool, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, vec![2; 1000]);
    assert_eq!(port.info.stats().rx().errors, 1);
}

#[test]
fn an_interface_that_is_not_a_tap_is_refused() {
    let config = TapConfig {
        ifname: "lo".into(),
        queues: 1,
        max_frame: 1518,
    };
    let error = TapPort::check("lo").unwrap_err();
    assert_eq!(
        error.to_string(),
        "ifname: \"lo\" exists and is not a TAP interface"
    );
    let error = TapPort::open(0, "vm1", &config).err().unwrap();
    assert!(
        error
            .to_string()
            .starts_with("ifname: \"lo\" exists and is not a multi-queue TAP interface"),
        "{error}"
    );
}

#[test]
fn a_persistent_tap_is_attached_to_and_left_in_place() {
    let ifname = unique_name("ktp");
    port_netdev::testing::run(&[
        "ip",
        "tuntap",
        "add",
        "dev",
        &ifname,
        "mode",
        "tap",
        "multi_queue",
    ]);
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &self.0])
                .output();
        }
    }
    let _remove = Remove(ifname.clone());
    TapPort::check(&ifname).unwrap();
    let config = TapConfig {
        ifname: ifname.clone(),
        queues: 2,
        max_frame: 1518,
    };
    let port = TapPort::open(0, "vm1", &config).unwrap();
    assert!(port.info.link().up, "brought up, carrier while attached");
    drop(port);
    assert!(std::path::Path::new(&format!("/sys/class/net/{ifname}")).exists());
}

#[test]
fn a_tap_made_by_the_port_goes_with_it() {
    let ifname = unique_name("ktg");
    let config = TapConfig {
        ifname: ifname.clone(),
        queues: 1,
        max_frame: 1518,
    };
    let port = TapPort::open(0, "vm1", &config).unwrap();
    let sys = format!("/sys/class/net/{ifname}");
    assert!(std::path::Path::new(&sys).exists());
    drop(port);
    assert!(!std::path::Path::new(&sys).exists());
}
