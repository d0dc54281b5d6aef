//! The AF_XDP port on one end of a veth pair (copy mode), a real kernel stack on
//! the other end in a namespace of the test: frames both ways, the XDP program
//! loaded with the port and removed with it, several queues, what is refused.

#![cfg(feature = "libxdp")]

use std::collections::{BTreeMap, BTreeSet};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use packet::{Burst, Pool, PoolConfig};
use port::PortQueues;
use port_afxdp::{AfXdpConfig, AfXdpPort};
use port_netdev::testing::{run, VethNs};

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

fn peer_socket(link: &VethNs, port: u16) -> UdpSocket {
    link.ns.enter(move || {
        let socket = UdpSocket::bind(("10.94.0.2", port)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        socket
    })
}

/// Polls every queue until `want` UDP frames to port 9000 arrived or two seconds
/// passed; (queue, source port, payload) of each.
fn receive_udp(port: &mut PortQueues, pool: &mut Pool, want: usize) -> Vec<(usize, u16, Vec<u8>)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while got.len() < want && Instant::now() < deadline {
        for (queue, rx) in port.rx.iter_mut().enumerate() {
            let mut burst = Burst::with_capacity(32);
            rx.rx_burst(pool, &mut burst, 32).unwrap();
            for packet in burst.drain() {
                assert_eq!(packet.rx_port, 7);
                if let Ok(headers) = etherparse::SlicedPacket::from_ethernet(packet.data()) {
                    if let Some(etherparse::TransportSlice::Udp(udp)) = headers.transport {
                        if udp.destination_port() == 9000 {
                            got.push((queue, udp.source_port(), udp.payload().to_vec()));
                        }
                    }
                }
                pool.free(packet);
            }
        }
    }
    got
}

fn udp_frame(payload: &[u8]) -> Vec<u8> {
    let builder = etherparse::PacketBuilder::ethernet2(PORT_MAC, PEER_MAC)
        .ipv4([10, 94, 0, 1], [10, 94, 0, 2], 64)
        .udp(9000, 7000);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).unwrap();
    frame
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
    let mut queues_of_flow: BTreeMap<u16, BTreeSet<usize>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (queue, source, payload) in &got {
        queues_of_flow.entry(*source).or_default().insert(*queue);
        assert!(seen.insert((*source, payload[0])), "received twice");
    }
    assert!(
        queues_of_flow.values().all(|q| q.len() == 1),
        "{queues_of_flow:?}"
    );
    let used: BTreeSet<usize> = queues_of_flow.values().flatten().copied().collect();
    assert_eq!(
        used.len(),
        2,
        "16 flows spread over both queues: {queues_of_flow:?}"
    );
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
