//! The AF_XDP port on one end of a veth pair (copy mode), a real kernel stack on
//! the other end in a namespace of the test: frames both ways, the XDP program
//! loaded with the port and removed with it, several queues, what is refused.

#![cfg(feature = "libxdp")]

use std::net::UdpSocket;

use packet::{Burst, Pool, PoolConfig};
use port::PortQueues;
use port_afxdp::{AfXdpConfig, AfXdpPort};
use port_netdev::testing::{self, run, UdpReceived, VethNs};

const PORT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xaa, 0x03];
const PORT_MAC_TEXT: &str = "02:00:00:00:aa:03";
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xbb, 0x03];
const PEER_MAC_TEXT: &str = "02:00:00:00:bb:03";

fn veth(tag: &str, queues: u16) -> VethNs {
    let link = VethNs::with_queues(tag, PEER_MAC_TEXT, "10.94.0.2", queues);
    link.neighbour("10.94.0.1", PORT_MAC_TEXT);
    link
}

fn config(ifname: &str, queues: u16) -> AfXdpConfig {
    AfXdpConfig {
        ifname: ifname.into(),
        queues,
        max_frame: 1518,
    }
}

/// A UDP socket in the namespace, bound to the peer's address.
fn peer_socket(link: &VethNs, port: u16) -> UdpSocket {
    link.ns.udp_socket("10.94.0.2", port)
}

/// The UDP frames to port 9000 the port received.
fn receive_udp(port: &mut PortQueues, pool: &mut Pool, want: usize) -> Vec<UdpReceived> {
    testing::receive_udp(port, pool, 7, 9000, want)
}

fn udp_frame(payload: &[u8]) -> Vec<u8> {
    let (from, to) = ([10, 94, 0, 1], [10, 94, 0, 2]);
    testing::udp_frame((PORT_MAC, from, 9000), (PEER_MAC, to, 7000), payload)
}

fn has_xdp_program(ifname: &str) -> bool {
    run(&["ip", "-d", "link", "show", "dev", ifname]).contains("prog/xdp")
}

#[test]
fn frames_cross_both_ways_and_the_program_goes_with_the_port() {
    let link = veth("kxa", 1);
    assert!(!has_xdp_program(&link.host));
    let mut pool = Pool::new(PoolConfig::default());
    let mut port = AfXdpPort::open(7, "uplink", &config(&link.host, 1)).unwrap();
    assert!(
        has_xdp_program(&link.host),
        "the redirect program is attached"
    );
    let socket = peer_socket(&link, 7000);
    for i in 0..5u8 {
        socket.send_to(&[i; 300], "10.94.0.1:9000").unwrap();
    }
    let got = receive_udp(&mut port, &mut pool, 5);
    let payloads: Vec<Vec<u8>> = got.into_iter().map(|(_, _, p)| p).collect();
    assert_eq!(payloads, (0..5u8).map(|i| vec![i; 300]).collect::<Vec<_>>());

    // More than the kernel sends per call, so several kicks are needed.
    let mut burst = Burst::with_capacity(100);
    for i in 0..100u8 {
        burst
            .push(pool.alloc_copy(&udp_frame(&[i; 40])).unwrap())
            .unwrap();
    }
    assert_eq!(port.tx[0].tx_burst(&mut burst, &mut pool).unwrap(), 100);
    let mut buf = [0u8; 2048];
    for i in 0..100u8 {
        let (len, from) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(from.to_string(), "10.94.0.1:9000");
        assert_eq!(&buf[..len], &[i; 40]);
    }
    assert_eq!(port.info.stats().tx().packets, 100);
    drop(port);
    assert!(
        !has_xdp_program(&link.host),
        "the program is removed with the port"
    );
}

#[test]
fn several_queues_receive_every_frame_once_and_keep_each_flow_on_one_queue() {
    let link = veth("kxq", 2);
    let mut pool = Pool::new(PoolConfig::default());
    let mut port = AfXdpPort::open(7, "uplink", &config(&link.host, 2)).unwrap();
    assert_eq!(port.rx.len(), 2);
    let sockets: Vec<UdpSocket> = (0..16).map(|i| peer_socket(&link, 7100 + i)).collect();
    for round in 0..10u8 {
        for socket in &sockets {
            socket.send_to(&[round; 32], "10.94.0.1:9000").unwrap();
        }
    }
    let got = receive_udp(&mut port, &mut pool, 160);
    assert_eq!(got.len(), 160, "every frame once");
    let used = testing::each_once_one_queue_per_flow(&got);
    assert_eq!(used.len(), 2, "16 flows spread over both queues: {used:?}");
}

#[test]
fn frames_larger_than_the_port_takes_are_receive_errors() {
    let link = veth("kxl", 1);
    link.set_mtu(3000);
    let mut pool = Pool::new(PoolConfig::default());
    let mut port = AfXdpPort::open(7, "uplink", &config(&link.host, 1)).unwrap();
    let socket = peer_socket(&link, 7000);
    socket.send_to(&[1; 2000], "10.94.0.1:9000").unwrap();
    socket.send_to(&[2; 1000], "10.94.0.1:9000").unwrap();
    let got = receive_udp(&mut port, &mut pool, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, vec![2; 1000]);
    assert_eq!(port.info.stats().rx().errors, 1);
}

#[test]
fn what_cannot_be_opened_is_refused_with_the_reason() {
    let error = AfXdpPort::open(0, "uplink", &config("kxnosuch0", 1))
        .err()
        .unwrap();
    assert_eq!(error.to_string(), "ifname: no interface \"kxnosuch0\"");
    let error = AfXdpPort::open(0, "uplink", &config("lo", 1))
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        "ifname: \"lo\" is not an Ethernet interface"
    );

    let link = veth("kxb", 1);
    let error = AfXdpPort::open(0, "uplink", &config(&link.host, 2))
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        format!("queues: 2, but \"{}\" has 1 receive queue(s)", link.host)
    );
    let _first = AfXdpPort::open(0, "uplink", &config(&link.host, 1)).unwrap();
    let error = AfXdpPort::open(1, "again", &config(&link.host, 1))
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .contains(&format!("ifname: \"{}\": queue 0: busy", link.host)),
        "{error}"
    );
}
