//! Whatever a VM sends, the services never panic, never write past the buffer, and
//! what they answer is a frame that parses: DHCP, neighbour discovery and routed
//! packets built well, then cut short or overwritten at random.

use std::net::Ipv6Addr;

use local_services::{serve, vm_request, Outcome, Request, ServiceTables, WorkerServices};
use packet::{MacAddr, Pool, PoolConfig};
use proptest::prelude::*;
use topology::Topology;

const TOPOLOGY: &str = r#"
[node]
name = "n"

[[ports]]
name = "vm"
driver = "pcap"

[[ports]]
name = "vm2"
driver = "pcap"

[[networks]]
name = "v4"
tenant = "t"
vni = 1
cidr = "10.0.0.0/24"
gateway_ip = "10.0.0.1"
dns_servers = ["10.0.0.2"]
domain = "t.example"
host_routes = [{ destination = "192.168.0.0/16", nexthop = "10.0.0.254" }]

[[networks]]
name = "v6"
tenant = "t"
vni = 2
cidr = "fd00::/64"
gateway_ip = "fd00::1"

[[routers]]
name = "r"
tenant = "t"
mac = "02:00:00:00:00:01"
networks = ["v4", "v6"]

[[logical_ports]]
name = "a"
network = "v4"
mac = "02:00:00:00:00:0a"
ip = "10.0.0.5"
port = "vm"
extra_dhcp_opts = [{ opt_name = "bootfile-name", opt_value = "x.efi" }]

[[logical_ports]]
name = "b"
network = "v6"
mac = "02:00:00:00:00:0b"
ip = "fd00::b"
port = "vm2"
"#;

fn link_local(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 2,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

fn tables() -> ServiceTables {
    let topology = Topology::from_toml_str(TOPOLOGY).unwrap();
    ServiceTables::build(&topology, link_local)
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4(protocol: u8, ttl: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0x0a, 0x08, 0x00];
    let total = (20 + payload.len()) as u16;
    let mut header = vec![0x45, 0, 0, 0, 0, 0, 0, 0, ttl, protocol, 0, 0];
    header[2..4].copy_from_slice(&total.to_be_bytes());
    header.extend_from_slice(&src);
    header.extend_from_slice(&dst);
    let sum = checksum(&header);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
    frame.extend_from_slice(&header);
    frame.extend_from_slice(payload);
    frame
}

/// A DISCOVER from port a, UDP checksum zero (none).
fn discover() -> Vec<u8> {
    let mut message = vec![0u8; 240];
    message[0] = 1;
    message[1] = 1;
    message[2] = 6;
    message[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    message[28..34].copy_from_slice(&[2, 0, 0, 0, 0, 0x0a]);
    message[236..240].copy_from_slice(&[0x63, 0x82, 0x53, 0x63]);
    message.extend_from_slice(&[53, 1, 1, 55, 3, 1, 3, 6, 255]);
    let mut udp = vec![0, 68, 0, 67];
    udp.extend_from_slice(&((8 + message.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&message);
    ipv4(17, 64, [0, 0, 0, 0], [255, 255, 255, 255], &udp)
}

/// A neighbour solicitation for the gateway from port b's link-local address.
fn solicitation() -> Vec<u8> {
    let src = link_local(MacAddr([2, 0, 0, 0, 0, 0x0b]));
    let dst: Ipv6Addr = "ff02::1:ff00:1".parse().unwrap();
    let target: Ipv6Addr = "fd00::1".parse().unwrap();
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 0x0b]);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(&icmp);
    let sum = checksum(&pseudo);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut frame = vec![0x33, 0x33, 0xff, 0, 0, 1, 2, 0, 0, 0, 0, 0x0b, 0x86, 0xdd];
    frame.extend_from_slice(&[0x60, 0, 0, 0]);
    frame.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    frame.extend_from_slice(&[58, 255]);
    frame.extend_from_slice(&src.octets());
    frame.extend_from_slice(&dst.octets());
    frame.extend_from_slice(&icmp);
    frame
}

/// Serves `frame` as from logical port `port` with `request` (or what the frame asks
/// by itself); an answer must parse and fit the buffer.
fn check(
    tables: &ServiceTables,
    pool: &mut Pool,
    frame: &[u8],
    port: usize,
    request: Option<Request>,
) -> Option<Outcome> {
    let mut packet = pool.alloc_copy(frame).ok()?;
    if packet.parse().is_err() {
        pool.free(packet);
        return None;
    }
    let request = request.or_else(|| vm_request(&packet.meta));
    let outcome = request.map(|request| {
        let mut worker = WorkerServices::default();
        let outcome = serve(tables, &mut worker, &mut packet, port, request);
        if let Outcome::Answered(answer) = outcome {
            assert!(packet.len() <= 1514, "{answer:?} of {} bytes", packet.len());
            packet
                .parse()
                .unwrap_or_else(|e| panic!("{answer:?} does not parse: {e:?}"));
        }
        outcome
    });
    pool.free(packet);
    outcome
}

/// `frame` with bytes from `at` on replaced by `bytes` (cut where they end when
/// `cut`), IPv4 and UDP lengths left as they were.
fn mangle(mut frame: Vec<u8>, at: usize, bytes: &[u8], cut: bool) -> Vec<u8> {
    let at = at.min(frame.len());
    for (i, b) in bytes.iter().enumerate() {
        match frame.get_mut(at + i) {
            Some(slot) => *slot = *b,
            None => frame.push(*b),
        }
    }
    if cut {
        frame.truncate(at + bytes.len());
    }
    frame
}

#[test]
fn the_well_formed_requests_are_answered() {
    let tables = tables();
    let mut pool = Pool::new(PoolConfig::default());
    assert!(matches!(
        check(&tables, &mut pool, &discover(), 0, None),
        Some(Outcome::Answered(local_services::Answer::DhcpOffer))
    ));
    assert!(matches!(
        check(&tables, &mut pool, &solicitation(), 1, None),
        Some(Outcome::Answered(
            local_services::Answer::NeighbourAdvertisement
        ))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn dhcp_never_panics(at in 14usize..400, bytes in proptest::collection::vec(any::<u8>(), 0..80), cut in any::<bool>()) {
        let tables = tables();
        let mut pool = Pool::new(PoolConfig::default());
        check(&tables, &mut pool, &mangle(discover(), at, &bytes, cut), 0, None);
    }

    #[test]
    fn neighbour_discovery_never_panics(at in 14usize..100, bytes in proptest::collection::vec(any::<u8>(), 0..40), cut in any::<bool>()) {
        let tables = tables();
        let mut pool = Pool::new(PoolConfig::default());
        check(&tables, &mut pool, &mangle(solicitation(), at, &bytes, cut), 1, None);
    }

    #[test]
    fn router_answers_never_panic(
        protocol in prop_oneof![Just(1u8), Just(17), Just(6), any::<u8>()],
        ttl in 0u8..3,
        payload in proptest::collection::vec(any::<u8>(), 0..1600),
        request in prop_oneof![Just(Request::ToRouter), Just(Request::TtlExpired), Just(Request::NoRoute), Just(Request::NoHost)],
    ) {
        let tables = tables();
        let mut pool = Pool::new(PoolConfig::default());
        let frame = ipv4(protocol, ttl, [10, 0, 0, 5], [10, 0, 0, 1], &payload);
        if let Some(Outcome::Answered(answer)) = check(&tables, &mut pool, &frame, 0, Some(request)) {
            let errors = [local_services::Answer::TimeExceeded, local_services::Answer::NetUnreachable, local_services::Answer::HostUnreachable, local_services::Answer::PortUnreachable];
            prop_assert!(answer == local_services::Answer::EchoReply || errors.contains(&answer));
        }
    }
}
