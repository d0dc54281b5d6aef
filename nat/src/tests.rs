//! Unit tests of the translation and tracking over real frames.

use std::net::Ipv4Addr;

use etherparse::{Icmpv4Type, PacketBuilder};
use packet::checksum::{pseudo_header_v4, verify_ipv4_header, verify_transport};
use packet::{parse, Packet, Pool, PoolConfig};

use super::*;

const EXT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 11);
const VM: [u8; 4] = [10, 0, 0, 5];
const SERVER: [u8; 4] = [198, 51, 100, 7];
const S: u64 = 1_000_000_000;

fn frame(src: [u8; 4], dst: [u8; 4], l4: &str, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let ip = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(src, dst, 64);
    let mut out = Vec::new();
    match l4 {
        "udp" => ip.udp(sport, dport).write(&mut out, b"payload").unwrap(),
        "tcp" => {
            let mut b = ip.tcp(sport, dport, 1000, 64240);
            if flags & tcp::SYN != 0 {
                b = b.syn();
            }
            if flags & tcp::ACK != 0 {
                b = b.ack(1);
            }
            if flags & tcp::FIN != 0 {
                b = b.fin();
            }
            if flags & tcp::RST != 0 {
                b = b.rst();
            }
            b.write(&mut out, b"data").unwrap()
        }
        "ping" => ip
            .icmpv4_echo_request(sport, 1)
            .write(&mut out, b"ping")
            .unwrap(),
        "pong" => ip
            .icmpv4_echo_reply(sport, 1)
            .write(&mut out, b"ping")
            .unwrap(),
        _ => unreachable!(),
    }
    out
}

fn packet(pool: &mut Pool, bytes: &[u8], at_s: u64) -> Packet {
    let mut p = pool.alloc_copy(bytes).unwrap();
    p.meta = parse(bytes).unwrap();
    p.timestamp_ns = at_s * S;
    p
}

fn nat(range: (u16, u16), max: u32, mapping: Mapping) -> Nat {
    Nat::new(NatConfig {
        port_range: range,
        max_connections: max,
        mapping,
        ..NatConfig::default()
    })
}

/// Parses the translated frame again: checks every checksum and returns it.
fn reparsed(p: &Packet) -> packet::Meta {
    let meta = parse(p.data()).expect("translated frame parses");
    let l3 = usize::from(meta.l3_offset);
    assert!(verify_ipv4_header(&p.data()[l3..l3 + 20]));
    let segment = &p.data()[usize::from(meta.l4_offset)..usize::from(meta.l3_end)];
    let flow = meta.flow;
    let (src, dst) = (ip(&flow.src), ip(&flow.dst));
    match meta.l4 {
        L4::Icmp => assert!(verify_transport(0, segment), "icmp checksum"),
        _ => {
            let pseudo = pseudo_header_v4(src, dst, flow.protocol, segment.len() as u16);
            assert!(verify_transport(pseudo, segment), "l4 checksum");
        }
    }
    assert_eq!(meta.flow, p.meta.flow, "meta follows the rewrite");
    meta
}

fn ip(bytes: &[u8; 16]) -> Ipv4Addr {
    Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])
}

#[test]
fn overlapping_tenants_get_distinct_ports_and_their_own_replies() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = nat((1024, 65535), 16, Mapping::default());
    let out = frame(VM, SERVER, "udp", 40000, 53, 0);
    let mut a = packet(&mut pool, &out, 1);
    let mut b = packet(&mut pool, &out, 1);
    nat.outbound(&mut a, 1, EXT).unwrap();
    nat.outbound(&mut b, 2, EXT).unwrap();
    let (ma, mb) = (reparsed(&a), reparsed(&b));
    assert_eq!(
        (ip(&ma.flow.src), ma.flow.src_port),
        (EXT, 40000),
        "port preserved"
    );
    assert_eq!(
        (ip(&mb.flow.src), mb.flow.src_port),
        (EXT, 40001),
        "next free port"
    );
    for (port, zone) in [(40001, 2), (40000, 1)] {
        let mut reply = packet(
            &mut pool,
            &frame(SERVER, EXT.octets(), "udp", 53, port, 0),
            2,
        );
        let inbound = nat.inbound(&mut reply).unwrap();
        assert_eq!(
            inbound,
            Inbound {
                zone,
                internal_ip: Ipv4Addr::from(VM)
            }
        );
        let m = reparsed(&reply);
        assert_eq!(
            (ip(&m.flow.dst), m.flow.dst_port),
            (Ipv4Addr::from(VM), 40000)
        );
    }
    assert_eq!(nat.connections(), 2);
}

#[test]
fn tcp_needs_a_syn_and_follows_the_handshake_and_teardown() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = nat((1024, 65535), 16, Mapping::default());
    let mut ack = packet(&mut pool, &frame(VM, SERVER, "tcp", 40000, 80, tcp::ACK), 0);
    assert_eq!(nat.outbound(&mut ack, 1, EXT), Err(NatError::TcpNotSyn));
    let steps = [
        (true, tcp::SYN),
        (false, tcp::SYN | tcp::ACK),
        (true, tcp::ACK),
        (true, tcp::FIN | tcp::ACK),
        (false, tcp::FIN | tcp::ACK),
        (true, tcp::ACK),
    ];
    for (outbound, flags) in steps {
        if outbound {
            let mut p = packet(&mut pool, &frame(VM, SERVER, "tcp", 40000, 80, flags), 1);
            nat.outbound(&mut p, 1, EXT).unwrap();
            reparsed(&p);
        } else {
            let mut p = packet(
                &mut pool,
                &frame(SERVER, EXT.octets(), "tcp", 80, 40000, flags),
                1,
            );
            nat.inbound(&mut p).unwrap();
            reparsed(&p);
        }
    }
    let key = ConnKey {
        zone: 1,
        src: u32::from_be_bytes(VM),
        dst: u32::from_be_bytes(SERVER),
        src_port: 40000,
        dst_port: 80,
        protocol: 6,
    };
    let conn = *nat.find(&key, S).unwrap();
    let ProtoState::Tcp(tcp) = conn.state else {
        panic!("not tcp: {:?}", conn.state)
    };
    assert_eq!(tcp.state, tcp::TcpState::TimeWait);
    assert_eq!(conn.expires_ns, S + 120 * S, "time_wait timeout");
    assert!(nat.find(&key, 121 * S).is_none(), "gone after time_wait");
}

#[test]
fn unsolicited_inbound_and_fragments_are_refused() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = nat((1024, 65535), 16, Mapping::default());
    let mut p = packet(
        &mut pool,
        &frame(SERVER, EXT.octets(), "udp", 53, 40000, 0),
        0,
    );
    assert_eq!(nat.inbound(&mut p), Err(NatError::NoConnection));
    let mut ping_in = packet(&mut pool, &frame(SERVER, EXT.octets(), "ping", 7, 7, 0), 0);
    assert_eq!(nat.inbound(&mut ping_in), Err(NatError::NoConnection));
    let mut bytes = frame(VM, SERVER, "udp", 40000, 53, 0);
    bytes[14 + 6] = 0x20; // more fragments
    let sum = packet::checksum::ipv4_header(&{
        let mut h = bytes[14..34].to_vec();
        h[10] = 0;
        h[11] = 0;
        h
    });
    bytes[24..26].copy_from_slice(&sum.to_be_bytes());
    let mut frag = packet(&mut pool, &bytes, 0);
    assert_eq!(nat.outbound(&mut frag, 1, EXT), Err(NatError::Fragment));
    assert_eq!(nat.connections(), 0);
}

#[test]
fn expired_connection_frees_its_port() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = nat((1024, 65535), 16, Mapping::default());
    let out = frame(VM, SERVER, "udp", 40000, 53, 0);
    nat.outbound(&mut packet(&mut pool, &out, 0), 1, EXT)
        .unwrap();
    let mut other = packet(&mut pool, &out, 29);
    nat.outbound(&mut other, 2, EXT).unwrap();
    assert_eq!(other.meta.flow.src_port, 40001, "first still live at 29 s");
    let mut late = packet(&mut pool, &out, 31);
    nat.outbound(&mut late, 3, EXT).unwrap();
    assert_eq!(
        late.meta.flow.src_port, 40000,
        "first expired after 30 s unreplied"
    );
}

#[test]
fn exhaustion_refuses_new_connections_and_keeps_live_ones() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = nat((5000, 5001), 16, Mapping::default());
    for zone in 0..2 {
        nat.outbound(
            &mut packet(&mut pool, &frame(VM, SERVER, "udp", 5000, 53, 0), 0),
            zone,
            EXT,
        )
        .unwrap();
    }
    let mut third = packet(&mut pool, &frame(VM, SERVER, "udp", 5000, 53, 0), 1);
    assert_eq!(
        nat.outbound(&mut third, 2, EXT),
        Err(NatError::PortsExhausted)
    );
    let mut reply = packet(
        &mut pool,
        &frame(SERVER, EXT.octets(), "udp", 53, 5001, 0),
        1,
    );
    assert_eq!(
        nat.inbound(&mut reply).unwrap().zone,
        1,
        "live connection kept"
    );

    let mut small = self::nat((1024, 65535), 1, Mapping::default());
    small
        .outbound(
            &mut packet(&mut pool, &frame(VM, SERVER, "udp", 1, 53, 0), 0),
            0,
            EXT,
        )
        .unwrap();
    let mut refused = packet(&mut pool, &frame(VM, SERVER, "udp", 2, 53, 0), 0);
    assert_eq!(
        small.outbound(&mut refused, 0, EXT),
        Err(NatError::TableFull)
    );
}

#[test]
fn out_of_slice_port_starts_at_port_modulo_slice_length() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = nat((1024, 1123), 16, Mapping::default());
    let mut p = packet(&mut pool, &frame(VM, SERVER, "udp", 80, 53, 0), 0);
    nat.outbound(&mut p, 0, EXT).unwrap();
    assert_eq!(p.meta.flow.src_port, 1024 + 80);
}

#[test]
fn mapping_modes_differ_in_port_reuse_towards_other_remotes() {
    let mut pool = Pool::new(PoolConfig::default());
    let other: [u8; 4] = [198, 51, 100, 8];
    for (mapping, second_port) in [
        (Mapping::AddressAndPortDependent, 40000),
        (Mapping::EndpointIndependent, 40001),
    ] {
        let mut nat = nat((1024, 65535), 16, mapping);
        nat.outbound(
            &mut packet(&mut pool, &frame(VM, SERVER, "udp", 40000, 53, 0), 0),
            1,
            EXT,
        )
        .unwrap();
        // The same endpoint towards another remote keeps its port in both modes.
        let mut same = packet(&mut pool, &frame(VM, other, "udp", 40000, 53, 0), 0);
        nat.outbound(&mut same, 1, EXT).unwrap();
        assert_eq!(same.meta.flow.src_port, 40000, "{mapping:?}");
        // Another tenant's endpoint with that port, towards another remote.
        let mut second = packet(&mut pool, &frame(VM, other, "udp", 40000, 54, 0), 0);
        nat.outbound(&mut second, 2, EXT).unwrap();
        assert_eq!(second.meta.flow.src_port, second_port, "{mapping:?}");
    }
}

#[test]
fn eim_port_is_released_when_its_connections_expire() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = nat((5000, 5000), 16, Mapping::EndpointIndependent);
    nat.outbound(
        &mut packet(&mut pool, &frame(VM, SERVER, "udp", 5000, 53, 0), 0),
        1,
        EXT,
    )
    .unwrap();
    let mut refused = packet(&mut pool, &frame(VM, SERVER, "udp", 5000, 53, 0), 1);
    assert_eq!(
        nat.outbound(&mut refused, 2, EXT),
        Err(NatError::PortsExhausted)
    );
    nat.sweep(31 * S);
    let mut later = packet(&mut pool, &frame(VM, SERVER, "udp", 5000, 53, 0), 31);
    nat.outbound(&mut later, 2, EXT).unwrap();
    assert_eq!(later.meta.flow.src_port, 5000);
}

#[test]
fn icmp_echo_identifier_is_translated_both_ways() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = nat((1024, 65535), 16, Mapping::default());
    for zone in [1, 2] {
        let mut p = packet(&mut pool, &frame(VM, SERVER, "ping", 0x1234, 0, 0), 0);
        nat.outbound(&mut p, zone, EXT).unwrap();
        let m = reparsed(&p);
        assert_eq!(m.flow.src_port, 0x1234 + zone as u16 - 1);
    }
    let mut reply = packet(
        &mut pool,
        &frame(SERVER, EXT.octets(), "pong", 0x1235, 0, 0),
        0,
    );
    assert_eq!(nat.inbound(&mut reply).unwrap().zone, 2);
    assert_eq!(reparsed(&reply).flow.dst_port, 0x1234);
}

/// An ICMP error from `from` to `to` quoting `quoted` (an IPv4 packet).
fn icmp_error(from: [u8; 4], to: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(from, to, 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ))
        .write(&mut out, quoted)
        .unwrap();
    out
}

#[test]
fn icmp_errors_are_translated_with_the_quoted_packet() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = nat((1024, 65535), 16, Mapping::default());
    nat.outbound(
        &mut packet(&mut pool, &frame(VM, SERVER, "udp", 40000, 53, 0), 0),
        1,
        EXT,
    )
    .unwrap();
    let mut out = packet(&mut pool, &frame(VM, SERVER, "udp", 40000, 53, 0), 0);
    nat.outbound(&mut out, 2, EXT).unwrap(); // 40001
    let sent = out.data()[14..].to_vec();
    let mut error = packet(&mut pool, &icmp_error(SERVER, EXT.octets(), &sent), 1);
    let inbound = nat.inbound(&mut error).unwrap();
    assert_eq!(inbound.zone, 2);
    reparsed(&error);
    // The quote is now exactly what the tenant sent, checksums included.
    let original = frame(VM, SERVER, "udp", 40000, 53, 0);
    assert_eq!(&error.data()[14 + 28..], &original[14..]);
    assert_eq!(&error.data()[14 + 16..14 + 20], &VM);

    // A tenant's error about a reply it got goes out translated the other way.
    let reply_seen = frame(SERVER, VM, "udp", 53, 40000, 0);
    let mut tenant_error = packet(&mut pool, &icmp_error(VM, SERVER, &reply_seen[14..]), 2);
    nat.outbound(&mut tenant_error, 2, EXT).unwrap();
    reparsed(&tenant_error);
    let reply_sent = frame(SERVER, EXT.octets(), "udp", 53, 40001, 0);
    assert_eq!(&tenant_error.data()[14 + 28..], &reply_sent[14..]);

    // An error quoting nothing we sent is refused.
    let stray = frame(EXT.octets(), SERVER, "udp", 999, 53, 0);
    let mut e = packet(
        &mut pool,
        &icmp_error(SERVER, EXT.octets(), &stray[14..]),
        1,
    );
    assert_eq!(nat.inbound(&mut e), Err(NatError::NoConnection));
}

#[test]
fn a_worker_preserves_only_ports_of_its_own_slice() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = Nat::new(NatConfig {
        port_range: (1024, 2047),
        workers: 2,
        worker: 1,
        ..NatConfig::default()
    });
    assert_eq!(nat.slice(), (1536, 2047));
    let mut own = packet(&mut pool, &frame(VM, SERVER, "udp", 1600, 53, 0), 0);
    nat.outbound(&mut own, 1, EXT).unwrap();
    assert_eq!(own.meta.flow.src_port, 1600);
    let mut other = packet(&mut pool, &frame(VM, SERVER, "udp", 1100, 53, 0), 0);
    nat.outbound(&mut other, 1, EXT).unwrap();
    assert_eq!(other.meta.flow.src_port, 1536 + 1100 % 512);
    let slices = PortSlices::new((1024, 2047), 2);
    assert_eq!(
        slices.owner(other.meta.flow.src_port),
        Some(1),
        "the reply finds its worker"
    );
}

#[test]
fn a_connection_counts_its_packets_and_ip_bytes_both_ways() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = nat((1024, 65535), 16, Mapping::default());
    // 20 bytes of IPv4 header, 8 of UDP, 7 of payload.
    let out = frame(VM, SERVER, "udp", 40000, 53, 0);
    for _ in 0..2 {
        let mut p = packet(&mut pool, &out, 1);
        nat.outbound(&mut p, 1, EXT).unwrap();
    }
    let mut reply = packet(
        &mut pool,
        &frame(SERVER, EXT.octets(), "udp", 53, 40000, 0),
        2,
    );
    nat.inbound(&mut reply).unwrap();
    let conn = nat.iter().next().unwrap();
    assert_eq!((conn.packets, conn.bytes), (3, 3 * 35));
}

#[test]
fn removed_connections_free_their_ports_and_keys() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = nat((40000, 40000), 16, Mapping::EndpointIndependent);
    let mut first = packet(&mut pool, &frame(VM, SERVER, "udp", 40000, 53, 0), 1);
    nat.outbound(&mut first, 1, EXT).unwrap();
    let mut other = packet(&mut pool, &frame(VM, SERVER, "udp", 40001, 53, 0), 1);
    assert_eq!(
        nat.outbound(&mut other, 1, EXT),
        Err(NatError::PortsExhausted)
    );
    assert_eq!(nat.remove_if(|c| c.original.src_port == 40001), 0);
    assert_eq!(nat.remove_if(|c| c.original.src_port == 40000), 1);
    assert_eq!(nat.connections(), 0);
    let mut reply = packet(
        &mut pool,
        &frame(SERVER, EXT.octets(), "udp", 53, 40000, 0),
        1,
    );
    assert_eq!(nat.inbound(&mut reply), Err(NatError::NoConnection));
    let mut other = packet(&mut pool, &frame(VM, SERVER, "udp", 40001, 53, 0), 1);
    nat.outbound(&mut other, 1, EXT).unwrap();
}

#[test]
fn tenants_clashing_on_one_port_take_the_next_few_then_spread_out() {
    let mut pool = Pool::new(PoolConfig::default());
    let mut nat = nat((1024, 65535), 64, Mapping::default());
    let mut ports = Vec::new();
    for host in 0..20u8 {
        let out = frame([10, 0, 1, host], SERVER, "udp", 40000, 53, 0);
        let mut p = packet(&mut pool, &out, 1);
        nat.outbound(&mut p, 1, EXT).unwrap();
        ports.push(reparsed(&p).flow.src_port);
    }
    let unique: std::collections::HashSet<_> = ports.iter().collect();
    assert_eq!(unique.len(), ports.len(), "every connection its own port");
    assert_eq!(
        ports[..8],
        (40000..40008).collect::<Vec<u16>>(),
        "the preferred port, then the next free ones"
    );
    // Walking on from the run would give 40008, 40009, ...: each newcomer would
    // probe every port the earlier ones took.
    let consecutive = ports[8..]
        .iter()
        .zip(40008..)
        .filter(|(port, next)| **port == *next)
        .count();
    assert!(
        consecutive < 3,
        "past the first few, clashing connections spread over the range: {ports:?}"
    );
}
