//! The AF_PACKET port on one end of a veth pair, a real kernel stack on the other
//! (in a namespace the test makes): frames both ways, fanout over several queues,
//! frames too large, link state, and what is refused at open.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use packet::{Burst, Pool, PoolConfig};
use port::PortQueues;
use port_afpacket::{AfPacketConfig, AfPacketPort};
use port_netdev::testing::{self, UdpReceived, VethNs};

const PORT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xaa, 0x01];
const PORT_MAC_TEXT: &str = "02:00:00:00:aa:01";
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xbb, 0x01];
const PEER_MAC_TEXT: &str = "02:00:00:00:bb:01";

fn veth(tag: &str) -> VethNs {
    let link = VethNs::new(tag, PEER_MAC_TEXT, "10.91.0.2");
    link.neighbour("10.91.0.1", PORT_MAC_TEXT);
    link
}

fn open(link: &VethNs, queues: u16, max_frame: u32) -> PortQueues {
    let config = AfPacketConfig {
        ifname: link.host.clone(),
        queues,
        max_frame,
    };
    AfPacketPort::open(3, "uplink", &config).unwrap()
}

/// A UDP socket in the namespace, bound to the peer's address.
fn peer_socket(link: &VethNs, port: u16) -> UdpSocket {
    link.ns.udp_socket("10.91.0.2", port)
}

/// The UDP frames to port `to` the port received, each with `rx_port` 3.
fn receive_udp(port: &mut PortQueues, pool: &mut Pool, to: u16, want: usize) -> Vec<UdpReceived> {
    testing::receive_udp(port, pool, 3, to, want)
}

fn udp_frame(source_port: u16, payload: &[u8]) -> Vec<u8> {
    let (from, to) = ([10, 91, 0, 1], [10, 91, 0, 2]);
    testing::udp_frame((PORT_MAC, from, source_port), (PEER_MAC, to, 7000), payload)
}

#[test]
fn frames_from_the_kernel_arrive_whole_and_frames_sent_reach_its_sockets() {
    let link = veth("kpa");
    let mut pool = Pool::new(PoolConfig::default());
    let mut port = open(&link, 1, 1518);
    let socket = peer_socket(&link, 7000);
    for i in 0..5u8 {
        socket.send_to(&[i; 100], "10.91.0.1:9000").unwrap();
    }
    let got = receive_udp(&mut port, &mut pool, 9000, 5);
    let payloads: Vec<Vec<u8>> = got.iter().map(|(_, _, p)| p.clone()).collect();
    assert_eq!(payloads, (0..5u8).map(|i| vec![i; 100]).collect::<Vec<_>>());
    assert!(port.info.stats().rx().packets >= 5);

    let mut burst = Burst::with_capacity(8);
    for i in 0..3u8 {
        burst
            .push(pool.alloc_copy(&udp_frame(9000, &[0x40 + i; 64])).unwrap())
            .unwrap();
    }
    assert_eq!(port.tx[0].tx_burst(&mut burst, &mut pool).unwrap(), 3);
    assert!(burst.is_empty());
    let mut buf = [0u8; 2048];
    for i in 0..3u8 {
        let (len, from) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(from.to_string(), "10.91.0.1:9000");
        assert_eq!(&buf[..len], &[0x40 + i; 64]);
    }
    assert_eq!(port.info.stats().tx().packets, 3);
    // What the port sent is not received back on its own queue.
    assert!(receive_udp(&mut port, &mut pool, 7000, 1).is_empty());
}

#[test]
fn frames_the_host_sends_on_the_interface_are_not_received() {
    let link = veth("kpo");
    let mut pool = Pool::new(PoolConfig::default());
    let mut port = open(&link, 1, 1518);
    let socket = peer_socket(&link, 7000);
    // Another program of this host sends on the interface, through the qdisc.
    let frame: String = udp_frame(9000, b"from the host")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let script = format!(
        "import socket; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); \
         s.bind(('{}', 0)); s.send(bytes.fromhex('{frame}'))",
        link.host
    );
    port_netdev::testing::run(&["python3", "-c", &script]);
    let mut buf = [0u8; 2048];
    let (len, _) = socket.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"from the host", "the frame went out");
    assert!(receive_udp(&mut port, &mut pool, 7000, 1).is_empty());
}

#[test]
fn several_queues_receive_every_frame_once_and_keep_each_flow_on_one_queue() {
    let link = veth("kpf");
    let mut pool = Pool::new(PoolConfig::default());
    let mut port = open(&link, 4, 1518);
    assert_eq!(port.rx.len(), 4);
    assert!(port.info.capabilities().hashes_flows);
    let sockets: Vec<UdpSocket> = (0..16).map(|i| peer_socket(&link, 7100 + i)).collect();
    for round in 0..10u8 {
        for socket in &sockets {
            socket.send_to(&[round; 32], "10.91.0.1:9000").unwrap();
        }
    }
    let got = receive_udp(&mut port, &mut pool, 9000, 160);
    assert_eq!(got.len(), 160, "every frame once");
    let used = testing::each_once_one_queue_per_flow(&got);
    assert!(
        used.len() > 1,
        "16 flows spread over more than one queue: {used:?}"
    );
    let per_queue = port.info.stats().rx_queues();
    assert_eq!(per_queue.len(), 4);
}

#[test]
fn frames_larger_than_the_port_takes_are_receive_errors() {
    let link = veth("kpl");
    link.set_mtu(4000);
    let mut pool = Pool::new(PoolConfig::default());
    let mut port = open(&link, 1, 1518);
    let socket = peer_socket(&link, 7000);
    socket.send_to(&[1; 3000], "10.91.0.1:9000").unwrap();
    socket.send_to(&[2; 1000], "10.91.0.1:9000").unwrap();
    let got = receive_udp(&mut port, &mut pool, 9000, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, vec![2; 1000]);
    assert_eq!(port.info.stats().rx().errors, 1);
}

#[test]
fn the_link_follows_the_interface() {
    let link = veth("kpk");
    let port = open(&link, 1, 1518);
    let up = |want: bool| {
        let deadline = Instant::now() + Duration::from_secs(3);
        while port.info.link().up != want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        port.info.link().up
    };
    assert!(up(true));
    assert_eq!(port.info.link().speed_mbps, 10_000);
    link.ns.exec(&["ip", "link", "set", &link.peer, "down"]);
    assert!(!up(false), "peer down: no carrier");
    link.ns.exec(&["ip", "link", "set", &link.peer, "up"]);
    assert!(up(true));
}

#[test]
fn what_cannot_be_opened_is_refused_with_the_reason() {
    let config = |ifname: &str| AfPacketConfig {
        ifname: ifname.into(),
        queues: 1,
        max_frame: 1518,
    };
    let error = AfPacketPort::open(0, "uplink", &config("kpnosuch0"))
        .err()
        .unwrap();
    assert_eq!(error.to_string(), "ifname: no interface \"kpnosuch0\"");
    let error = AfPacketPort::open(0, "uplink", &config("lo"))
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        "ifname: \"lo\" is not an Ethernet interface"
    );
}
